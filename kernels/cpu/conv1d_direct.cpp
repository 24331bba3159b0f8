// GCC 12 reports false "may be used uninitialized" warnings inside the AVX-512 min/max
// intrinsics of leaky_value (_mm512_undefined_ps).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include "kernels/cpu/conv1d_direct.h"

#include <algorithm>
#include <cstring>
#include <memory>

#include "kernels/cpu/parallel.h"
#include "kernels/cpu/shifted_rows.h"
#include "kernels/cpu/simd.h"
#include "kernels/cpu/transpose16.h"

namespace mmgen::kernels::cpu {
namespace {

// Register tile: kRows output channels x kVecs vectors of positions (shifted_rows.h).
constexpr int kW = Simd::kWidth;
constexpr int kRows = kTileRows;
constexpr int kVecs = kTileVecs;
constexpr int64_t kTileCols = int64_t{kVecs} * kW;
// (channel, tap) rows per pass: the A panel (kRows x 256 floats, 8 KiB) stays in L1
// while the tiles of a block of positions stream their B rows from L1/L2.
constexpr int64_t kDepthBlock = 256;
// Tiles of positions one task covers: the x rows of one depth block over that many
// positions stay in L2.
constexpr int64_t kBlockTiles = 8;

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

// c[i, 0 : kV * kW] = (init ? init[i] : c[i, ...]) + sum_p ap[p * kRows + i] * xb[off[p] + ...].
// kMasked (AVX-512): the last vector of each row is read and written through `mask`.
// res (the last depth block only, or null): added to the sums as they are stored, at
// the same offsets as c. Only the first kR rows are computed (one output channel: one
// row, not eight).
template <int kV, bool kMasked = false, int kR = kRows>
inline void tile(int64_t kc, const float* __restrict ap, const int64_t* __restrict off,
                 const float* xb, float* c, int64_t ldc, const float* init, const float* res,
                 [[maybe_unused]] uint32_t mask = 0) {
  Simd::V acc[kR][kV];
#pragma GCC unroll 8
  for (int i = 0; i < kR; ++i)
#pragma GCC unroll 3
    for (int v = 0; v < kV; ++v) {
      if (init) {
        acc[i][v] = Simd::set1(init[i]);
      } else {
#if defined(__AVX512F__)
        if (kMasked && v == kV - 1) {
          acc[i][v] = _mm512_maskz_loadu_ps(static_cast<__mmask16>(mask), c + i * ldc + v * kW);
          continue;
        }
#endif
        acc[i][v] = Simd::load(c + i * ldc + v * kW);
      }
    }
  add_shifted_rows<kV, kR>(acc, kc, ap, off, xb);
#pragma GCC unroll 8
  for (int i = 0; i < kR; ++i)
#pragma GCC unroll 3
    for (int v = 0; v < kV; ++v) {
#if defined(__AVX512F__)
      if (kMasked && v == kV - 1) {
        const __mmask16 m = static_cast<__mmask16>(mask);
        if (res) acc[i][v] = Simd::add(acc[i][v], _mm512_maskz_loadu_ps(m, res + i * ldc + v * kW));
        _mm512_mask_storeu_ps(c + i * ldc + v * kW, m, acc[i][v]);
        continue;
      }
#endif
      if (res) acc[i][v] = Simd::add(acc[i][v], Simd::load(res + i * ldc + v * kW));
      Simd::store(c + i * ldc + v * kW, acc[i][v]);
    }
}

template <int kV>
inline void any_tile(int64_t kc, const float* ap, const int64_t* off, const float* xb, float* c,
                     int64_t ldc, const float* init, const float* res, int64_t rows, int64_t cols) {
  if (rows == kRows && cols == int64_t{kV} * kW) {
    tile<kV>(kc, ap, off, xb, c, ldc, init, res);
    return;
  }
#if defined(__AVX512F__)
  if (rows == kRows) {
    // Fewer positions: the last vector through a mask (B reads stay inside the padded rows).
    const uint32_t mask = (1u << (cols - (kV - 1) * kW)) - 1;
    tile<kV, true>(kc, ap, off, xb, c, ldc, init, res, mask);
    return;
  }
#endif
  // One output channel (HiFi-GAN's conv_post): a one-row tile.
  if (rows == 1 && cols == int64_t{kV} * kW) {
    tile<kV, false, 1>(kc, ap, off, xb, c, ldc, init, res);
    return;
  }
#if defined(__AVX512F__)
  if (rows == 1) {
    const uint32_t mask = (1u << (cols - (kV - 1) * kW)) - 1;
    tile<kV, true, 1>(kc, ap, off, xb, c, ldc, init, res, mask);
    return;
  }
#endif
  // Fewer output channels: through a full tile aside.
  alignas(64) float aside[kRows * kTileCols] = {};
  if (!init)
    for (int64_t i = 0; i < rows; ++i)
      std::memcpy(aside + i * kTileCols, c + i * ldc, cols * sizeof(float));
  tile<kV>(kc, ap, off, xb, aside, kTileCols, init, nullptr);
  for (int64_t i = 0; i < rows; ++i) {
    if (res) {
      for (int64_t p = 0; p < cols; ++p)
        c[i * ldc + p] = aside[i * kTileCols + p] + res[i * ldc + p];
    } else {
      std::memcpy(c + i * ldc, aside + i * kTileCols, cols * sizeof(float));
    }
  }
}

// One tile of up to kTileCols positions, with as few vectors as cover them.
inline void conv_tile(int64_t kc, const float* ap, const int64_t* off, const float* xb, float* c,
                      int64_t ldc, const float* init, const float* res, int64_t rows,
                      int64_t cols) {
  switch (ceil_div(cols, kW)) {
    case 1:
      any_tile<1>(kc, ap, off, xb, c, ldc, init, res, rows, cols);
      break;
    case 2:
      any_tile<2>(kc, ap, off, xb, c, ldc, init, res, rows, cols);
      break;
    default:
      any_tile<kVecs>(kc, ap, off, xb, c, ldc, init, res, rows, cols);
      break;
  }
}

// One stride-1 convolution: x padded once, the weights packed into panels, then
// the tiles over blocks of positions and ranges of panels.
class ImplicitConv {
 public:
  ImplicitConv(const float* x, const Conv1dShape& s, const Conv1dFolds& folds)
      : s_(s),
        folds_(folds),
        group_channels_(s.channels / s.groups),
        group_out_(s.out_channels / s.groups),
        depth_(group_channels_ * s.kernel),
        panels_(ceil_div(group_out_, kRows)),
        images_(s.batch * s.groups),
        // Room for every tile (a last partial one included) to read whole vectors.
        row_(ceil_div(s.out_length + s.dilation * (s.kernel - 1) + kTileCols, 16) * 16) {
    // x with `padding` zeros in front and zeros behind. Row r of the copy is row r
    // of x ([batch, groups * group_channels, length]).
    const int64_t rows = images_ * group_channels_;
    const int64_t front = std::min(s.padding, row_);
    const int64_t copied = std::clamp<int64_t>(row_ - s.padding, 0, s.length);
    padded_.reset(new float[rows * row_]);
    parallel_chunks(rows, 16, [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r) {
        float* dst = padded_.get() + r * row_;
        std::fill(dst, dst + front, 0.0f);
        if (folds.input_slope == 1.0f) {
          std::memcpy(dst + front, x + r * s.length, copied * sizeof(float));
        } else {
          leaky_row(x + r * s.length, dst + front, copied, folds.input_slope);
        }
        std::fill(dst + front + copied, dst + row_, 0.0f);
      }
    });
    // Row (c, j) of the implicit B matrix starts at padded[c * row + j * dilation].
    offsets_.reset(new int64_t[depth_]);
    for (int64_t c = 0; c < group_channels_; ++c)
      for (int64_t j = 0; j < s.kernel; ++j) offsets_[c * s.kernel + j] = c * row_ + j * s.dilation;
    packed_.reset(new float[s.groups * panels_ * depth_ * kRows]);
    packed_bias_.reset(new float[s.groups * panels_ * kRows]);
  }

