// Tiled decoding: the blending is checked on decoders whose output at a pixel
// depends only on nearby latent positions, where tiles must reproduce the whole.
#include "diffusion/tiled_decode.h"

#include <catch2/catch.hpp>
#include <string>

#include "core/error.h"
#include "kernels/ops.h"
#include "tests/support/test_support.h"

namespace mmgen::diffusion {
namespace {

using Catch::Matchers::Contains;

TEST_CASE("Tiled decode of a pointwise decoder equals the whole decode", "[diffusion][vae]") {
  const Tensor z = test::random_tensor({2, 3, 13, 17}, 11);
  const auto upsample = [](const Tensor& x) {
    return kernels::upsample_nearest2d(kernels::scale(x, 2.0f), 4);
  };
  TileLayout layout;
  layout.tile = 6;
  layout.overlap = 2;
  const Tensor tiled = decode_in_tiles(z, layout, 4, upsample);
  REQUIRE(tiled.shape() == Shape{2, 3, 52, 68});
  CHECK(test::compare(tiled, upsample(z)).max_abs < 1e-6);
}

TEST_CASE("Tiled decode drops the tile borders that saw zero padding", "[diffusion][vae]") {
  // A 3x3 convolution reads one latent position beyond each pixel: with an overlap
  // of 4 the outer quarter (one position) of each overlap, weighted 0, covers it.
  const Tensor z = test::random_tensor({1, 2, 19, 23}, 12);
  const Tensor weight = test::random_tensor({3, 2, 3, 3}, 13);
  kernels::Conv2dParams same;
  same.pad_h = same.pad_w = 1;
  const auto decoder = [&](const Tensor& x) {
    return kernels::upsample_nearest2d(kernels::conv2d(x, weight, {}, same), 2);
  };
  TileLayout layout;
  layout.tile = 8;
  layout.overlap = 4;
  const Tensor tiled = decode_in_tiles(z, layout, 2, decoder);
  REQUIRE(tiled.shape() == Shape{1, 3, 38, 46});
  CHECK(test::compare(tiled, decoder(z)).max_abs < 1e-5);

  // Without overlap the borders cannot be dropped and the seams show.
  layout.overlap = 0;
  CHECK(test::compare(decode_in_tiles(z, layout, 2, decoder), decoder(z)).max_abs > 1e-2);
}

TEST_CASE("Tiled decode refuses bad layouts and decoders", "[diffusion][vae]") {
  const Tensor z = test::random_tensor({1, 1, 8, 8}, 14);
  const auto identity = [](const Tensor& x) { return x; };
  TileLayout layout;
  layout.tile = 4;
  layout.overlap = 4;
  CHECK_THROWS_WITH(decode_in_tiles(z, layout, 1, identity), Contains("0 <= overlap < tile"));
  layout.overlap = 1;
  CHECK_THROWS_WITH(decode_in_tiles(z, layout, 2, identity),
                    Contains("decoded to") && Contains("expected f32 [1, C, 8, 8]"));
  CHECK_THROWS_WITH(decode_in_tiles(z.view({1, 8, 8}), layout, 1, identity),
                    Contains("[N, C, h, w]"));
}

}  // namespace
}  // namespace mmgen::diffusion
