#include "kernels/cpu/conv1d_amx.h"

#include <algorithm>

#include "core/error.h"
#include "kernels/cpu/aligned_floats.h"
#include "kernels/cpu/amx.h"
#include "kernels/cpu/parallel.h"
#include "kernels/cpu/simd.h"
#include "kernels/cpu/transpose16.h"

#if MMGEN_HAVE_AMX
#include <immintrin.h>
#endif

namespace mmgen::kernels::cpu {

#if MMGEN_HAVE_AMX

namespace {

constexpr int64_t kBlock = 32;      // input channels per tile row (16 bf16 pairs)
constexpr int64_t kTile = 16;       // rows and f32 columns of a tile
constexpr int64_t kStep = 2 * kTile;  // positions and output channels per 2 x 2 tiles
constexpr int64_t kTileElements = kTile * kBlock;  // bf16 values in one operand tile
// A stripe's copy of x (positions x channels) stays in L2 beside the packed weights.
constexpr int64_t kStripeBytes = 128 << 10;

int64_t round_up(int64_t a, int64_t b) { return (a + b - 1) / b * b; }

struct Plan {
  int64_t channels;      // input channels rounded up to 32: the copy's row length
  int64_t out_channels;  // output channels rounded up to 32
  int64_t blocks;        // channels / 32
  int64_t halo;          // dilation * (kernel - 1)
  int64_t stripe;        // output positions per stripe, a multiple of 32
  int64_t rows;          // positions in a stripe's copy
};

Plan make_plan(const Conv1dShape& s) {
  Plan p{};
  p.channels = round_up(s.channels, kBlock);
  p.out_channels = round_up(s.out_channels, kStep);
  p.blocks = p.channels / kBlock;
  p.halo = s.dilation * (s.kernel - 1);
  const int64_t fit = std::max<int64_t>(kStep, kStripeBytes / (p.channels * 2) / kStep * kStep);
  p.stripe = std::min(fit, round_up(s.out_length, kStep));
  p.rows = p.stripe + round_up(p.halo, kTile);
  return p;
}

// The weights in the order the tiles read them: for each pair of output-channel tiles,
// each tap and each block of 32 input channels, two 16 x 16-pair tiles (output channels
// o0 .. o0 + 15, then o0 + 16 .. o0 + 31) whose row r, column n holds the bf16 pair
// (weight[o0 + n][c + 2r][j], weight[o0 + n][c + 2r + 1][j]); zero past the channels.
void pack_weight(const uint16_t* weight, uint16_t* packed, const Conv1dShape& s, const Plan& p) {
  const int64_t k = s.kernel;
  const int64_t pair_elements = k * p.blocks * 2 * kTileElements;
  parallel_tasks(p.out_channels / kStep, [&](int64_t pair) {
    uint16_t* dst = packed + pair * pair_elements;
    for (int64_t j = 0; j < k; ++j)
      for (int64_t cb = 0; cb < p.blocks; ++cb)
        for (int64_t half = 0; half < 2; ++half)
          for (int64_t r = 0; r < kTile; ++r)
            for (int64_t n = 0; n < kTile; ++n)
              for (int64_t e = 0; e < 2; ++e) {
                const int64_t o = pair * kStep + half * kTile + n, c = cb * kBlock + 2 * r + e;
                *dst++ = o < s.out_channels && c < s.channels ? weight[(o * s.channels + c) * k + j]
                                                              : uint16_t{0};
              }
  });
}

// copy[u][c] = bf16(leaky(x[c][s0 - padding + u])) for u in [0, count) (a multiple of
// 16), zero outside x and past its channels. Per 16 positions and 32 channels: the
// channel pairs as interleaved bf16 vectors (one 32-bit pair per position), then a
// 16 x 16 transpose of those pairs.
void copy_stripe(const float* x, uint16_t* copy, const Conv1dShape& s, const Plan& p,
                 int64_t s0, int64_t count, float slope) {
  const __m512i interleave =
      _mm512_set_epi16(31, 15, 30, 14, 29, 13, 28, 12, 27, 11, 26, 10, 25, 9, 24, 8, 23, 7, 22,
                       6, 21, 5, 20, 4, 19, 3, 18, 2, 17, 1, 16, 0);
  const bool leaky = slope != 1.0f;
  const __m512 vslope = _mm512_set1_ps(slope);
  auto load = [&](int64_t c, int64_t pos) {
    if (c >= s.channels) return _mm512_setzero_ps();
    const float* row = x + c * s.length;
    __m512 v;
    if (pos >= 0 && pos + kTile <= s.length) {
      v = _mm512_loadu_ps(row + pos);
    } else {
      const int64_t lo = std::max<int64_t>(0, -pos), hi = std::min<int64_t>(kTile, s.length - pos);
      if (hi <= lo) return _mm512_setzero_ps();
      const __mmask16 mask = static_cast<__mmask16>(((1u << (hi - lo)) - 1) << lo);
      v = _mm512_maskz_loadu_ps(mask, row + pos);
    }
    return leaky ? leaky_value(v, vslope) : v;
  };
  for (int64_t cb = 0; cb < p.blocks; ++cb) {
    for (int64_t u = 0; u < count; u += kTile) {
      const int64_t pos = s0 - s.padding + u;
      __m512 pairs[kTile];
      for (int64_t r = 0; r < kTile; ++r) {
        const int64_t c = cb * kBlock + 2 * r;
        const __m512bh h = _mm512_cvtne2ps_pbh(load(c + 1, pos), load(c, pos));
        pairs[r] = _mm512_castsi512_ps(
            _mm512_permutexvar_epi16(interleave, reinterpret_cast<__m512i>(h)));
      }
      transpose16(pairs);
      for (int64_t n = 0; n < kTile; ++n)
        _mm512_store_ps(copy + (u + n) * p.channels + cb * kBlock, pairs[n]);
    }
  }
}

// y[o][s0 + n] for n < valid from the stripe's copy: per 32 positions and 32 output
// channels, four accumulators over every tap and channel block, then transposed back
// to rows of y with the bias and the residual.
void stripe_products(const uint16_t* copy, const uint16_t* packed, const float* bias,
                     const float* residual, float* y, const Conv1dShape& s, const Plan& p,
                     int64_t s0, int64_t valid, float* scratch) {
  const int64_t row_bytes = p.channels * 2;
  const int64_t pair_elements = s.kernel * p.blocks * 2 * kTileElements;
  for (int64_t t = 0; t < valid; t += kStep) {
    for (int64_t o0 = 0; o0 < p.out_channels; o0 += kStep) {
      _tile_zero(0);
      _tile_zero(1);
      _tile_zero(2);
      _tile_zero(3);
      const uint16_t* w = packed + o0 / kStep * pair_elements;
      for (int64_t j = 0; j < s.kernel; ++j) {
        const uint16_t* a = copy + (t + j * s.dilation) * p.channels;
        for (int64_t cb = 0; cb < p.blocks; ++cb, w += 2 * kTileElements) {
          _tile_loadd(4, a + cb * kBlock, row_bytes);
          _tile_loadd(5, a + kTile * p.channels + cb * kBlock, row_bytes);
          _tile_loadd(6, w, 64);
          _tile_loadd(7, w + kTileElements, 64);
          _tile_dpbf16ps(0, 4, 6);
          _tile_dpbf16ps(1, 4, 7);
          _tile_dpbf16ps(2, 5, 6);
          _tile_dpbf16ps(3, 5, 7);
        }
      }
      // Tile 2 * a + b: positions t + 16 a .., output channels o0 + 16 b ..
      _tile_stored(0, scratch, 64);
      _tile_stored(1, scratch + 256, 64);
      _tile_stored(2, scratch + 512, 64);
      _tile_stored(3, scratch + 768, 64);
      for (int64_t tile = 0; tile < 4; ++tile) {
        const int64_t n0 = t + (tile >> 1) * kTile;
        const int64_t count = std::min(kTile, valid - n0);
        if (count <= 0) continue;
        const __mmask16 mask = static_cast<__mmask16>((1u << count) - 1);
        __m512 rows[kTile];
        for (int64_t r = 0; r < kTile; ++r) rows[r] = _mm512_load_ps(scratch + tile * 256 + r * 16);
        transpose16(rows);
        for (int64_t r = 0; r < kTile; ++r) {
          const int64_t o = o0 + (tile & 1) * kTile + r;
          if (o >= s.out_channels) break;
          __m512 v = rows[r];
          if (bias != nullptr) v = _mm512_add_ps(v, _mm512_set1_ps(bias[o]));
          const int64_t at = o * s.out_length + s0 + n0;
          if (residual != nullptr) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(mask, residual + at));
          _mm512_mask_storeu_ps(y + at, mask, v);
        }
      }
    }
  }
}

}  // namespace