  // Packs weight [out_channels, group_channels * kernel] as panels of kRows output
  // channels, panel[r * kRows + i] = weight[o0 + i, r] (zero rows pad the last panel),
  // and the bias (or zeros) per panel.
  void pack(const float* weight, const float* bias) {
    parallel_tasks(s_.groups * panels_, [&](int64_t gp) {
      const int64_t group = gp / panels_, o0 = group * group_out_ + (gp % panels_) * kRows;
      const int64_t rows = std::min<int64_t>(kRows, (group + 1) * group_out_ - o0);
      float* panel = packed_.get() + gp * depth_ * kRows;
      for (int64_t i = 0; i < kRows; ++i)
        packed_bias_[gp * kRows + i] = i < rows && bias ? bias[o0 + i] : 0.0f;
      int64_t r0 = 0;
#if defined(__AVX512F__)
      static_assert(kRows == 8);
      if (rows == kRows) {
        // 16 depth rows at a time: the panel's 8 output channels' 16 weights each as the
        // first half of a 16 x 16 transpose, each column stored as one panel row.
        const float* src = weight + o0 * depth_;
        for (; r0 + 16 <= depth_; r0 += 16) {
          __m512 v[16];
          for (int i = 0; i < kRows; ++i) v[i] = _mm512_loadu_ps(src + i * depth_ + r0);
          for (int i = kRows; i < 16; ++i) v[i] = _mm512_setzero_ps();
          transpose16(v);
          for (int k = 0; k < 16; ++k)
            _mm256_storeu_ps(panel + (r0 + k) * kRows, _mm512_castps512_ps256(v[k]));
        }
      }
#endif
      // Row by row: each output channel's weights are read in order.
      for (int64_t i = 0; i < kRows; ++i) {
        const float* src = weight + (o0 + i) * depth_;
        for (int64_t r = r0; r < depth_; ++r) panel[r * kRows + i] = i < rows ? src[r] : 0.0f;
      }
    });
  }

