// Building blocks of the AMX convolutions (conv1d_amx.cpp, residual_stacks_amx.cpp):
// stride-1 conv1d over position-major bf16 rows on AMX tiles, and the conversions
// between PyTorch's channel-major [C, L] rows and position-major [L, C] ones.
//
// Per tap the product is [L, C] x [C, O]: tiles of 16 positions x 32 input channels
// times 32 input channels x 16 output channels, into 16 x 16 f32 accumulators. With
// positions as rows, the tile of tap j is the input read j * dilation rows further on,
// always cache-line aligned, and the accumulators are rows of the output.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "core/tensor.h"
#include "kernels/cpu/aligned_floats.h"
#include "kernels/cpu/amx.h"
#include "kernels/cpu/simd.h"

#if MMGEN_HAVE_AMX
#include <immintrin.h>
#endif

namespace mmgen::kernels::cpu::amx {

constexpr int64_t kBlock = 32;                     // input channels per tile row (16 bf16 pairs)
constexpr int64_t kTile = 16;                      // rows and f32 columns of a tile
constexpr int64_t kStep = 2 * kTile;               // positions and output channels per 2 x 2 tiles
constexpr int64_t kTileElements = kTile * kBlock;  // bf16 values in one operand tile

// A single convolution's stripe of positions (its bf16 input rows and f32 output rows)
// takes about this much, so that it stays in L2 beside the packed weights.
constexpr int64_t kStripeBytes = 256 << 10;

inline int64_t round_up(int64_t a, int64_t b) { return (a + b - 1) / b * b; }

// A conv1d's weights in the order the tiles read them, padded to whole tiles with zeros.
class PackedConv {
 public:
  // weight: bf16 (raw 16-bit values) [out_channels, channels, kernel].
  void pack(const uint16_t* weight, int64_t out_channels, int64_t channels, int64_t kernel);
  // The phases of conv_transpose1d's weight [channels, out_channels, kernel] for a stride:
  // phase r is the stride-1 convolution whose tap j is the kernel's tap r + (taps - 1 -
  // j) * stride (taps = ceil(kernel / stride); zero past the kernel).
  static std::vector<PackedConv> transposed_phases(const uint16_t* weight, int64_t channels,
                                                   int64_t out_channels, int64_t kernel,
                                                   int64_t stride);

  int64_t out_channels() const { return out_channels_; }
  int64_t channels() const { return channels_; }
  int64_t kernel() const { return kernel_; }
  int64_t padded_out_channels() const { return round_up(out_channels_, kStep); }
  int64_t padded_channels() const { return round_up(channels_, kBlock); }
  // For each pair of output-channel tiles, each tap and each block of 32 input channels:
  // two tiles of 16 bf16 pairs x 16 output channels.
  const uint16_t* tiles() const { return tiles_.data(); }
  int64_t pair_elements() const;  // bf16 values per pair of output-channel tiles

 private:
  void allocate(int64_t out_channels, int64_t channels, int64_t kernel);
  // The tiles of output channels 32 pair .. 32 pair + 31 from by_tap[o][j][c] (the
  // pair's 32 output channels x kernel taps x padded_channels()).
  void pack_pair(int64_t pair, const uint16_t* by_tap);

  int64_t out_channels_ = 0, channels_ = 0, kernel_ = 0;
  AlignedBuffer<uint16_t> tiles_;
};

// The packed form of a contiguous bf16 conv1d weight [out_channels, channels, kernel]
// (or of conv_transpose1d's phases for a stride). A read-only weight's is made once and
// kept with its storage (Storage::derived); any other weight's is made on every call.
std::shared_ptr<const PackedConv> packed_conv1d(const Tensor& weight);
std::shared_ptr<const std::vector<PackedConv>> packed_transposed_phases(const Tensor& weight,
                                                                        int64_t stride);

// A bias (f32, or null for none) padded with zeros to whole tiles of output channels:
// the rows the accumulators start from.
class PaddedBias {
 public:
  void set(const float* bias, int64_t out_channels, int64_t padded_out_channels);
  const float* data() const { return values_.data(); }

