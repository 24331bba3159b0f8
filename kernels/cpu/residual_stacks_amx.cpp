#include "kernels/cpu/residual_stacks_amx.h"

#include <algorithm>

#include "core/error.h"
#include "kernels/cpu/amx_conv.h"
#include "kernels/cpu/parallel.h"

#if MMGEN_HAVE_AMX
#include <immintrin.h>
#endif

namespace mmgen::kernels::cpu {

#if MMGEN_HAVE_AMX

namespace {

using amx::kStep;
using amx::kTile;
using amx::round_up;

// The stripe's rows (x, a stack's running value, a convolution's output, the bf16
// input copy and the sum of the stacks) take about this much, mostly in L2; the packed
// weights of the convolution running stream through the rest.
constexpr int64_t kStripeBytes = 3 << 19;
// Stripes at least this many times the stacks' reach on each side, or the positions
// computed twice (each stripe's halo) cost more than leaving L2 does (measured with
// HiFi-GAN V1: 256 channels take stripes of 480 positions, not 224).
constexpr int64_t kMinStripeReaches = 8;

struct Conv {
  amx::PackedConv packed;
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

// a[i] += b[i] for `rows` rows of `width` floats (a multiple of 16).
void add_rows(float* a, const float* b, int64_t rows, int64_t width) {
  for (int64_t i = 0; i < rows * width; i += kTile)
    _mm512_store_ps(a + i, _mm512_add_ps(_mm512_load_ps(a + i), _mm512_load_ps(b + i)));
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
        const Tensor weight = conv.weight.contiguous();  // views are allowed
        const Tensor bias = conv.bias.defined() ? conv.bias.to(DType::kF32).contiguous() : Tensor();
        c.packed.pack(static_cast<const uint16_t*>(weight.data()),
                      bias.defined() ? bias.typed_data<float>() : nullptr, channels, channels,
                      conv.weight.dim(2));
        c.dilation = conv.dilation;
        c.reach = conv.dilation * (conv.weight.dim(2) - 1) / 2;
      }
    }
    reach = std::max(reach, stack_reach(packed[i]));
  }

  // Rows of a stripe: origin at s0 - reach; a convolution may write up to a tile pair
  // past its range and read its span past that.
  const int64_t width = round_up(channels, amx::kBlock);
  const int64_t bytes_per_row = width * (4 + 4 + 4 + 2 + 4);
  int64_t stripe = (kStripeBytes / bytes_per_row - 2 * reach) / kStep * kStep;
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
    const int64_t origin = s0 - reach;  // the position of row 0
    thread_local AlignedFloats x_buffer, h_buffer, a_buffer, sum_buffer;
    thread_local AlignedBuffer<uint16_t> in_buffer;
    const auto size = static_cast<size_t>(rows * width);
    float* xr = x_buffer.get(size);
    float* h = h_buffer.get(size);
    float* a = a_buffer.get(size);
    float* sum = sum_buffer.get(static_cast<size_t>(round_up(valid, kTile) * width));
    uint16_t* in = in_buffer.get(size);
    amx::f32_rows_from_channels(xp + n * channels * length, channels, length, origin,
                                round_up(valid + 2 * reach, kTile), xr, width);
    const TileScope tiles;
    for (size_t i = 0; i < packed.size(); ++i) {
      // The stack's rows [first, last) shrink by each convolution's reach.
      int64_t first = reach - stack_reach(packed[i]), last = reach + valid + (reach - first);
      std::copy(xr + first * width, xr + last * width, h + first * width);
      for (const Unit& unit : packed[i]) {
        const float* src = h;
        for (const Conv& conv : unit) {
          const int64_t count = last - first - 2 * conv.reach;
          amx::bf16_rows_from_rows(src + first * width, round_up(count, kStep) + 2 * conv.reach,
                                   origin + first, length, negative_slope, in, width);
          amx::conv_rows(in, conv.packed, conv.dilation, a + (first + conv.reach) * width, width,
                         count);
          first += conv.reach;
          last -= conv.reach;
          src = a;
        }
        add_rows(h + first * width, a + first * width, last - first, width);
      }
      if (i == 0) {
        std::copy(h + reach * width, h + (reach + valid) * width, sum);
      } else {
        add_rows(sum, h + reach * width, valid, width);
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
