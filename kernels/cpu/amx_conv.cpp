// GCC 12 reports false "may be used uninitialized" warnings inside the AVX-512 shuffle
// intrinsics of the transposes (_mm512_undefined_ps).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include "kernels/cpu/amx_conv.h"

#include <algorithm>
#include <string>

#include "kernels/cpu/parallel.h"
#include "kernels/cpu/simd.h"
#include "kernels/cpu/transpose16.h"

#if defined(__AVX512F__)
#include <immintrin.h>
#endif

namespace mmgen::kernels::cpu::amx {

void PackedConv::allocate(int64_t out_channels, int64_t channels, int64_t kernel) {
  out_channels_ = out_channels;
  channels_ = channels;
  kernel_ = kernel;
  tiles_.get(static_cast<size_t>(padded_out_channels() / kStep * pair_elements()));
}

void PaddedBias::set(const float* bias, int64_t out_channels, int64_t padded_out_channels) {
  float* values = values_.get(static_cast<size_t>(padded_out_channels));
  for (int64_t o = 0; o < padded_out_channels; ++o)
    values[o] = bias != nullptr && o < out_channels ? bias[o] : 0.0f;
}

int64_t PackedConv::pair_elements() const {
  return kernel_ * padded_channels() / kBlock * 2 * kTileElements;
}

void PackedConv::pack_pair(int64_t pair, const uint16_t* by_tap) {
  // Per tap, block and tile a 16 x 16 transpose of bf16 pairs: row r of a tile holds
  // channels (2r, 2r + 1) of its 16 output channels.
  const int64_t padded = padded_channels(), blocks = padded / kBlock;
  uint16_t* out = tiles_.data() + pair * pair_elements();
  for (int64_t j = 0; j < kernel_; ++j)
    for (int64_t cb = 0; cb < blocks; ++cb)
      for (int64_t tile = 0; tile < 2; ++tile, out += kTileElements) {
        const uint16_t* rows = by_tap + (tile * kTile * kernel_ + j) * padded + cb * kBlock;
#if defined(__AVX512F__)
        __m512 v[kTile];
        for (int64_t n = 0; n < kTile; ++n) v[n] = _mm512_loadu_ps(rows + n * kernel_ * padded);
        transpose16(v);
        for (int64_t r = 0; r < kTile; ++r) _mm512_store_ps(out + r * kBlock, v[r]);
#else
        for (int64_t n = 0; n < kTile; ++n)
          for (int64_t c = 0; c < kBlock; ++c)
            out[(c / 2) * kBlock + n * 2 + c % 2] = rows[n * kernel_ * padded + c];
#endif
      }
}

void PackedConv::pack(const uint16_t* weight, int64_t out_channels, int64_t channels,
                      int64_t kernel) {
  allocate(out_channels, channels, kernel);
  const int64_t padded = padded_channels();
  parallel_tasks(padded_out_channels() / kStep, [&](int64_t pair) {
    // by_tap[o][j][c] = weight[o][c][j] for the pair's 32 output channels, zero past
    // the channels.
    thread_local AlignedBuffer<uint16_t> by_tap_buffer;
    uint16_t* by_tap = by_tap_buffer.get(static_cast<size_t>(kStep * kernel * padded));
    std::fill(by_tap, by_tap + kStep * kernel * padded, uint16_t{0});
    for (int64_t i = 0; i < kStep && pair * kStep + i < out_channels; ++i) {
      const int64_t o = pair * kStep + i;
      const uint16_t* src = weight + o * channels * kernel;
      uint16_t* dst = by_tap + i * kernel * padded;
      int64_t c0 = 0;
#if defined(__AVX512F__)
      // 16 channels of a tap at a time: a gather of the 32-bit words that start at
      // their weights (the low halves), narrowed to 16 bits. The last output channel
      // stays scalar: its last word would reach 2 bytes past the weight.
      if (o + 1 < out_channels) {
        const __m512i offsets = _mm512_mullo_epi32(
            _mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0),
            _mm512_set1_epi32(static_cast<int>(kernel * 2)));
        for (; c0 + kTile <= channels; c0 += kTile)
          for (int64_t j = 0; j < kernel; ++j) {
            const __m512i words = _mm512_i32gather_epi32(offsets, src + c0 * kernel + j, 1);
            _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst + j * padded + c0),
                                _mm512_cvtepi32_epi16(words));
          }
      }
#endif
      for (int64_t c = c0; c < channels; ++c)
        for (int64_t j = 0; j < kernel; ++j) dst[j * padded + c] = src[c * kernel + j];
    }
    pack_pair(pair, by_tap);
  });
}

