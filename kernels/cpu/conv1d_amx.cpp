#include "kernels/cpu/conv1d_amx.h"

#include <algorithm>

#include "core/error.h"
#include "kernels/cpu/aligned_floats.h"
#include "kernels/cpu/amx.h"
#include "kernels/cpu/parallel.h"
#include "kernels/cpu/simd.h"

#if MMGEN_HAVE_AMX
#include <immintrin.h>
#endif

namespace mmgen::kernels::cpu {

#if MMGEN_HAVE_AMX

namespace {

constexpr int64_t kBlockChannels = 32;  // input channels per operand tile (16 pairs)
constexpr int64_t kTile = 16;           // rows / columns of an accumulator tile
constexpr int64_t kStep = 2 * kTile;    // output channels / positions per 2 x 2 tiles
// A stripe's bf16 copy of x stays in L2 while every output channel reads it.
constexpr int64_t kStripeBytes = 256 << 10;

int64_t round_up(int64_t a, int64_t b) { return (a + b - 1) / b * b; }

struct Plan {
  int64_t channels;      // input channels rounded up to 32
  int64_t out_channels;  // output channels rounded up to 32
  int64_t halo;          // dilation * (kernel - 1)
  int64_t stripe;        // output positions per stripe, a multiple of 32
  int64_t width;         // positions per row of a stripe's copy
};

Plan make_plan(const Conv1dShape& s) {
  Plan p{};
  p.channels = round_up(s.channels, kBlockChannels);
  p.out_channels = round_up(s.out_channels, kStep);
  p.halo = s.dilation * (s.kernel - 1);
  const int64_t fit = std::max<int64_t>(kStep, kStripeBytes / (p.channels * 2) / kStep * kStep);
  p.stripe = std::min(fit, round_up(s.out_length, kStep));
  // Rows of an odd number of cache lines, so a tile's 16 rows fall in different sets.
  p.width = round_up(p.stripe + p.halo, kTile);
  if ((p.width / kTile) % 2 == 0) p.width += kTile;
  return p;
}

// packed[o][j][c] = weight[o][c][j], zero for the padding channels.
void pack_weight(const uint16_t* weight, uint16_t* packed, const Conv1dShape& s, const Plan& p) {
  const int64_t k = s.kernel;
  parallel_chunks(p.out_channels, 8, [&](int64_t o0, int64_t o1) {
    for (int64_t o = o0; o < o1; ++o) {
      uint16_t* dst = packed + o * k * p.channels;
      std::fill(dst, dst + k * p.channels, uint16_t{0});
      if (o >= s.out_channels) continue;
      const uint16_t* src = weight + o * s.channels * k;
      for (int64_t c = 0; c < s.channels; ++c)
        for (int64_t j = 0; j < k; ++j) dst[j * p.channels + c] = src[c * k + j];
    }
  });
}

// Row r of the copy holds, for positions u in [0, count), the bf16 pair (channel 2r,
// channel 2r + 1) of leaky(x) at s0 - padding + u, zero outside x.
void copy_stripe(const float* x, uint16_t* copy, const Conv1dShape& s, const Plan& p,
                 int64_t s0, int64_t count, float slope) {
  const __m512i interleave =
      _mm512_set_epi16(31, 15, 30, 14, 29, 13, 28, 12, 27, 11, 26, 10, 25, 9, 24, 8, 23, 7, 22,
                       6, 21, 5, 20, 4, 19, 3, 18, 2, 17, 1, 16, 0);
  const bool leaky = slope != 1.0f;
  const __m512 vslope = _mm512_set1_ps(slope);
  auto load = [&](const float* row, int64_t pos) {
    if (row == nullptr) return _mm512_setzero_ps();
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
  for (int64_t r = 0; r < p.channels / 2; ++r) {
    const int64_t c = 2 * r;
    const float* a = c < s.channels ? x + c * s.length : nullptr;
    const float* b = c + 1 < s.channels ? x + (c + 1) * s.length : nullptr;
    uint16_t* dst = copy + r * p.width * 2;
    for (int64_t u = 0; u < count; u += kTile) {
      const int64_t pos = s0 - s.padding + u;
      const __m512bh pairs = _mm512_cvtne2ps_pbh(load(b, pos), load(a, pos));
      _mm512_store_si512(dst + 2 * u,
                         _mm512_permutexvar_epi16(interleave, reinterpret_cast<__m512i>(pairs)));
    }
  }
}

// y[o][s0 + n] for n < valid, from the stripe's copy, by 2 x 2 accumulator tiles.
void stripe_products(const uint16_t* copy, const uint16_t* packed, const float* bias,
                     const float* residual, float* y, const Conv1dShape& s, const Plan& p,
                     int64_t s0, int64_t valid, float* scratch) {
  const int64_t k = s.kernel, cp = p.channels;
  const int64_t a_stride = k * cp * 2, b_stride = p.width * 4;
  const int64_t blocks = cp / kBlockChannels;
  for (int64_t o0 = 0; o0 < p.out_channels; o0 += kStep) {
    for (int64_t t = 0; t < valid; t += kStep) {
      _tile_zero(0);
      _tile_zero(1);
      _tile_zero(2);
      _tile_zero(3);
      for (int64_t j = 0; j < k; ++j) {
        const uint16_t* a = packed + (o0 * k + j) * cp;
        const uint16_t* b = copy + (t + j * s.dilation) * 2;
        for (int64_t cb = 0; cb < blocks; ++cb) {
          _tile_loadd(4, a + cb * kBlockChannels, a_stride);
          _tile_loadd(5, a + kTile * k * cp + cb * kBlockChannels, a_stride);
          _tile_loadd(6, b + cb * kTile * p.width * 2, b_stride);
          _tile_loadd(7, b + cb * kTile * p.width * 2 + 2 * kTile, b_stride);
          _tile_dpbf16ps(0, 4, 6);
          _tile_dpbf16ps(1, 4, 7);
          _tile_dpbf16ps(2, 5, 6);
          _tile_dpbf16ps(3, 5, 7);
        }
      }
      _tile_stored(0, scratch, 64);
      _tile_stored(1, scratch + 256, 64);
      _tile_stored(2, scratch + 512, 64);
      _tile_stored(3, scratch + 768, 64);
      for (int tile = 0; tile < 4; ++tile) {
        const int64_t n0 = t + (tile & 1) * kTile;
        const int64_t count = std::min(kTile, valid - n0);
        if (count <= 0) continue;
        const __mmask16 mask = static_cast<__mmask16>((1u << count) - 1);
        for (int64_t r = 0; r < kTile; ++r) {
          const int64_t o = o0 + (tile >> 1) * kTile + r;
          if (o >= s.out_channels) break;
          __m512 v = _mm512_load_ps(scratch + tile * 256 + r * kTile);
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
    uint16_t* copy = copy_buffer.get(static_cast<size_t>(p.channels * p.width));
    float* scratch = scratch_buffer.get(4 * kTile * kTile);
    const int64_t count = round_up(valid, kStep) + round_up(p.halo, kTile);
    copy_stripe(x + n * s.channels * s.length, copy, s, p, s0, std::min(count, p.width),
                folds.input_slope);
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
