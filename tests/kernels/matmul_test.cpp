#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>
#include <sstream>
#include <string>
#include <vector>

#include "core/convert.h"
#include "core/thread_pool.h"
#include "kernels/cpu/row_dot.h"
#include "kernels/ops.h"
#include "tests/kernels/naive_reference.h"
#include "tests/support/test_support.h"

namespace mmgen {
namespace {

using test::random_tensor;
namespace naive = test::naive;

constexpr double kTol = 1e-5;

// linear(x, w) of one row x [1, K] against Q8_0 weights w [N, K]: the CPU quantises
// x to blocks of 32 int8 values for the integer dot product (kernels/cpu/row_dot.h),
// so the result may leave the exact product of the dequantised weights by the
// rounding of x, at most max|x over the block| / 254 per element: for output j,
// sum_i |w_ji| * max|x_block(i)| / 254, plus the f32 tolerance.
std::string q8_0_row_mismatch(const Tensor& actual, const Tensor& x, const Tensor& w) {
  const Tensor expected = naive::linear(x, w);
  const std::vector<float> xs = x.to_f32_vector(), ws = w.to(DType::kF32).to_f32_vector();
  const std::vector<float> got = actual.to_f32_vector(), want = expected.to_f32_vector();
  const int64_t k = x.dim(-1), n = w.dim(0);
  double magnitude = 1.0;
  for (float v : want) magnitude = std::max(magnitude, std::fabs(static_cast<double>(v)));
  std::ostringstream out;
  for (int64_t j = 0; j < n; ++j) {
    double bound = kTol * magnitude;
    for (int64_t b = 0; b < k / 32; ++b) {
      double amax = 0, wsum = 0;
      for (int64_t i = b * 32; i < b * 32 + 32; ++i) {
        amax = std::max(amax, std::fabs(static_cast<double>(xs[i])));
        wsum += std::fabs(static_cast<double>(ws[j * k + i]));
      }
      bound += wsum * amax / 254.0;
    }
    const double d = std::fabs(static_cast<double>(got[j]) - want[j]);
    if (!(d <= bound)) out << "output " << j << ": " << got[j] << " vs " << want[j] << "; ";
  }
  return out.str();
}

// What the decode path of linear gives for one row of x against weights of `type`.
std::string decode_mismatch(const Tensor& x, const Tensor& w) {
  const int64_t rows = x.numel() / x.dim(-1);
  if (rows == 1 && kernels::cpu::has_int8_activation_dot(w.dtype()))
    return q8_0_row_mismatch(kernels::linear(x, w), x.view({1, x.dim(-1)}), w);
  return naive::mismatch(kernels::linear(x, w), naive::linear(x, w), kTol);
}

// a as stored for matmul: [.., M, K] or [.., K, M] when transposed.
Tensor operand(Shape batch, int64_t rows, int64_t cols, bool transposed, uint64_t seed) {
  Shape shape = std::move(batch);
  shape.push_back(transposed ? cols : rows);
  shape.push_back(transposed ? rows : cols);
  return random_tensor(shape, seed);
}

TEST_CASE("matmul f32 matches the naive product for awkward sizes and every transpose",
          "[kernels][matmul]") {
  struct Size {
    int64_t m, n, k;
  };
  const std::vector<Size> sizes = {{1, 1, 1},    {2, 3, 1},    {7, 13, 5},     {15, 33, 17},
                                   {29, 31, 64}, {5, 40, 300}, {130, 67, 257}, {45, 150, 530}};
  uint64_t seed = 1;
  for (const Size& s : sizes) {
    for (int variant = 0; variant < 4; ++variant) {
      const bool ta = variant & 1, tb = variant & 2;
      const Tensor a = operand({}, s.m, s.k, ta, ++seed);
      const Tensor b = operand({}, s.k, s.n, tb, ++seed);
      INFO("m " << s.m << " n " << s.n << " k " << s.k << " ta " << ta << " tb " << tb);
      CHECK(naive::mismatch(kernels::matmul(a, b, ta, tb), naive::matmul(a, b, ta, tb), kTol) ==
            "");
    }
  }
}

TEST_CASE("matmul broadcasts batch dimensions", "[kernels][matmul]") {
  struct Case {
    Shape a, b;
    bool ta, tb;
  };
  const std::vector<Case> cases = {
      {{2, 3, 5, 7}, {7, 4}, false, false},  // shared 2-D b folds into rows
      {{3, 5, 7}, {3, 7, 4}, false, false},  // equal batches
      {{5, 7}, {2, 7, 4}, false, false},     // a expanded
      {{2, 1, 5, 7}, {1, 3, 7, 4}, false, false},
      {{4, 7, 5}, {6, 7}, true, true},  // transposed a with shared b
      {{3, 7, 5}, {3, 4, 7}, true, true},
      {{2, 6, 9}, {1, 9, 11}, false, false},
  };
  uint64_t seed = 100;
  for (const Case& c : cases) {
    const Tensor a = random_tensor(c.a, ++seed);
    const Tensor b = random_tensor(c.b, ++seed);
    INFO("a " << shape_str(c.a) << " b " << shape_str(c.b));
    CHECK(naive::mismatch(kernels::matmul(a, b, c.ta, c.tb), naive::matmul(a, b, c.ta, c.tb),
                          kTol) == "");
  }
}

TEST_CASE("matmul with f16 and bf16 b converts exactly", "[kernels][matmul]") {
  uint64_t seed = 200;
  for (DType dtype : {DType::kF16, DType::kBF16}) {
    for (int64_t m : {1, 3, 4, 5, 16, 17, 37}) {
      for (bool tb : {false, true}) {
        const Tensor a = random_tensor({m, 70}, ++seed);
        const Tensor b = operand({}, 70, 45, tb, ++seed).to(dtype);
        INFO(dtype_name(dtype) << " m " << m << " tb " << tb);
        CHECK(naive::mismatch(kernels::matmul(a, b, false, tb), naive::matmul(a, b, false, tb),
                              kTol) == "");
      }
    }
  }
  // Batched half-precision b with its own batch.
  const Tensor a = random_tensor({3, 6, 20}, 250);
  const Tensor b = random_tensor({3, 20, 9}, 251).to(DType::kF16);
  CHECK(naive::mismatch(kernels::matmul(a, b), naive::matmul(a, b), kTol) == "");
}

TEST_CASE("matmul with quantised weights matches the dequantised product",
          "[kernels][matmul][linear]") {
  const std::vector<DType> types = {DType::kQ8_0, DType::kQ4_0, DType::kQ4_1, DType::kQ5_0,
                                    DType::kQ5_1};
  uint64_t seed = 300;
  for (DType type : types) {
    for (int64_t m : {1, 2, 19}) {
      const int64_t k = 96, n = 37;
      const Tensor w32 = random_tensor({n, k}, ++seed);
      // Quantise row by row with the reference quantiser.
      Tensor w = Tensor::empty({n, k}, type);
      quantize_row(type, w32.typed_data<float>(), w.data(), n * k);
      const Tensor x = random_tensor({m, k}, ++seed);
      INFO(dtype_name(type) << " m " << m);
      if (m > 1 || !kernels::cpu::has_int8_activation_dot(type))
        CHECK(naive::mismatch(kernels::matmul(x, w, false, true), naive::matmul(x, w, false, true),
                              kTol) == "");
      CHECK(decode_mismatch(x, w) == "");
    }
  }
  // A long K crossing several packing blocks, decode and prompt shapes.
  const Tensor w = random_tensor({33, 768}, 390).to(DType::kQ8_0);
  for (int64_t m : {1, 21}) {
    const Tensor x = random_tensor({m, 768}, 391 + m);
    CHECK(decode_mismatch(x, w) == "");
  }
}

TEST_CASE("decode-shaped products match the naive product for every weight dtype",
          "[kernels][matmul][linear]") {
  // 1 to 8 rows of x (the fused decode path) and one past it, K a multiple of the
  // 32-value blocks but not of 256, N not a multiple of any vector width.
  const std::vector<DType> types = {DType::kF32,  DType::kF16,  DType::kBF16, DType::kQ8_0,
                                    DType::kQ4_0, DType::kQ4_1, DType::kQ5_0, DType::kQ5_1};
  uint64_t seed = 800;
  for (DType type : types) {
    for (int64_t k : {96, 800}) {
      for (int64_t n : {1, 7, 33}) {
        const Tensor w32 = random_tensor({n, k}, ++seed);
        Tensor w = is_quantized(type) ? Tensor::empty({n, k}, type) : w32.to(type);
        if (is_quantized(type)) quantize_row(type, w32.typed_data<float>(), w.data(), n * k);
        for (int64_t m = 1; m <= 9; ++m) {
          const Tensor x = random_tensor({m, k}, ++seed);
          INFO(dtype_name(type) << " m " << m << " n " << n << " k " << k);
          CHECK(decode_mismatch(x, w) == "");
        }
      }
    }
  }
  // Plain dtypes also take a K that is no multiple of the vector width.
  for (DType type : {DType::kF32, DType::kF16, DType::kBF16}) {
    const Tensor w = random_tensor({9, 45}, ++seed).to(type);
    for (int64_t m : {1, 2, 5, 8}) {
      const Tensor x = random_tensor({m, 45}, ++seed);
      INFO(dtype_name(type) << " m " << m << " k 45");
      CHECK(naive::mismatch(kernels::linear(x, w), naive::linear(x, w), kTol) == "");
    }
  }
  // Rows folded from a batch against a shared weight: [2, 3, K] x [N, K]^T.
  const Tensor w = random_tensor({33, 96}, ++seed).to(DType::kQ8_0);
  const Tensor x = random_tensor({2, 3, 96}, ++seed);
  CHECK(naive::mismatch(kernels::linear(x, w), naive::linear(x, w), kTol) == "");
}

TEST_CASE("linear applies weight and bias over leading dimensions", "[kernels][linear]") {
  const Tensor x = random_tensor({2, 3, 7}, 400);
  const Tensor w = random_tensor({5, 7}, 401);
  const Tensor b = random_tensor({5}, 402);
  CHECK(naive::mismatch(kernels::linear(x, w, b), naive::linear(x, w, b), kTol) == "");
  CHECK(naive::mismatch(kernels::linear(x, w), naive::linear(x, w), kTol) == "");
  // f16 weight and bias.
  const Tensor wh = w.to(DType::kF16), bh = b.to(DType::kF16);
  CHECK(naive::mismatch(kernels::linear(x, wh, bh), naive::linear(x, wh, bh), kTol) == "");
  // A single vector.
  const Tensor v = random_tensor({7}, 403);
  CHECK(naive::mismatch(kernels::linear(v, w, b), naive::linear(v, w, b), kTol) == "");
}

TEST_CASE("matmul and linear accept non-contiguous views", "[kernels][matmul][linear]") {
  const Tensor base = random_tensor({9, 12}, 500);
  const Tensor a = base.transpose(0, 1);                         // [12, 9] strided
  const Tensor b = random_tensor({20, 9}, 501).narrow(0, 3, 9);  // [9, 9] offset view
  CHECK(naive::mismatch(kernels::matmul(a, b), naive::matmul(a, b), kTol) == "");
  const Tensor x = random_tensor({6, 20}, 502).narrow(1, 5, 9);  // rows with a stride
  const Tensor w = random_tensor({4, 9}, 503);
  CHECK(naive::mismatch(kernels::linear(x, w), naive::linear(x, w), kTol) == "");
}

TEST_CASE("matmul results do not depend on the thread count", "[kernels][matmul]") {
  const Tensor a = random_tensor({70, 300}, 600);
  const Tensor b = random_tensor({300, 90}, 601);
  const int threads = num_threads();
  set_num_threads(1);
  const auto one = kernels::matmul(a, b).to_f32_vector();
  set_num_threads(3);
  const auto three = kernels::matmul(a, b).to_f32_vector();
  set_num_threads(threads);
  CHECK(one == three);
}

TEST_CASE("matmul and linear report mismatched shapes", "[kernels][matmul][linear]") {
  const Tensor x = random_tensor({2, 7}, 700);
  const Tensor w = random_tensor({5, 8}, 701);
  CHECK_THROWS_WITH(kernels::linear(x, w),
                    "linear: x f32[2, 7] does not match weight [5, 8] (in_features 8)");
  CHECK_THROWS_WITH(kernels::linear(random_tensor({2, 8}, 702), w, random_tensor({4}, 703)),
                    "linear: bias f32[4] must be [5]");
  CHECK_THROWS_WITH(kernels::matmul(x, w),
                    "matmul: a f32[2, 7] and b f32[5, 8] have inner dimensions 7 and 5");
  CHECK_THROWS_WITH(kernels::matmul(random_tensor({2, 3, 4}, 704), random_tensor({3, 4, 5}, 705)),
                    "matmul: batch dimensions of a f32[2, 3, 4] and b f32[3, 4, 5] do not "
                    "broadcast");
  CHECK_THROWS_WITH(kernels::matmul(random_tensor({3}, 706), random_tensor({3, 3}, 707)),
                    Catch::Contains("at least 2 dims"));
  const Tensor q = random_tensor({32, 32}, 708).to(DType::kQ8_0);
  CHECK_THROWS_WITH(kernels::matmul(random_tensor({2, 32}, 709), q),
                    "matmul: quantised b q8_0[32, 32] must be 2-d and used with transpose_b");
  CHECK_THROWS_WITH(kernels::matmul(random_tensor({2, 3}, 710).to(DType::kF16), w),
                    "matmul: a must be f32, got f16[2, 3]");
}

}  // namespace
}  // namespace mmgen