std::vector<PackedConv> PackedConv::transposed_phases(const uint16_t* weight, int64_t channels,
                                                      int64_t out_channels, int64_t kernel,
                                                      int64_t stride) {
  const int64_t taps = (kernel + stride - 1) / stride;
  std::vector<PackedConv> phases(static_cast<size_t>(stride));
  for (PackedConv& phase : phases) phase.allocate(out_channels, channels, taps);
  const int64_t padded = phases[0].padded_channels();
  const int64_t phase_elements = kStep * taps * padded;
  parallel_tasks(phases[0].padded_out_channels() / kStep, [&](int64_t pair) {
    // For every phase, by_tap[o][j][c] as in pack. The pair's (c, o) rows of taps lie
    // together in the weight: 32 input channels at a time are copied out in order, then
    // dealt to the phases' rows 32 channels at a time.
    constexpr int64_t kChannels = 32;
    thread_local AlignedBuffer<uint16_t> by_tap_buffer, block_buffer;
    uint16_t* by_tap = by_tap_buffer.get(static_cast<size_t>(stride * phase_elements));
    uint16_t* block = block_buffer.get(static_cast<size_t>(kStep * kChannels * kernel));
    std::fill(by_tap, by_tap + stride * phase_elements, uint16_t{0});
    const int64_t o0 = pair * kStep, outs = std::min(out_channels - o0, kStep);
    for (int64_t c0 = 0; c0 < channels; c0 += kChannels) {
      const int64_t count = std::min(kChannels, channels - c0);
      // block[o][c][k] = weight[c0 + c][o0 + o][k]
      for (int64_t c = 0; c < count; ++c)
        for (int64_t o = 0; o < outs; ++o)
          std::copy_n(weight + ((c0 + c) * out_channels + o0 + o) * kernel, kernel,
                      block + (o * kChannels + c) * kernel);
      for (int64_t o = 0; o < outs; ++o)
        for (int64_t k = 0; k < kernel; ++k) {
          // Tap k belongs to phase k % stride as its tap taps - 1 - k / stride.
          const int64_t r = k % stride, j = taps - 1 - k / stride;
          uint16_t* dst = by_tap + r * phase_elements + (o * taps + j) * padded + c0;
          const uint16_t* src = block + o * kChannels * kernel + k;
          for (int64_t c = 0; c < count; ++c) dst[c] = src[c * kernel];
        }
    }
    for (int64_t r = 0; r < stride; ++r) phases[r].pack_pair(pair, by_tap + r * phase_elements);
  });
  return phases;
}

namespace {

// The form of a read-only weight is kept under a key naming it and the view it was made
// from (views of one storage may be different weights).
std::string view_key(const char* form, const Tensor& weight) {
  return std::string(form) + " at " + std::to_string(weight.byte_offset()) + " " +
         shape_str(weight.shape());
}

}  // namespace

std::shared_ptr<const PackedConv> packed_conv1d(const Tensor& weight) {
  auto make = [&] {
    auto packed = std::make_shared<PackedConv>();
    packed->pack(static_cast<const uint16_t*>(weight.data()), weight.dim(0), weight.dim(1),
                 weight.dim(2));
    return packed;
  };
  if (!weight.storage()->read_only()) return make();
  return std::static_pointer_cast<const PackedConv>(
      weight.storage()->derived(view_key("amx conv1d", weight), make));
}

std::shared_ptr<const std::vector<PackedConv>> packed_transposed_phases(const Tensor& weight,
                                                                        int64_t stride) {
  auto make = [&] {
    return std::make_shared<const std::vector<PackedConv>>(
        PackedConv::transposed_phases(static_cast<const uint16_t*>(weight.data()), weight.dim(0),
                                      weight.dim(1), weight.dim(2), stride));
  };
  if (!weight.storage()->read_only()) return make();
  return std::static_pointer_cast<const std::vector<PackedConv>>(weight.storage()->derived(
      view_key("amx conv_transpose1d", weight) + " stride " + std::to_string(stride), make));
}

#if MMGEN_HAVE_AMX

void conv_rows(const uint16_t* in, const PackedConv& conv, const float* bias, int64_t dilation,
               float* out, int64_t out_stride, int64_t count) {
  const int64_t out_bytes = out_stride * 4;
  tile_products(in, conv, bias, dilation, count, [&](int64_t t, int64_t o0) {
    float* y = out + t * out_stride + o0;
    _tile_stored(0, y, out_bytes);
    _tile_stored(1, y + kTile, out_bytes);
    _tile_stored(2, y + kTile * out_stride, out_bytes);
    _tile_stored(3, y + kTile * out_stride + kTile, out_bytes);
  });
}

