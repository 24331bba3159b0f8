// The shared Stable Diffusion blocks on hand-checked inputs, and the weight reader.
#include "diffusion/sd_blocks.h"

#include <catch2/catch.hpp>
#include <cmath>
#include <memory>
#include <vector>

#include "core/error.h"
#include "core/safetensors.h"
#include "tests/support/test_support.h"

namespace mmgen::diffusion {
namespace {

using Catch::Matchers::Contains;

float silu(float x) { return x / (1.0f + std::exp(-x)); }

TEST_CASE("Downsample pads right and bottom before its stride-2 convolution", "[diffusion][vae]") {
  std::vector<float> values(16);
  for (int i = 0; i < 16; ++i) values[static_cast<size_t>(i)] = static_cast<float>(i + 1);
  const Tensor x = Tensor::from_vector(values, {1, 1, 4, 4});
  Downsample down;
  down.conv.weight = Tensor::full({1, 1, 3, 3}, 1.0f);
  down.conv.stride = 2;
  down.pad_right_bottom = true;
  // Windows of rows/cols {0,1,2} and {2,3,(pad)}: sums of the 4x4 grid 1..16.
  CHECK(down.forward(x).to_f32_vector() == std::vector<float>{54, 45, 72, 54});

  // The UNet form pads every side by one.
  Downsample symmetric;
  symmetric.conv = down.conv;
  symmetric.conv.padding = 1;
  CHECK(symmetric.forward(x).to_f32_vector() == std::vector<float>{14, 30, 57, 99});
}

TEST_CASE("ResnetBlock adds the projected embedding per channel", "[diffusion][vae]") {
  // conv1 gives zeros, so h is the embedding projection, constant per channel: channel 0
  // gets silu(10) ~ 10, channel 1 gets the bias -3. norm2 (one group over both channels)
  // sends them to +1 and -1; conv2 is the identity and the shortcut too.
  const Tensor x = test::random_tensor({1, 2, 3, 3}, 21);
  ResnetBlock block;
  block.norm1 = {Tensor::full({2}, 1.0f), Tensor::zeros({2}), 1, 1e-6f};
  block.conv1.weight = Tensor::zeros({2, 2, 3, 3});
  block.conv1.padding = 1;
  block.emb_weight = Tensor::from_vector(std::vector<float>{1, 0, 0, 0}, {2, 2});
  block.emb_bias = Tensor::from_vector(std::vector<float>{0, -3}, {2});
  block.norm2 = {Tensor::full({2}, 1.0f), Tensor::zeros({2}), 1, 1e-6f};
  block.conv2.weight = Tensor::from_vector(std::vector<float>{1, 0, 0, 1}, {2, 2, 1, 1});
  const Tensor emb = Tensor::from_vector(std::vector<float>{10, 0}, {1, 2});
  const std::vector<float> out = block.forward(x, emb).to_f32_vector();
  const std::vector<float> in = x.to_f32_vector();
  for (size_t i = 0; i < in.size(); ++i) {
    const float expected = in[i] + (i < 9 ? silu(1.0f) : silu(-1.0f));
    CHECK(out[i] == Approx(expected).margin(1e-4));
  }
  CHECK_THROWS_WITH(block.forward(x), Contains("needs a timestep embedding"));
}

TEST_CASE("SpatialSelfAttention with zero projections is the identity", "[diffusion][vae]") {
  const Tensor x = test::random_tensor({1, 32, 2, 3}, 22);
  SpatialSelfAttention attn;
  attn.norm = {Tensor::full({32}, 1.0f), Tensor::zeros({32}), 32, 1e-6f};
  attn.q_weight = attn.k_weight = attn.v_weight = test::random_tensor({32, 32}, 23);
  attn.proj_weight = Tensor::zeros({32, 32});
  CHECK(attn.forward(x).to_f32_vector() == x.to_f32_vector());
  // With v = identity and equal keys, every position gets the mean of the normalised input.
  std::vector<float> eye(32 * 32, 0.0f);
  for (size_t i = 0; i < 32; ++i) eye[i * 33] = 1.0f;
  attn.k_weight = Tensor::zeros({32, 32});
  attn.v_weight = attn.proj_weight = Tensor::from_vector(eye, {32, 32});
  const std::vector<float> out = attn.forward(x).to_f32_vector();
  const std::vector<float> in = x.to_f32_vector();
  const std::vector<float> normed = attn.norm.forward(x).to_f32_vector();
  for (size_t c = 0; c < 32; ++c) {
    float mean = 0;
    for (size_t p = 0; p < 6; ++p) mean += normed[c * 6 + p] / 6.0f;
    for (size_t p = 0; p < 6; ++p)
      CHECK(out[c * 6 + p] == Approx(in[c * 6 + p] + mean).margin(1e-5));
  }
}

TEST_CASE("WeightReader names the file and tensor of every problem", "[diffusion][vae]") {
  const auto path = test::temp_dir("weight_reader") / "w.safetensors";
  write_safetensors(path, {{"net.a.0.w", Tensor::zeros({2})},
                           {"net.a.2.w", Tensor::zeros({2})},
                           {"net.b.0.w", Tensor::zeros({2}, DType::kF16)},
                           {"net.b.1.w", Tensor::zeros({3})}});
  const WeightReader reader(ModelFile::open(path), "net.", "test network");
  CHECK(reader.count_indexed("b.") == 2);
  CHECK(reader.count_indexed("c.") == 0);
  CHECK_THROWS_WITH(reader.count_indexed("a."),
                    Contains(path.string()) && Contains("net.a.") && Contains("skip indices"));
  CHECK(reader.vec("b.0.w", 2).dtype() == DType::kF32);
  CHECK_THROWS_WITH(reader.get("b.1.w", {2}),
                    Contains("'net.b.1.w' has shape [3], expected [2]") && Contains(path.string()));
  CHECK_THROWS_WITH(reader.shape("x.w"), Contains(path.string()) &&
                                             Contains("no tensor 'net.x.w'") &&
                                             Contains("test network"));
}

}  // namespace
}  // namespace mmgen::diffusion
