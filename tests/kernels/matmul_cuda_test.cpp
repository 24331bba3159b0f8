// matmul / linear on CUDA against the CPU backend: f32 operands in every
// transpose and batch form, f16 / bf16 weights and GGUF block weights, on both
// the decode (few rows, direct weight reads) and the dequantise + GEMM paths.
#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include "core/half.h"
#include "core/tensor.h"
#include "kernels/cpu/row_dot.h"
#include "kernels/ops.h"
#include "tests/support/test_support.h"

namespace mmgen {
namespace {

Tensor gpu(const Tensor& t) { return t.to(Device::cuda()); }

void check_close(const Tensor& cuda_result, const Tensor& cpu_result, double rel_l2 = 1e-5) {
  REQUIRE(cuda_result.device().is_cuda());
  const test::Difference d = test::compare(cuda_result.cpu(), cpu_result);
  double scale = 0;
  for (float v : cpu_result.to_f32_vector()) scale = std::max(scale, std::fabs(double(v)));
  INFO("max_abs " << d.max_abs << " rel_l2 " << d.rel_l2 << " max |expected| " << scale);
  REQUIRE(d.rel_l2 <= rel_l2);
  REQUIRE(d.max_abs <= 1e-4 * std::max(scale, 1.0));
}

// Random K-quant blocks with sane f16 scales (random bytes elsewhere).
Tensor random_k_quant(DType type, int64_t rows, int64_t cols, uint64_t seed) {
  const int64_t blocks = rows * cols / 256;
  const size_t block = block_bytes(type);
  std::vector<uint8_t> bytes(blocks * block);
  std::mt19937_64 rng(seed);
  for (auto& b : bytes) b = static_cast<uint8_t>(rng());
  std::uniform_real_distribution<float> scale(0.001f, 0.02f);
  const auto put_f16 = [](uint8_t* p, float v) {
    const uint16_t h = f32_to_f16(v);
    p[0] = static_cast<uint8_t>(h & 0xff);
    p[1] = static_cast<uint8_t>(h >> 8);
  };
  for (int64_t i = 0; i < blocks; ++i) {
    uint8_t* p = bytes.data() + i * block;
    switch (type) {
      case DType::kQ2_K:
        put_f16(p + 80, scale(rng));
        put_f16(p + 82, scale(rng));
        break;
      case DType::kQ3_K:
        put_f16(p + 108, scale(rng));
        break;
      case DType::kQ4_K:
      case DType::kQ5_K:
        put_f16(p, scale(rng));
        put_f16(p + 2, scale(rng));
        break;
      case DType::kQ6_K:
        put_f16(p + 208, scale(rng));
        break;
      default:
        FAIL("not a K-quant type");
    }
  }
  return Tensor::from_data(bytes.data(), {rows, cols}, type);
}

TEST_CASE("cuda matmul matches the CPU for f32 operands", "[cuda][matmul]") {
  const Tensor a = test::random_tensor({37, 53}, 1);
  const Tensor b = test::random_tensor({53, 29}, 2);
  check_close(kernels::matmul(gpu(a), gpu(b)), kernels::matmul(a, b));

  SECTION("transposed operands") {
    const Tensor at = test::random_tensor({53, 37}, 3);
    const Tensor bt = test::random_tensor({29, 53}, 4);
    check_close(kernels::matmul(gpu(at), gpu(b), true, false), kernels::matmul(at, b, true, false));
    check_close(kernels::matmul(gpu(a), gpu(bt), false, true), kernels::matmul(a, bt, false, true));
    check_close(kernels::matmul(gpu(at), gpu(bt), true, true), kernels::matmul(at, bt, true, true));
  }
  SECTION("a batch against one matrix, and batch against batch") {
    const Tensor a3 = test::random_tensor({2, 3, 7, 41}, 5);
    const Tensor b2 = test::random_tensor({41, 19}, 6);
    check_close(kernels::matmul(gpu(a3), gpu(b2)), kernels::matmul(a3, b2));
    const Tensor b3 = test::random_tensor({2, 3, 41, 19}, 7);
    check_close(kernels::matmul(gpu(a3), gpu(b3)), kernels::matmul(a3, b3));
    const Tensor a3t = test::random_tensor({3, 41, 7}, 8);
    check_close(kernels::matmul(gpu(a3t), gpu(b2), true, false),
                kernels::matmul(a3t, b2, true, false));
  }
  SECTION("a single row (decode)") {
    const Tensor row = test::random_tensor({1, 53}, 9);
    check_close(kernels::matmul(gpu(row), gpu(b)), kernels::matmul(row, b));
  }
}

TEST_CASE("cuda matmul accepts non-contiguous views", "[cuda][matmul]") {
  const Tensor a = test::random_tensor({20, 31}, 10);
  const Tensor b = test::random_tensor({13, 31}, 11);
  // b^T as a strided view rather than the transpose flag
  check_close(kernels::matmul(gpu(a), gpu(b).transpose(0, 1)),
              kernels::matmul(a, b.transpose(0, 1)));
}

TEST_CASE("cuda linear matches the CPU with f32, f16 and bf16 weights", "[cuda][matmul]") {
  const Tensor bias = test::random_tensor({45}, 20);
  for (DType type : {DType::kF32, DType::kF16, DType::kBF16}) {
    for (int64_t k : {64, 37}) {  // 37: no 16-byte vector loads
      const Tensor weight = test::random_tensor({45, k}, 21 + k).to(type);
      for (int64_t rows : {1, 3, 8, 9, 40}) {
        DYNAMIC_SECTION(dtype_name(type) << " k " << k << " rows " << rows) {
          const Tensor x = test::random_tensor({rows, k}, 22);
          check_close(kernels::linear(gpu(x), gpu(weight), gpu(bias)),
                      kernels::linear(x, weight, bias));
          check_close(kernels::linear(gpu(x), gpu(weight)), kernels::linear(x, weight));
        }
      }
    }
  }
}

TEST_CASE("cuda matmul converts a non-transposed f16 right operand", "[cuda][matmul]") {
  const Tensor a = test::random_tensor({2, 9, 24}, 30);
  const Tensor b = test::random_tensor({24, 11}, 31).to(DType::kF16);
  check_close(kernels::matmul(gpu(a), gpu(b)), kernels::matmul(a, b));
}

TEST_CASE("cuda linear matches the CPU with 32-element block weights", "[cuda][matmul][quant]") {
  for (DType type : {DType::kQ4_0, DType::kQ4_1, DType::kQ5_0, DType::kQ5_1, DType::kQ8_0}) {
    const Tensor weight = test::random_tensor({67, 96}, 40).to(type);
    for (int64_t rows : {1, 5, 17}) {
      DYNAMIC_SECTION(dtype_name(type) << " rows " << rows) {
        const Tensor x = test::random_tensor({rows, 96}, 41 + rows);
        // The CPU's one-row Q8_0 product rounds x to int8 (kernels/cpu/row_dot.h); the
        // same weights dequantised give the exact product the CUDA kernel computes.
        const bool int8_row = rows == 1 && kernels::cpu::has_int8_activation_dot(type);
        check_close(kernels::linear(gpu(x), gpu(weight)),
                    kernels::linear(x, int8_row ? weight.to(DType::kF32) : weight));
      }
    }
  }
}

TEST_CASE("cuda linear matches the CPU with K-quant weights", "[cuda][matmul][quant]") {
  for (DType type : {DType::kQ2_K, DType::kQ3_K, DType::kQ4_K, DType::kQ5_K, DType::kQ6_K}) {
    const Tensor weight = random_k_quant(type, 21, 512, 50);
    for (int64_t rows : {1, 2, 16}) {
      DYNAMIC_SECTION(dtype_name(type) << " rows " << rows) {
        const Tensor x = test::random_tensor({rows, 512}, 51 + rows);
        check_close(kernels::linear(gpu(x), gpu(weight)), kernels::linear(x, weight));
      }
    }
  }
}

TEST_CASE("cuda block weights decode like the CPU", "[cuda][quant]") {
  // embedding() of every row is the full dequantisation. Both backends do the
  // same f32 operations; only a fused multiply-add in the host build can move a
  // value by an ulp.
  std::vector<int64_t> all(12);
  for (int64_t i = 0; i < 12; ++i) all[i] = 11 - i;
  const Tensor ids = Tensor::from_vector(all, {12});
  std::vector<Tensor> weights;
  for (DType type : {DType::kQ4_0, DType::kQ4_1, DType::kQ5_0, DType::kQ5_1, DType::kQ8_0})
    weights.push_back(test::random_tensor({12, 256}, 60).to(type));
  for (DType type : {DType::kQ2_K, DType::kQ3_K, DType::kQ4_K, DType::kQ5_K, DType::kQ6_K})
    weights.push_back(random_k_quant(type, 12, 256, 61));
  for (const Tensor& w : weights) {
    DYNAMIC_SECTION(dtype_name(w.dtype())) {
      const Tensor expected = kernels::embedding(w, ids);
      const Tensor actual = kernels::embedding(gpu(w), gpu(ids)).cpu();
      double scale = 0;
      for (float v : expected.to_f32_vector()) scale = std::max(scale, std::fabs(double(v)));
      REQUIRE(scale > 0);
      REQUIRE(test::compare(actual, expected).max_abs <= 1e-6 * scale);
    }
  }
}

}  // namespace
}  // namespace mmgen
