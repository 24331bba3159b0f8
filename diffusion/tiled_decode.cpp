#include "diffusion/tiled_decode.h"

#include <algorithm>
#include <vector>

#include "core/error.h"
#include "kernels/ops.h"

namespace mmgen::diffusion {

namespace {

// Tile start positions covering [0, size) with tiles of `tile` overlapping by at
// least `overlap`; the last tile is aligned to the end.
std::vector<int64_t> tile_starts(int64_t size, int64_t tile, int64_t overlap) {
  if (size <= tile) return {0};
  std::vector<int64_t> starts;
  for (int64_t s = 0;; s += tile - overlap) {
    if (s + tile >= size) {
      starts.push_back(size - tile);
      return starts;
    }
    starts.push_back(s);
  }
}

// Blend weights along one axis of a tile of `length` pixels whose edges have a
// neighbour `before` / `after` overlapping it by `overlap` pixels.
std::vector<float> edge_weights(int64_t length, int64_t overlap, bool before, bool after) {
  const float margin = static_cast<float>(overlap) / 4.0f;
  const float ramp = std::max(1.0f, static_cast<float>(overlap) / 2.0f);
  auto edge = [&](int64_t distance) {
    return std::clamp((static_cast<float>(distance) + 0.5f - margin) / ramp, 0.0f, 1.0f);
  };
  std::vector<float> w(static_cast<size_t>(length), 1.0f);
  for (int64_t p = 0; p < length; ++p) {
    float v = 1.0f;
    if (before) v = std::min(v, edge(p));
    if (after) v = std::min(v, edge(length - 1 - p));
    w[static_cast<size_t>(p)] = v;
  }
  return w;
}

// The tile [N, C, h, w] at (y0, x0) of a zero canvas [N, C, out_h, out_w], on its device.
Tensor place_in_canvas(const Tensor& tile, int64_t y0, int64_t x0, int64_t out_h, int64_t out_w) {
  const int64_t n = tile.dim(0), c = tile.dim(1), h = tile.dim(2), w = tile.dim(3);
  auto zeros = [&](int64_t rows, int64_t cols) {
    return Tensor::zeros({n, c, rows, cols}, DType::kF32, tile.device());
  };
  std::vector<Tensor> row;
  if (x0 > 0) row.push_back(zeros(h, x0));
  row.push_back(tile);
  if (out_w - x0 - w > 0) row.push_back(zeros(h, out_w - x0 - w));
  std::vector<Tensor> column;
  if (y0 > 0) column.push_back(zeros(y0, out_w));
  column.push_back(row.size() == 1 ? tile : kernels::concat(row, 3));
  if (out_h - y0 - h > 0) column.push_back(zeros(out_h - y0 - h, out_w));
  return column.size() == 1 ? column[0] : kernels::concat(column, 2);
}

}  // namespace

Tensor decode_in_tiles(const Tensor& z, const TileLayout& layout, int64_t factor,
                       const TileDecoder& decode_tile) {
  MMGEN_CHECK(z.defined() && z.ndim() == 4, "tiled decode: latent must be [N, C, h, w], got ",
              z.defined() ? z.str() : "an undefined tensor");
  MMGEN_CHECK(layout.tile >= 1 && layout.overlap >= 0 && layout.overlap < layout.tile,
              "tiled decode: tile ", layout.tile, " and overlap ", layout.overlap,
              " must satisfy 0 <= overlap < tile");
  MMGEN_CHECK(factor >= 1, "tiled decode: factor ", factor, " must be positive");
  const int64_t n = z.dim(0), height = z.dim(2), width = z.dim(3);
  const int64_t tile_h = std::min(layout.tile, height), tile_w = std::min(layout.tile, width);
  const std::vector<int64_t> ys = tile_starts(height, tile_h, layout.overlap);
  const std::vector<int64_t> xs = tile_starts(width, tile_w, layout.overlap);
  if (ys.size() == 1 && xs.size() == 1) return decode_tile(z);

  const int64_t out_h = height * factor, out_w = width * factor;
  const int64_t th = tile_h * factor, tw = tile_w * factor, overlap_px = layout.overlap * factor;
  // The blend runs as ops on z's device, so a CUDA decode never comes back to the
  // host; the per-pixel weight sums depend only on the layout and are made here.
  std::vector<float> weight_sum(static_cast<size_t>(out_h * out_w), 0.0f);
  Tensor sum;
  int64_t channels = 0;
  for (size_t yi = 0; yi < ys.size(); ++yi) {
    for (size_t xi = 0; xi < xs.size(); ++xi) {
      const int64_t y0 = ys[yi] * factor, x0 = xs[xi] * factor;
      const Tensor piece = z.narrow(2, ys[yi], tile_h).narrow(3, xs[xi], tile_w).contiguous();
      const Tensor image = decode_tile(piece);
      MMGEN_CHECK(image.dtype() == DType::kF32 && image.ndim() == 4 && image.dim(0) == n &&
                      image.dim(2) == th && image.dim(3) == tw &&
                      (channels == 0 || image.dim(1) == channels) && image.device() == z.device(),
                  "tiled decode: a tile of ", piece.str(), " decoded to ", image.str(),
                  ", expected f32 [", n, ", C, ", th, ", ", tw, "] on ", z.device().str());
      if (channels == 0) {
        channels = image.dim(1);
        sum = Tensor::zeros({n, channels, out_h, out_w}, DType::kF32, z.device());
      }
      const std::vector<float> wy = edge_weights(th, overlap_px, yi > 0, yi + 1 < ys.size());
      const std::vector<float> wx = edge_weights(tw, overlap_px, xi > 0, xi + 1 < xs.size());
      std::vector<float> w(static_cast<size_t>(th * tw));
      for (int64_t y = 0; y < th; ++y) {
        for (int64_t x = 0; x < tw; ++x) {
          const float v = wy[static_cast<size_t>(y)] * wx[static_cast<size_t>(x)];
          w[static_cast<size_t>(y * tw + x)] = v;
          weight_sum[static_cast<size_t>((y0 + y) * out_w + x0 + x)] += v;
        }
      }
      const Tensor weighted =
          kernels::mul(image, Tensor::from_vector(w, {1, 1, th, tw}).to(z.device()));
      sum = kernels::add(sum, place_in_canvas(weighted, y0, x0, out_h, out_w));
    }
  }
  const Tensor weights = Tensor::from_vector(weight_sum, {1, 1, out_h, out_w}).to(z.device());
  return kernels::div(sum, weights);
}

}  // namespace mmgen::diffusion
