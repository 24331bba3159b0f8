// Positions, embeddings, layout ops, casts and argmax on CUDA against the CPU.
#include <catch2/catch.hpp>
#include <cstdint>
#include <cstring>
#include <limits>
#include <vector>

#include "core/tensor.h"
#include "kernels/ops.h"
#include "tests/support/test_support.h"

namespace mmgen {
namespace {

Tensor gpu(const Tensor& t) { return t.defined() ? t.to(Device::cuda()) : t; }

void check_close(const Tensor& cuda_result, const Tensor& cpu_result, double max_abs = 1e-5) {
  REQUIRE(cuda_result.device().is_cuda());
  REQUIRE(cuda_result.shape() == cpu_result.shape());
  REQUIRE(cuda_result.dtype() == cpu_result.dtype());
  const test::Difference d = test::compare(cuda_result.cpu(), cpu_result);
  INFO("max_abs " << d.max_abs << " rel_l2 " << d.rel_l2);
  REQUIRE(d.max_abs <= max_abs);
}

void check_equal(const Tensor& cuda_result, const Tensor& cpu_result) {
  check_close(cuda_result, cpu_result, 0.0);
}

// Equal bit patterns: infinities and signed zeros included.
void check_same_bits(const Tensor& cuda_result, const Tensor& cpu_result) {
  REQUIRE(cuda_result.device().is_cuda());
  REQUIRE(cuda_result.shape() == cpu_result.shape());
  REQUIRE(cuda_result.dtype() == cpu_result.dtype());
  const Tensor back = cuda_result.cpu().contiguous();
  const Tensor expected = cpu_result.contiguous();
  REQUIRE(back.nbytes() == expected.nbytes());
  REQUIRE(std::memcmp(back.data(), expected.data(), back.nbytes()) == 0);
}

TEST_CASE("cuda rope matches the CPU in both conventions", "[cuda][rope]") {
  const Tensor x = test::random_tensor({2, 7, 3, 20}, 1);
  const Tensor positions = Tensor::from_vector(std::vector<int64_t>{5, 6, 7, 8, 9, 40, 100}, {7});
  for (auto style : {kernels::RopeStyle::kRotateHalf, kernels::RopeStyle::kInterleaved}) {
    DYNAMIC_SECTION("style " << static_cast<int>(style)) {
      kernels::RopeParams p;
      p.style = style;
      check_close(kernels::rope(gpu(x), gpu(positions), p), kernels::rope(x, positions, p), 1e-5);
      // partial rotation with explicit inverse frequencies; the tail is copied
      p.rotary_dims = 12;
      p.inv_freq = test::random_tensor({6}, 2, 0.01f, 1.0f);
      const Tensor expected = kernels::rope(x, positions, p);
      p.inv_freq = gpu(p.inv_freq);
      check_close(kernels::rope(gpu(x), gpu(positions), p), expected, 1e-5);
    }
  }
  SECTION("i32 positions") {
    const Tensor pos32 = Tensor::from_vector(std::vector<int32_t>{0, 1, 2, 3, 4, 5, 6}, {7});
    kernels::RopeParams p;
    p.theta = 500000.0f;
    check_close(kernels::rope(gpu(x), gpu(pos32), p), kernels::rope(x, pos32, p), 1e-5);
  }
}

TEST_CASE("cuda embedding gathers f32, f16 and bf16 rows", "[cuda][embedding]") {
  const Tensor ids = Tensor::from_vector(std::vector<int64_t>{3, 0, 9, 3, 5, 1}, {2, 3});
  for (DType type : {DType::kF32, DType::kF16, DType::kBF16}) {
    const Tensor weight = test::random_tensor({10, 13}, 10).to(type);
    DYNAMIC_SECTION(dtype_name(type)) {
      const Tensor out = kernels::embedding(gpu(weight), gpu(ids));
      REQUIRE(out.shape() == Shape{2, 3, 13});
      check_equal(out, kernels::embedding(weight, ids));
    }
  }
  SECTION("i32 ids") {
    const Tensor weight = test::random_tensor({10, 13}, 11);
    const Tensor ids32 = Tensor::from_vector(std::vector<int32_t>{9, 8, 0}, {3});
    check_equal(kernels::embedding(gpu(weight), gpu(ids32)), kernels::embedding(weight, ids32));
  }
}

TEST_CASE("cuda timestep_embedding matches the CPU", "[cuda][embedding]") {
  const Tensor t = Tensor::from_vector(std::vector<float>{0.0f, 1.0f, 17.5f, 999.0f}, {4});
  check_close(kernels::timestep_embedding(gpu(t), 320), kernels::timestep_embedding(t, 320), 1e-6);
  check_close(kernels::timestep_embedding(gpu(t), 33, 10000.0f, false, 1.0f),
              kernels::timestep_embedding(t, 33, 10000.0f, false, 1.0f), 1e-6);
  // the odd dim's last column is zero
  const auto odd = kernels::timestep_embedding(gpu(t), 33).cpu().to_f32_vector();
  for (int r = 0; r < 4; ++r) REQUIRE(odd[r * 33 + 32] == 0.0f);
}

TEST_CASE("cuda upsample_nearest2d matches the CPU", "[cuda][layout]") {
  const Tensor x = test::random_tensor({2, 3, 5, 7}, 20);
  check_equal(kernels::upsample_nearest2d(gpu(x), 2), kernels::upsample_nearest2d(x, 2));
  check_equal(kernels::upsample_nearest2d(gpu(x), 3), kernels::upsample_nearest2d(x, 3));
}

TEST_CASE("cuda concat matches the CPU along every dim", "[cuda][layout]") {
  for (int dim : {0, 1, 2, -1}) {
    DYNAMIC_SECTION("dim " << dim) {
      Shape a = {2, 3, 4}, b = a, c = a;
      const int d = dim < 0 ? dim + 3 : dim;
      b[d] = 1;
      c[d] = 5;
      const Tensor ta = test::random_tensor(a, 30), tb = test::random_tensor(b, 31),
                   tc = test::random_tensor(c, 32);
      check_equal(kernels::concat({gpu(ta), gpu(tb), gpu(tc)}, dim),
                  kernels::concat({ta, tb, tc}, dim));
    }
  }
  SECTION("f16 tensors and strided inputs") {
    const Tensor a = test::random_tensor({4, 6}, 33).to(DType::kF16);
    const Tensor b = test::random_tensor({6, 4}, 34).to(DType::kF16);
    check_equal(kernels::concat({gpu(a), gpu(b).transpose(0, 1)}, 0),
                kernels::concat({a, b.transpose(0, 1)}, 0));
  }
}

TEST_CASE("cuda contiguous, permute and split gather strided views", "[cuda][layout]") {
  const Tensor x = test::random_tensor({3, 4, 5, 6}, 40);
  const Tensor dx = gpu(x);
  check_equal(kernels::permute(dx, {2, 0, 3, 1}), kernels::permute(x, {2, 0, 3, 1}));
  check_equal(kernels::contiguous(dx.narrow(2, 1, 3).transpose(1, 3)),
              kernels::contiguous(x.narrow(2, 1, 3).transpose(1, 3)));
  const auto pieces = kernels::split(dx, {1, 3, 2}, 3);
  const auto host_pieces = kernels::split(x, {1, 3, 2}, 3);
  REQUIRE(pieces.size() == 3);
  for (size_t i = 0; i < pieces.size(); ++i)
    check_equal(kernels::contiguous(pieces[i]), kernels::contiguous(host_pieces[i]));
  SECTION("other element sizes") {
    const Tensor ids = Tensor::from_vector(std::vector<int64_t>{1, 2, 3, 4, 5, 6}, {2, 3});
    check_equal(kernels::contiguous(gpu(ids).transpose(0, 1)),
                kernels::contiguous(ids.transpose(0, 1)));
    const Tensor h = test::random_tensor({5, 7}, 41).to(DType::kBF16);
    check_equal(kernels::contiguous(gpu(h).transpose(0, 1)),
                kernels::contiguous(h.transpose(0, 1)));
  }
}

TEST_CASE("cuda cast converts like the CPU", "[cuda][layout]") {
  // values that round differently, reach the top of f16 (65504 becomes 65536 in bf16,
  // which overflows f16 to infinity) and sit in its subnormals; compared bit for bit
  std::vector<float> values = {0.0f,     -0.0f,  1.0f,        1.0009766f, 65504.0f,
                               60000.7f, -1e-6f, 3.14159265f, 1e-8f,      -3.0e4f};
  const Tensor special = Tensor::from_vector(values, {10});
  const Tensor random = test::random_tensor({257}, 50, -100.0f, 100.0f);
  for (const Tensor& x : {special, random}) {
    for (DType from : {DType::kF32, DType::kF16, DType::kBF16}) {
      for (DType to : {DType::kF32, DType::kF16, DType::kBF16}) {
        DYNAMIC_SECTION(x.numel() << " " << dtype_name(from) << " -> " << dtype_name(to)) {
          const Tensor src = kernels::cast(x, from);
          check_same_bits(kernels::cast(gpu(src), to), kernels::cast(src, to));
        }
      }
    }
  }
}

TEST_CASE("cuda argmax matches the CPU, first index on ties", "[cuda][reduce]") {
  const Tensor x = test::random_tensor({6, 1001}, 60);
  check_equal(kernels::argmax(gpu(x)), kernels::argmax(x));
  const Tensor ties =
      Tensor::from_vector(std::vector<float>{1, 3, 3, 0, 7, 7, 7, 7, -1, -1, -1, -1}, {3, 4});
  const Tensor out = kernels::argmax(gpu(ties));
  REQUIRE(out.dtype() == DType::kI64);
  REQUIRE(out.cpu().to_i64_vector() == std::vector<int64_t>{1, 0, 0});
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const Tensor with_nan = Tensor::from_vector(std::vector<float>{1, nan, 5, nan}, {1, 4});
  REQUIRE(kernels::argmax(gpu(with_nan)).cpu().to_i64_vector() ==
          kernels::argmax(with_nan).to_i64_vector());
  const Tensor x3 = test::random_tensor({2, 3, 50}, 61);
  check_equal(kernels::argmax(gpu(x3)), kernels::argmax(x3));
}

}  // namespace
}  // namespace mmgen
