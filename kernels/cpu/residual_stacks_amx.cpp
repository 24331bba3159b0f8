// GCC 12 reports false "may be used uninitialized" warnings inside the AVX-512 min/max
// intrinsics of the leaky ReLU (_mm512_undefined_ps).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include "kernels/cpu/residual_stacks_amx.h"

#include <algorithm>

#include "core/error.h"
#include "kernels/cpu/amx_conv.h"
#include "kernels/cpu/parallel.h"
#include "kernels/cpu/simd.h"

#if MMGEN_HAVE_AMX
#include <immintrin.h>
#endif

namespace mmgen::kernels::cpu {

#if MMGEN_HAVE_AMX

namespace {

using amx::kStep;
using amx::kTile;
using amx::round_up;

// The stripe's rows (x in f32 and bf16, a stack's running value, two bf16 inputs and
// the sum of the stacks) take about this much, mostly in L2 (2 MiB here); the packed
// weights of the convolution running stream through the rest.
constexpr int64_t kStacksStripeBytes = 2 << 20;
// Stripes at least this many times the stacks' reach on each side, or the positions
// computed twice (each stripe's halo) cost more than leaving L2 does (measured with
// HiFi-GAN V1: 256 channels take stripes of 480 positions, not 224).
constexpr int64_t kMinStripeReaches = 8;

struct Conv {
  std::shared_ptr<const amx::PackedConv> packed;
  amx::PaddedBias bias;
  int64_t dilation = 1;
  int64_t reach = 0;  // dilation * (kernel - 1) / 2: positions read on each side
};
using Unit = std::vector<Conv>;
using Stack = std::vector<Unit>;

int64_t stack_reach(const Stack& stack) {
  int64_t reach = 0;
  for (const Unit& unit : stack)
    for (const Conv& conv : unit) reach += conv.reach;
  return reach;
}

// Runs one convolution over input rows `in` (row 0 = stripe row `first`), `count`
// outputs from stripe row first + reach, and hands each output row (stripe row, 32
// channels from o0, as two vectors) to `use`. scratch: 32 x 32 floats, one block of
// accumulators.
template <typename Use>
void convolve_rows(float* scratch, const uint16_t* in, const Conv& conv, int64_t first,
                   int64_t count, Use&& use) {
  amx::tile_products(in, *conv.packed, conv.bias.data(), conv.dilation, count,
                     [&](int64_t t, int64_t o0) {
                       _tile_stored(0, scratch, kStep * 4);
                       _tile_stored(1, scratch + kTile, kStep * 4);
                       _tile_stored(2, scratch + kTile * kStep, kStep * 4);
                       _tile_stored(3, scratch + kTile * kStep + kTile, kStep * 4);
                       const int64_t row0 = first + conv.reach + t;
                       for (int64_t p = 0; p < kStep; ++p)
                         use(row0 + p, o0, _mm512_load_ps(scratch + p * kStep),
                             _mm512_load_ps(scratch + p * kStep + kTile));
                     });
}

}  // namespace

bool residual_stacks_amx_applies(int64_t channels) {
  return channels >= kTile && amx_bf16_available();
}

Tensor residual_stacks_mean_amx(const Tensor& x, const std::vector<ResidualStack>& stacks,
                                float negative_slope) {
  MMGEN_CHECK(residual_stacks_amx_applies(x.dim(1)),
              "residual_stacks_mean: AMX is not available for ", x.dim(1), " channels");
  const int64_t batch = x.dim(0), channels = x.dim(1), length = x.dim(2);
  std::vector<Stack> packed(stacks.size());
  int64_t reach = 0;  // the widest stack's
  for (size_t i = 0; i < stacks.size(); ++i) {
    for (const ResidualUnit& unit : stacks[i]) {
      Unit& packed_unit = packed[i].emplace_back();
      for (const StackConv& conv : unit) {
        Conv& c = packed_unit.emplace_back();
        // Views are allowed: a contiguous copy is packed on every call.
        c.packed = amx::packed_conv1d(conv.weight.contiguous());
        const Tensor bias = conv.bias.defined() ? conv.bias.to(DType::kF32).contiguous() : Tensor();
        c.bias.set(bias.defined() ? bias.typed_data<float>() : nullptr, channels,
                   c.packed->padded_out_channels());
        c.dilation = conv.dilation;
        c.reach = conv.dilation * (conv.weight.dim(2) - 1) / 2;
      }
    }
    reach = std::max(reach, stack_reach(packed[i]));
  }

  // Rows of a stripe: origin at s0 - reach; a convolution may write up to a tile pair
  // past its range and read its span past that.
  const int64_t width = round_up(channels, amx::kBlock);
  const int64_t bytes_per_row = width * (4 + 2 + 4 + 2 + 2 + 4);
  int64_t stripe = (kStacksStripeBytes / bytes_per_row - 2 * reach) / kStep * kStep;
  stripe = std::max({stripe, round_up(kMinStripeReaches * reach, kStep), 4 * kStep});
  stripe = std::min(stripe, round_up(length, kStep));
  int64_t max_span = 0;
  for (const Stack& stack : packed)
    for (const Unit& unit : stack)
      for (const Conv& conv : unit) max_span = std::max(max_span, 2 * conv.reach);
  const int64_t rows = stripe + 2 * reach + kStep + round_up(max_span, kTile);
  const int64_t stripes = (length + stripe - 1) / stripe;
  const float mean = 1.0f / static_cast<float>(stacks.size());

  Tensor y = Tensor::empty(x.shape(), DType::kF32);
  const float* xp = x.typed_data<float>();
  float* yp = y.typed_data<float>();
  parallel_tasks(batch * stripes, [&](int64_t task) {
    const int64_t n = task / stripes, s0 = task % stripes * stripe;
    const int64_t valid = std::min(stripe, length - s0);
    // x's rows (f32, for the first units' residuals, and bf16 with the activation, for
    // the stacks' first convolutions); a stack's running value h; two bf16 inputs in
    // turn for the convolutions after the first; the sum of the stacks.
    thread_local AlignedFloats x_buffer, h_buffer, sum_buffer, scratch_buffer;
    thread_local AlignedBuffer<uint16_t> x_in_buffer, in_buffers[2];
    const auto size = static_cast<size_t>(rows * width);
    float* xr = x_buffer.get(size);
    float* h = h_buffer.get(size);
    float* sum = sum_buffer.get(static_cast<size_t>(round_up(valid, kTile) * width));
    uint16_t* x_in = x_in_buffer.get(size);
    uint16_t* ins[2] = {in_buffers[0].get(size), in_buffers[1].get(size)};
    float* scratch = scratch_buffer.get(kStep * kStep);
    const int64_t origin = s0 - reach;  // the position of row 0
    const bool leaky = negative_slope != 1.0f;
    const __m512 vslope = _mm512_set1_ps(negative_slope);
    const int64_t x_rows = round_up(valid + 2 * reach, kTile);
    amx::f32_rows_from_channels(xp + n * channels * length, channels, length, origin, x_rows, xr,
                                width);
    amx::bf16_rows_from_rows(xr, x_rows, origin, length, negative_slope, x_in, width);
    const TileScope tiles;
    for (size_t i = 0; i < packed.size(); ++i) {
      // The stack's rows [first, last) shrink by each convolution's reach.
      int64_t first = reach - stack_reach(packed[i]), last = reach + valid + (reach - first);
      const uint16_t* in = x_in + first * width;  // row `first` of the input
      const float* residual = xr;                 // the unit's input, f32
      int next = 0;
      for (size_t u = 0; u < packed[i].size(); ++u) {
        const Unit& unit = packed[i][u];
        const bool last_unit = u + 1 == packed[i].size();
        for (size_t c = 0; c < unit.size(); ++c) {
          const Conv& conv = unit[c];
          const int64_t count = last - first - 2 * conv.reach;
          uint16_t* out_in = ins[next];  // the next convolution's input rows
          const int64_t out_first = first + conv.reach;
          auto input_row = [&](int64_t row, int64_t o0) {
            return out_in + (row - out_first) * width + o0;
          };
          auto inside = [&](int64_t row) {
            const int64_t pos = origin + row;
            return pos >= 0 && pos < length;
          };
          if (c + 1 < unit.size()) {
            // Inside a unit: the output only feeds the next convolution.
            convolve_rows(scratch, in, conv, first, count,
                          [&](int64_t row, int64_t o0, __m512 lo, __m512 hi) {
                            amx::store_bf16_input(input_row(row, o0), lo, hi, inside(row), leaky,
                                                  vslope);
                          });
          } else if (!last_unit) {
            // A unit's end: h = its input + the output, and h feeds the next unit.
            convolve_rows(scratch, in, conv, first, count,
                          [&](int64_t row, int64_t o0, __m512 lo, __m512 hi) {
                            const float* r = residual + row * width + o0;
                            float* hr = h + row * width + o0;
                            lo = _mm512_add_ps(_mm512_load_ps(r), lo);
                            hi = _mm512_add_ps(_mm512_load_ps(r + kTile), hi);
                            _mm512_store_ps(hr, lo);
                            _mm512_store_ps(hr + kTile, hi);
                            amx::store_bf16_input(input_row(row, o0), lo, hi, inside(row), leaky,
                                                  vslope);
                          });
          } else {
            // The stack's end: its value is added to the sum of the stacks.
            const bool first_stack = i == 0;
            convolve_rows(scratch, in, conv, first, count,
                          [&](int64_t row, int64_t o0, __m512 lo, __m512 hi) {
                            const int64_t u_out = row - reach;
                            if (u_out >= valid) return;
                            const float* r = residual + row * width + o0;
                            lo = _mm512_add_ps(_mm512_load_ps(r), lo);
                            hi = _mm512_add_ps(_mm512_load_ps(r + kTile), hi);
                            float* sr = sum + u_out * width + o0;
                            if (!first_stack) {
                              lo = _mm512_add_ps(_mm512_load_ps(sr), lo);
                              hi = _mm512_add_ps(_mm512_load_ps(sr + kTile), hi);
                            }
                            _mm512_store_ps(sr, lo);
                            _mm512_store_ps(sr + kTile, hi);
                          });
          }
          first = out_first;
          last -= conv.reach;
          in = out_in;
          next ^= 1;
        }
        residual = h;
      }
    }
    amx::channels_from_rows(sum, width, channels, valid, mean, nullptr, yp + n * channels * length,
                            length, s0);
  });
  return y;
}

#else

bool residual_stacks_amx_applies(int64_t) { return false; }

Tensor residual_stacks_mean_amx(const Tensor&, const std::vector<ResidualStack>&, float) {
  MMGEN_CHECK(false, "residual_stacks_mean: this build has no AMX kernels");
}

#endif

}  // namespace mmgen::kernels::cpu