namespace {

// 16 floats of a channel-major row from position pos, zero outside [0, length).
inline __m512 load_positions(const float* row, int64_t pos, int64_t length) {
  if (pos >= 0 && pos + kTile <= length) return _mm512_loadu_ps(row + pos);
  const int64_t lo = std::max<int64_t>(0, -pos), hi = std::min<int64_t>(kTile, length - pos);
  if (hi <= lo) return _mm512_setzero_ps();
  const __mmask16 mask = static_cast<__mmask16>(((1u << (hi - lo)) - 1) << lo);
  return _mm512_maskz_loadu_ps(mask, row + pos);
}

// Two 16-float vectors as 32 bf16 values, a's first (round to nearest even).
inline __m512i bf16_pair(__m512 a, __m512 b) {
  return reinterpret_cast<__m512i>(_mm512_cvtne2ps_pbh(b, a));
}

}  // namespace

void bf16_rows_from_channels(const float* x, int64_t channels, int64_t length, int64_t pos0,
                             int64_t count, float slope, uint16_t* rows, int64_t row_stride) {
  // Per 16 positions and 32 channels: each channel pair as one bf16 pair per position
  // (16 32-bit values), then a 16 x 16 transpose of those pairs.
  const __m512i interleave =
      _mm512_set_epi16(31, 15, 30, 14, 29, 13, 28, 12, 27, 11, 26, 10, 25, 9, 24, 8, 23, 7, 22, 6,
                       21, 5, 20, 4, 19, 3, 18, 2, 17, 1, 16, 0);
  const bool leaky = slope != 1.0f;
  const __m512 vslope = _mm512_set1_ps(slope);
  auto load = [&](int64_t c, int64_t pos) {
    if (c >= channels) return _mm512_setzero_ps();
    const __m512 v = load_positions(x + c * length, pos, length);
    return leaky ? leaky_value(v, vslope) : v;
  };
  for (int64_t cb = 0; cb < row_stride; cb += kBlock) {
    for (int64_t u = 0; u < count; u += kTile) {
      __m512 pairs[kTile];
      for (int64_t r = 0; r < kTile; ++r) {
        const int64_t c = cb + 2 * r;
        pairs[r] = _mm512_castsi512_ps(_mm512_permutexvar_epi16(
            interleave, bf16_pair(load(c, pos0 + u), load(c + 1, pos0 + u))));
      }
      transpose16(pairs);
      for (int64_t n = 0; n < kTile; ++n)
        _mm512_store_ps(rows + (u + n) * row_stride + cb, pairs[n]);
    }
  }
}

void f32_rows_from_channels(const float* x, int64_t channels, int64_t length, int64_t pos0,
                            int64_t count, float* rows, int64_t row_stride) {
  for (int64_t cb = 0; cb < row_stride; cb += kTile) {
    for (int64_t u = 0; u < count; u += kTile) {
      __m512 v[kTile];
      for (int64_t r = 0; r < kTile; ++r)
        v[r] = cb + r < channels ? load_positions(x + (cb + r) * length, pos0 + u, length)
                                 : _mm512_setzero_ps();
      transpose16(v);
      for (int64_t n = 0; n < kTile; ++n) _mm512_store_ps(rows + (u + n) * row_stride + cb, v[n]);
    }
  }
}

void bf16_rows_from_rows(const float* in, int64_t count, int64_t pos0, int64_t length, float slope,
                         uint16_t* out, int64_t row_stride) {
  const bool leaky = slope != 1.0f;
  const __m512 vslope = _mm512_set1_ps(slope);
  for (int64_t u = 0; u < count; ++u) {
    const bool inside = pos0 + u >= 0 && pos0 + u < length;
    const float* src = in + u * row_stride;
    for (int64_t c = 0; c < row_stride; c += kBlock)
      store_bf16_input(out + u * row_stride + c, _mm512_load_ps(src + c),
                       _mm512_load_ps(src + c + kTile), inside, leaky, vslope);
  }
}

void channels_from_rows(const float* rows, int64_t row_stride, int64_t channels, int64_t count,
                        float scale, const float* residual, float* y, int64_t length,
                        int64_t pos0) {
  const __m512 vscale = _mm512_set1_ps(scale);
  for (int64_t cb = 0; cb < channels; cb += kTile) {
    for (int64_t u = 0; u < count; u += kTile) {
      __m512 v[kTile];
      for (int64_t n = 0; n < kTile; ++n) v[n] = _mm512_load_ps(rows + (u + n) * row_stride + cb);
      transpose16(v);
      const int64_t valid = std::min(kTile, count - u);
      const __mmask16 mask = static_cast<__mmask16>((1u << valid) - 1);
      for (int64_t r = 0; r < kTile && cb + r < channels; ++r) {
        const int64_t at = (cb + r) * length + pos0 + u;
        __m512 out = _mm512_mul_ps(v[r], vscale);
        if (residual != nullptr)
          out = _mm512_add_ps(out, _mm512_maskz_loadu_ps(mask, residual + at));
        _mm512_mask_storeu_ps(y + at, mask, out);
      }
    }
  }
}

#endif

}  // namespace mmgen::kernels::cpu::amx