  // y [batch, out_channels, out_length] with the packed weights.
  void run(float* y) const {
    const float* packed = packed_.get();
    const float* packed_bias = packed_bias_.get();
    // Tasks: blocks of positions times ranges of panels, several per thread.
    const int64_t block_cols = kBlockTiles * kTileCols;
    const int64_t blocks = ceil_div(s_.out_length, block_cols);
    const int64_t want = 4 * static_cast<int64_t>(num_threads());
    int64_t ranges = std::clamp<int64_t>(ceil_div(want, images_ * blocks), 1, panels_);
    const int64_t range_panels = ceil_div(panels_, ranges);
    ranges = ceil_div(panels_, range_panels);
    parallel_tasks(images_ * blocks * ranges, [&](int64_t task) {
      const int64_t image = task / (blocks * ranges);
      const int64_t block = (task / ranges) % blocks;
      const int64_t range = task % ranges;
      const int64_t group = image % s_.groups;
      const int64_t p_begin = block * block_cols;
      const int64_t p_end = std::min(s_.out_length, p_begin + block_cols);
      const int64_t ip_begin = range * range_panels;
      const int64_t ip_end = std::min(panels_, ip_begin + range_panels);
      const float* xi = padded_.get() + image * group_channels_ * row_;
      float* yi = y + image * group_out_ * s_.out_length;
      const float* ri =
          folds_.residual ? folds_.residual + image * group_out_ * s_.out_length : nullptr;
      for (int64_t pc = 0; pc < depth_; pc += kDepthBlock) {
        const int64_t kc = std::min(kDepthBlock, depth_ - pc);
        const bool last = pc + kc == depth_;
        for (int64_t ip = ip_begin; ip < ip_end; ++ip) {
          const int64_t gp = group * panels_ + ip;
          const float* ap = packed + (gp * depth_ + pc) * kRows;
          const float* init = pc == 0 ? packed_bias + gp * kRows : nullptr;
          const int64_t rows = std::min<int64_t>(kRows, group_out_ - ip * kRows);
          float* yp = yi + ip * kRows * s_.out_length;
          const float* rp = last && ri ? ri + ip * kRows * s_.out_length : nullptr;
          for (int64_t p = p_begin; p < p_end; p += kTileCols) {
            conv_tile(kc, ap, offsets_.get() + pc, xi + p, yp + p, s_.out_length, init,
                      rp ? rp + p : nullptr, rows, std::min(kTileCols, p_end - p));
          }
        }
      }
    });
  }

 private:
  Conv1dShape s_;
  Conv1dFolds folds_;
  int64_t group_channels_, group_out_, depth_, panels_, images_, row_;
  std::unique_ptr<float[]> padded_, packed_, packed_bias_;
  std::unique_ptr<int64_t[]> offsets_;
};

}  // namespace

void leaky_row(const float* src, float* dst, int64_t n, float slope) {
  const Simd::V sv = Simd::set1(slope);
  int64_t i = 0;
  for (; i + kW <= n; i += kW) Simd::store(dst + i, leaky_value(Simd::load(src + i), sv));
  for (; i < n; ++i) dst[i] = leaky_value(src[i], slope);
}

void conv1d_implicit_gemm(const float* x, const float* weight, const float* bias, float* y,
                          const Conv1dShape& s, const Conv1dFolds& folds) {
  static_assert(kVecs <= 3);
  if (s.out_length <= 0 || s.batch == 0 || s.out_channels == 0) return;
  ImplicitConv conv(x, s, folds);
  conv.pack(weight, bias);
  conv.run(y);
}

}  // namespace mmgen::kernels::cpu
