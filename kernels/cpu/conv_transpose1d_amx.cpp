#include "kernels/cpu/conv_transpose1d_amx.h"

#include <algorithm>
#include <vector>

#include "core/error.h"
#include "kernels/cpu/amx_conv.h"
#include "kernels/cpu/parallel.h"

namespace mmgen::kernels::cpu {

#if MMGEN_HAVE_AMX

namespace {

int64_t floor_div(int64_t a, int64_t b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }

}  // namespace

bool conv_transpose1d_amx_applies(const ConvTranspose1dShape& s) {
  return s.out_channels >= amx::kTile && amx_bf16_available();
}

void conv_transpose1d_amx(const float* x, const std::vector<amx::PackedConv>& phases,
                          const float* bias, float* y, const ConvTranspose1dShape& s,
                          float input_slope) {
  MMGEN_CHECK(conv_transpose1d_amx_applies(s),
              "conv_transpose1d_amx: AMX is not available for this shape");
  const int64_t taps = (s.kernel + s.stride - 1) / s.stride;
  amx::PaddedBias padded_bias;
  padded_bias.set(bias, s.out_channels, phases[0].padded_out_channels());
  const int64_t channels = phases[0].padded_channels();
  const int64_t out_channels = phases[0].padded_out_channels();

  // Input positions m (each giving outputs m * stride + r - padding) in stripes of a
  // multiple of 32: from the first m whose last phase lands at or after 0 to the last
  // whose first phase lands before out_length.
  const int64_t m_first = floor_div(s.padding - s.stride + 1, s.stride);
  const int64_t m_end = floor_div(s.out_length + s.padding - 1, s.stride) + 1;
  const int64_t per_m = channels * 2 + s.stride * out_channels * 4;
  const int64_t fit = std::max(amx::kStep, amx::kStripeBytes / per_m / amx::kStep * amx::kStep);
  const int64_t stripe = std::min(fit, amx::round_up(m_end - m_first, amx::kStep));
  const int64_t stripes = (m_end - m_first + stripe - 1) / stripe;

  parallel_tasks(s.batch * stripes, [&](int64_t task) {
    const int64_t n = task / stripes, m0 = m_first + task % stripes * stripe;
    const int64_t ms = std::min(stripe, m_end - m0);
    const int64_t rows = amx::round_up(ms, amx::kStep) + amx::round_up(taps - 1, amx::kTile);
    thread_local AlignedBuffer<uint16_t> in_buffer;
    thread_local AlignedFloats out_buffer;
    uint16_t* in = in_buffer.get(static_cast<size_t>(rows * channels));
    // (Past the rows conv_rows writes, one more tile of rows for channels_from_rows to
    // read and not store.)
    float* out = out_buffer.get(static_cast<size_t>(
        (amx::round_up(ms, amx::kStep) * s.stride + amx::kTile) * out_channels));
    // Row i of `in` is x at m0 - (taps - 1) + i; row m * stride + r of `out` is output
    // position (m0 + m) * stride + r - padding.
    amx::bf16_rows_from_channels(x + n * s.channels * s.length, s.channels, s.length,
                                 m0 - (taps - 1), rows, input_slope, in, channels);
    {
      const TileScope tiles;
      for (int64_t r = 0; r < s.stride; ++r)
        amx::conv_rows(in, phases[r], padded_bias.data(), 1, out + r * out_channels,
                       s.stride * out_channels, ms);
    }
    const int64_t pos0 = m0 * s.stride - s.padding;
    const int64_t first = std::max<int64_t>(0, -pos0);
    const int64_t last = std::min(ms * s.stride, s.out_length - pos0);
    if (last > first) {
      amx::channels_from_rows(out + first * out_channels, out_channels, s.out_channels,
                              last - first, 1.0f, nullptr, y + n * s.out_channels * s.out_length,
                              s.out_length, pos0 + first);
    }
  });
}

#else

bool conv_transpose1d_amx_applies(const ConvTranspose1dShape&) { return false; }

void conv_transpose1d_amx(const float*, const std::vector<amx::PackedConv>&, const float*, float*,
                          const ConvTranspose1dShape&, float) {
  MMGEN_CHECK(false, "conv_transpose1d_amx: this build has no AMX kernels");
}

#endif

}  // namespace mmgen::kernels::cpu