 private:
  AlignedFloats values_;
};

#if MMGEN_HAVE_AMX

// The products of conv_rows below, handing each block of 32 positions x 32 output
// channels to store(t, o0) while its accumulators are in tiles 0 .. 3 (tile 2 a + b:
// positions t + 16 a .., output channels o0 + 16 b ..). Each starts as its bias row.
template <typename Store>
void tile_products(const uint16_t* in, const PackedConv& conv, const float* bias, int64_t dilation,
                   int64_t count, Store&& store) {
  const int64_t channels = conv.padded_channels(), blocks = channels / kBlock;
  const int64_t row_bytes = channels * 2;
  for (int64_t t = 0; t < count; t += kStep) {
    for (int64_t o0 = 0; o0 < conv.padded_out_channels(); o0 += kStep) {
      // The bias rows, repeated (a row stride of 0).
      _tile_loadd(0, bias + o0, 0);
      _tile_loadd(1, bias + o0 + kTile, 0);
      _tile_loadd(2, bias + o0, 0);
      _tile_loadd(3, bias + o0 + kTile, 0);
      const uint16_t* w = conv.tiles() + o0 / kStep * conv.pair_elements();
      for (int64_t j = 0; j < conv.kernel(); ++j) {
        const uint16_t* a = in + (t + j * dilation) * channels;
        for (int64_t cb = 0; cb < blocks; ++cb, w += 2 * kTileElements) {
          _tile_loadd(4, a + cb * kBlock, row_bytes);
          _tile_loadd(5, a + kTile * channels + cb * kBlock, row_bytes);
          _tile_loadd(6, w, 64);
          _tile_loadd(7, w + kTileElements, 64);
          _tile_dpbf16ps(0, 4, 6);
          _tile_dpbf16ps(1, 4, 7);
          _tile_dpbf16ps(2, 5, 6);
          _tile_dpbf16ps(3, 5, 7);
        }
      }
      store(t, o0);
    }
  }
}

// out[p][o] = bias[o] + sum_j sum_c in[p + j * dilation][c] * weight[o][c][j] for p in
// [0, round_up(count, 32)) and o < padded_out_channels(). `in` has rows of
// padded_channels() bf16 values, of which rows [0, round_up(count, 32) + dilation *
// (kernel - 1)) are read; `out` has rows of out_stride floats (a multiple of 16); bias
// is a PaddedBias's data. Needs this thread's tiles configured (TileScope).
void conv_rows(const uint16_t* in, const PackedConv& conv, const float* bias, int64_t dilation,
               float* out, int64_t out_stride, int64_t count);

// 32 floats (two vectors, channels in order) as a convolution's bf16 input: leaky ReLU
// applied when `leaky`, rounded to nearest even, or zeros for a position outside x (the
// padding that convolution sees).
inline void store_bf16_input(uint16_t* dst, __m512 lo, __m512 hi, bool inside, bool leaky,
                             __m512 slope) {
  if (!inside) {
    _mm512_store_si512(dst, _mm512_setzero_si512());
    return;
  }
  if (leaky) {
    lo = leaky_value(lo, slope);
    hi = leaky_value(hi, slope);
  }
  _mm512_store_si512(dst, reinterpret_cast<__m512i>(_mm512_cvtne2ps_pbh(hi, lo)));
}

// rows[u][c] = bf16(leaky(x[c][pos0 + u])) for u in [0, count) (a multiple of 16) and c
// below the row length `row_stride` (a multiple of 32): zero outside x's `length`
// positions and past its `channels`. x is channel-major f32 [channels, length].
void bf16_rows_from_channels(const float* x, int64_t channels, int64_t length, int64_t pos0,
                             int64_t count, float slope, uint16_t* rows, int64_t row_stride);

// rows[u][c] = x[c][pos0 + u] in f32, with the same zeros.
void f32_rows_from_channels(const float* x, int64_t channels, int64_t length, int64_t pos0,
                            int64_t count, float* rows, int64_t row_stride);

// out[u][c] = bf16(leaky(in[u][c])) for u in [0, count) and c < row_stride (a multiple of
// 32); rows whose position pos0 + u lies outside [0, length) become zero (the padding a
// convolution of them sees).
void bf16_rows_from_rows(const float* in, int64_t count, int64_t pos0, int64_t length, float slope,
                         uint16_t* out, int64_t row_stride);

// y[c][pos0 + u] = scale * rows[u][c] + residual[c][pos0 + u] (residual may be null)
// for u < count and c < channels; y and residual are channel-major [channels, length].
void channels_from_rows(const float* rows, int64_t row_stride, int64_t channels, int64_t count,
                        float scale, const float* residual, float* y, int64_t length, int64_t pos0);

#endif

}  // namespace mmgen::kernels::cpu::amx
