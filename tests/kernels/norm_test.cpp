#include <catch2/catch.hpp>
#include <limits>

#include "kernels/ops.h"
#include "tests/kernels/naive_reference.h"
#include "tests/support/test_support.h"

namespace mmgen {
namespace {

using test::random_tensor;
namespace naive = test::naive;

constexpr double kTol = 2e-6;

TEST_CASE("group_norm matches the naive statistics", "[kernels][group_norm]") {
  struct Case {
    Shape x;
    int groups;
    bool affine;
  };
  const std::vector<Case> cases = {{{2, 6, 5, 7}, 3, true},     {{1, 4, 9}, 1, true},
                                   {{3, 8, 3, 3}, 8, false},    {{2, 5, 1}, 5, true},
                                   {{1, 32, 17, 19}, 32, true}, {{2, 6}, 2, true}};
  uint64_t seed = 1;
  for (const Case& c : cases) {
    const Tensor x = random_tensor(c.x, ++seed, -3.0f, 5.0f);
    const Tensor w = c.affine ? random_tensor({c.x[1]}, ++seed) : Tensor();
    const Tensor b = c.affine ? random_tensor({c.x[1]}, ++seed) : Tensor();
    INFO("x " << shape_str(c.x) << " groups " << c.groups);
    CHECK(naive::mismatch(kernels::group_norm(x, c.groups, w, b, 1e-5f),
                          naive::group_norm(x, c.groups, w, b, 1e-5), kTol) == "");
  }
}

TEST_CASE("normalisation stays accurate for a large mean and small spread",
          "[kernels][group_norm][layer_norm]") {
  // Values 100 +- 1: a one-pass float E[x^2] - E[x]^2 would lose four digits.
  const Tensor x = random_tensor({2, 4, 600}, 40, 99.0f, 101.0f);
  CHECK(naive::mismatch(kernels::group_norm(x, 2, {}, {}, 1e-6f),
                        naive::group_norm(x, 2, {}, {}, 1e-6), 2e-5) == "");
  CHECK(naive::mismatch(kernels::layer_norm(x, {}, {}, 1e-6f), naive::layer_norm(x, {}, {}, 1e-6),
                        2e-5) == "");
}

TEST_CASE("layer_norm and rms_norm match the naive rows", "[kernels][layer_norm][rms_norm]") {
  uint64_t seed = 50;
  for (const Shape& shape : std::vector<Shape>{{3, 5, 37}, {1, 1}, {7, 1000}, {129}}) {
    const int64_t d = shape.back();
    const Tensor x = random_tensor(shape, ++seed, -2.0f, 3.0f);
    const Tensor w = random_tensor({d}, ++seed);
    const Tensor b = random_tensor({d}, ++seed);
    INFO("x " << shape_str(shape));
    CHECK(naive::mismatch(kernels::layer_norm(x, w, b), naive::layer_norm(x, w, b, 1e-5), kTol) ==
          "");
    CHECK(naive::mismatch(kernels::layer_norm(x, {}, {}, 1e-3f), naive::layer_norm(x, {}, {}, 1e-3),
                          kTol) == "");
    CHECK(naive::mismatch(kernels::rms_norm(x, w), naive::rms_norm(x, w, 1e-6), kTol) == "");
    CHECK(naive::mismatch(kernels::rms_norm(x, {}, 1e-5f), naive::rms_norm(x, {}, 1e-5), kTol) ==
          "");
    // Half-precision parameters are widened.
    const Tensor wh = w.to(DType::kBF16);
    CHECK(naive::mismatch(kernels::rms_norm(x, wh), naive::rms_norm(x, wh, 1e-6), kTol) == "");
  }
  // A strided input.
  const Tensor t = random_tensor({40, 6}, 60).transpose(0, 1);
  CHECK(naive::mismatch(kernels::layer_norm(t, {}, {}), naive::layer_norm(t, {}, {}, 1e-5), kTol) ==
        "");
}

TEST_CASE("softmax matches the naive rows and zeroes fully masked rows", "[kernels][softmax]") {
  uint64_t seed = 70;
  for (const Shape& shape : std::vector<Shape>{{3, 7, 1}, {5, 1000}, {2, 3, 17}}) {
    const Tensor x = random_tensor(shape, ++seed, -20.0f, 20.0f);
    CHECK(naive::mismatch(kernels::softmax(x), naive::softmax(x), kTol) == "");
  }
  constexpr float kInf = std::numeric_limits<float>::infinity();
  const Tensor masked = Tensor::from_vector<float>(
      {1, -kInf, 2, 0, -kInf, -kInf, -kInf, -kInf, 100, 101, -kInf, 99}, {3, 4});
  const auto y = kernels::softmax(masked).to_f32_vector();
  CHECK(naive::mismatch(kernels::softmax(masked), naive::softmax(masked), kTol) == "");
  CHECK(y[1] == 0.0f);
  for (int i = 4; i < 8; ++i) CHECK(y[i] == 0.0f);
}

TEST_CASE("normalisation ops report bad shapes", "[kernels][group_norm][layer_norm][rms_norm]") {
  const Tensor x = random_tensor({2, 6, 4}, 90);
  CHECK_THROWS_WITH(kernels::group_norm(x, 4, {}, {}),
                    "group_norm: 6 channels of x f32[2, 6, 4] do not split into 4 groups");
  CHECK_THROWS_WITH(kernels::group_norm(x, 3, random_tensor({5}, 91), {}),
                    "group_norm: weight f32[5] must be [6]");
  CHECK_THROWS_WITH(kernels::layer_norm(x, {}, random_tensor({6}, 92)),
                    "layer_norm: bias f32[6] must be [4]");
  CHECK_THROWS_WITH(kernels::rms_norm(x.to(DType::kF16), {}),
                    "rms_norm: x must be f32, got f16[2, 6, 4]");
}

}  // namespace
}  // namespace mmgen