bool conv1d_amx_applies(const Conv1dShape& s) {
  return s.groups == 1 && s.out_channels >= kTile && amx_bf16_available();
}

void conv1d_amx(const float* x, const uint16_t* weight, const float* bias, float* y,
                const Conv1dShape& s, const Conv1dFolds& folds) {
  MMGEN_CHECK(conv1d_amx_applies(s), "conv1d_amx: AMX is not available for this shape");
  const Plan p = make_plan(s);
  AlignedBuffer<uint16_t> packed_buffer;
  uint16_t* packed = packed_buffer.get(static_cast<size_t>(p.out_channels * s.kernel * p.channels));
  pack_weight(weight, packed, s, p);

  const int64_t stripes = (s.out_length + p.stripe - 1) / p.stripe;
  parallel_tasks(s.batch * stripes, [&](int64_t task) {
    const int64_t n = task / stripes, s0 = task % stripes * p.stripe;
    const int64_t valid = std::min(p.stripe, s.out_length - s0);
    thread_local AlignedBuffer<uint16_t> copy_buffer;
    thread_local AlignedFloats scratch_buffer;
    uint16_t* copy = copy_buffer.get(static_cast<size_t>(p.rows * p.channels));
    float* scratch = scratch_buffer.get(4 * kTile * kTile);
    copy_stripe(x + n * s.channels * s.length, copy, s, p, s0,
                round_up(valid, kStep) + round_up(p.halo, kTile), folds.input_slope);
    const TileScope tiles;
    const int64_t out_offset = n * s.out_channels * s.out_length;
    stripe_products(copy, packed, bias, folds.residual ? folds.residual + out_offset : nullptr,
                    y + out_offset, s, p, s0, valid, scratch);
  });
}

#else

bool conv1d_amx_applies(const Conv1dShape&) { return false; }

void conv1d_amx(const float*, const uint16_t*, const float*, float*, const Conv1dShape&,
                const Conv1dFolds&) {
  MMGEN_CHECK(false, "conv1d_amx: this build has no AMX kernels");
}

#endif

}  // namespace mmgen::kernels::cpu
