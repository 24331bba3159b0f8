// Decoding a latent in overlapping tiles: each tile goes through a decoder on its
// own and the pieces are blended back together, so the memory of a large decode
// is bounded by one tile's. Used by the VAE (Vae::decode_tiled); see docs/vae.md.
#pragma once

#include <cstdint>
#include <functional>

#include "core/tensor.h"

namespace mmgen::diffusion {

struct TileLayout {
  int64_t tile = 32;    // latent positions per tile side
  int64_t overlap = 8;  // latent positions shared by neighbouring tiles (< tile)
};

// Maps a latent tile [N, C, th, tw] to an image tile [N, C', th * factor, tw * factor].
using TileDecoder = std::function<Tensor(const Tensor& latent_tile)>;

// Cuts z [N, C, h, w] into tiles of at most layout.tile positions per side,
// neighbours overlapping by at least layout.overlap (the last tile of a row or
// column is aligned to the end), decodes each and blends them into one f32 image
// [N, C', h * factor, w * factor] on z's device. Across an overlap of o pixels
// the outer quarter of a tile gets weight 0 (its convolutions saw the tile's
// zero padding), the middle half a linear ramp that, with the neighbour's mirror
// ramp, sums to 1, and the rest weight 1. When one tile covers z this is
// decode_tile(z) itself.
Tensor decode_in_tiles(const Tensor& z, const TileLayout& layout, int64_t factor,
                       const TileDecoder& decode_tile);

}  // namespace mmgen::diffusion
