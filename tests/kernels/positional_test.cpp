#include <catch2/catch.hpp>
#include <cmath>

#include "kernels/ops.h"
#include "tests/kernels/naive_reference.h"
#include "tests/support/test_support.h"

namespace mmgen {
namespace {

using kernels::RopeStyle;
using test::random_tensor;
namespace naive = test::naive;

constexpr double kTol = 2e-6;

kernels::RopeParams rope_params(RopeStyle style, int rotary_dims = 0, float theta = 10000.0f,
                                Tensor inv_freq = {}) {
  kernels::RopeParams p;
  p.style = style;
  p.rotary_dims = rotary_dims;
  p.theta = theta;
  p.inv_freq = std::move(inv_freq);
  return p;
}

TEST_CASE("rope rotates pairs in both styles, fully and partially", "[kernels][rope]") {
  const Tensor x = random_tensor({2, 5, 3, 10}, 1);
  const std::vector<int64_t> positions = {0, 1, 7, 100, 4095};
  const Tensor pos64 = Tensor::from_vector(positions, {5});
  const Tensor pos32 = pos64.to(DType::kI32);
  for (RopeStyle style : {RopeStyle::kRotateHalf, RopeStyle::kInterleaved}) {
    for (int rotary : {0, 10, 6, 2}) {
      INFO("style " << static_cast<int>(style) << " rotary " << rotary);
      CHECK(naive::mismatch(kernels::rope(x, pos64, rope_params(style, rotary)),
                            naive::rope(x, positions, rotary, 10000.0, style), kTol) == "");
      CHECK(naive::mismatch(kernels::rope(x, pos32, rope_params(style, rotary, 500000.0f)),
                            naive::rope(x, positions, rotary, 500000.0, style), kTol) == "");
    }
  }
  // The dims past rotary_dims pass through untouched.
  const auto in = x.to_f32_vector();
  const auto out = kernels::rope(x, pos64, rope_params(RopeStyle::kRotateHalf, 6)).to_f32_vector();
  for (size_t row = 0; row < in.size() / 10; ++row)
    for (size_t i = 6; i < 10; ++i) CHECK(out[row * 10 + i] == in[row * 10 + i]);
}

TEST_CASE("rope uses given inverse frequencies (LLaMA 3 scaling)", "[kernels][rope]") {
  // Llama 3.1 frequency scaling: factor 8, low / high frequency factors 1 and 4, 8192 context.
  const int head_dim = 16;
  std::vector<float> inv_freq;
  for (int i = 0; i < head_dim / 2; ++i) {
    const double f = std::pow(500000.0, -2.0 * i / head_dim);
    const double wavelen = 2 * M_PI / f;
    double scaled = f;
    if (wavelen > 8192.0 / 1.0) {
      scaled = f / 8.0;
    } else if (wavelen >= 8192.0 / 4.0) {
      const double smooth = (8192.0 / wavelen - 1.0) / (4.0 - 1.0);
      scaled = (1 - smooth) * f / 8.0 + smooth * f;
    }
    inv_freq.push_back(static_cast<float>(scaled));
  }
  const Tensor x = random_tensor({1, 4, 2, head_dim}, 10);
  const std::vector<int64_t> positions = {3, 900, 5000, 30000};
  const Tensor freq = Tensor::from_vector(inv_freq, {head_dim / 2});
  const std::vector<double> freq_d(inv_freq.begin(), inv_freq.end());
  for (RopeStyle style : {RopeStyle::kRotateHalf, RopeStyle::kInterleaved}) {
    CHECK(naive::mismatch(kernels::rope(x, Tensor::from_vector(positions, {4}),
                                        rope_params(style, 0, 1.0f, freq)),
                          naive::rope(x, positions, 0, 0.0, style, freq_d), kTol) == "");
  }
}

TEST_CASE("rope reports bad arguments", "[kernels][rope]") {
  const Tensor x = random_tensor({1, 3, 2, 8}, 20);
  const Tensor pos = Tensor::from_vector<int64_t>({0, 1, 2}, {3});
  CHECK_THROWS_WITH(
      kernels::rope(x, pos, rope_params(RopeStyle::kRotateHalf, 5)),
      "rope: rotary_dims 5 must be even and within the head dim 8 of x f32[1, 3, 2, 8]");
  CHECK_THROWS_WITH(kernels::rope(x, Tensor::from_vector<int64_t>({0, 1}, {2}),
                                  rope_params(RopeStyle::kRotateHalf)),
                    "rope: positions i64[2] must be i32 or i64 [3] for x f32[1, 3, 2, 8]");
  CHECK_THROWS_WITH(
      kernels::rope(x, pos, rope_params(RopeStyle::kRotateHalf, 0, 1.0f, random_tensor({3}, 21))),
      "rope: inv_freq f32[3] must be f32 [4] (rotary_dims / 2)");
}

TEST_CASE("embedding gathers rows of any weight dtype", "[kernels][embedding]") {
  const Tensor w32 = random_tensor({11, 64}, 30);
  const std::vector<int64_t> ids = {3, 0, 10, 3, 7, 1};
  for (DType dtype :
       {DType::kF32, DType::kF16, DType::kBF16, DType::kQ8_0, DType::kQ4_0, DType::kQ5_1}) {
    const Tensor w = w32.to(dtype);
    INFO(dtype_name(dtype));
    CHECK(naive::mismatch(kernels::embedding(w, Tensor::from_vector(ids, {2, 3})),
                          naive::embedding(w, ids, {2, 3}), 0.0) == "");
    CHECK(naive::mismatch(kernels::embedding(w, Tensor::from_vector(ids, {6}).to(DType::kI32)),
                          naive::embedding(w, ids, {6}), 0.0) == "");
  }
  CHECK_THROWS_WITH(kernels::embedding(w32, Tensor::from_vector<int64_t>({1, 11}, {2})),
                    "embedding: id 11 at position 1 is outside [0, 11) for weight f32[11, 64]");
  CHECK_THROWS_WITH(kernels::embedding(w32, Tensor::from_vector<int32_t>({-1}, {1})),
                    Catch::StartsWith("embedding: id -1 at position 0"));
  CHECK_THROWS_WITH(kernels::embedding(w32, random_tensor({2}, 31)),
                    "embedding: ids must be i32 or i64, got f32[2]");
}

TEST_CASE("timestep_embedding follows the sinusoidal formula", "[kernels][timestep_embedding]") {
  const std::vector<float> steps = {0.0f, 1.0f, 17.5f, 999.0f};
  const std::vector<double> steps_d(steps.begin(), steps.end());
  const Tensor t = Tensor::from_vector(steps, {4});
  for (int dim : {320, 7, 1, 2}) {
    for (bool cos_first : {true, false}) {
      for (float shift : {0.0f, 1.0f}) {
        if (dim / 2 == 1 && shift == 1.0f) continue;  // half - shift would be 0
        INFO("dim " << dim << " cos_first " << cos_first << " shift " << shift);
        CHECK(naive::mismatch(kernels::timestep_embedding(t, dim, 10000.0f, cos_first, shift),
                              naive::timestep_embedding(steps_d, dim, 10000.0, cos_first, shift),
                              2e-6) == "");
      }
    }
  }
  // The odd column is zero.
  const auto odd = kernels::timestep_embedding(t, 7).to_f32_vector();
  for (int r = 0; r < 4; ++r) CHECK(odd[r * 7 + 6] == 0.0f);
  CHECK_THROWS_WITH(kernels::timestep_embedding(t, 0),
                    "timestep_embedding: dim must be at least 1, got 0");
}

}  // namespace
}  // namespace mmgen
