#include "kernels/cpu/conv1d_amx.h"

#include <algorithm>

#include "core/error.h"
#include "kernels/cpu/amx_conv.h"
#include "kernels/cpu/parallel.h"

namespace mmgen::kernels::cpu {

#if MMGEN_HAVE_AMX

bool conv1d_amx_applies(const Conv1dShape& s) {
  return s.groups == 1 && s.out_channels >= amx::kTile && amx_bf16_available();
}

void conv1d_amx(const float* x, const amx::PackedConv& conv, const float* bias, float* y,
                const Conv1dShape& s, const Conv1dFolds& folds) {
  MMGEN_CHECK(conv1d_amx_applies(s), "conv1d_amx: AMX is not available for this shape");
  amx::PaddedBias padded_bias;
  padded_bias.set(bias, s.out_channels, conv.padded_out_channels());
  const int64_t channels = conv.padded_channels(), out_channels = conv.padded_out_channels();
  const int64_t halo = s.dilation * (s.kernel - 1);
  const int64_t fit =
      amx::kStripeBytes / (channels * 2 + out_channels * 4) / amx::kStep * amx::kStep;
  const int64_t stripe =
      std::min(std::max(amx::kStep, fit), amx::round_up(s.out_length, amx::kStep));
  const int64_t stripes = (s.out_length + stripe - 1) / stripe;

  parallel_tasks(s.batch * stripes, [&](int64_t task) {
    const int64_t n = task / stripes, s0 = task % stripes * stripe;
    const int64_t valid = std::min(stripe, s.out_length - s0);
    const int64_t rows = amx::round_up(valid, amx::kStep) + amx::round_up(halo, amx::kTile);
    thread_local AlignedBuffer<uint16_t> in_buffer;
    thread_local AlignedFloats out_buffer;
    uint16_t* in = in_buffer.get(static_cast<size_t>(rows * channels));
    float* out =
        out_buffer.get(static_cast<size_t>(amx::round_up(valid, amx::kStep) * out_channels));
    amx::bf16_rows_from_channels(x + n * s.channels * s.length, s.channels, s.length,
                                 s0 - s.padding, rows, folds.input_slope, in, channels);
    {
      const TileScope tiles;
      amx::conv_rows(in, conv, padded_bias.data(), s.dilation, out, out_channels, valid);
    }
    const int64_t offset = n * s.out_channels * s.out_length;
    amx::channels_from_rows(out, out_channels, s.out_channels, valid, 1.0f,
                            folds.residual ? folds.residual + offset : nullptr, y + offset,
                            s.out_length, s0);
  });
}

#else

bool conv1d_amx_applies(const Conv1dShape&) { return false; }

void conv1d_amx(const float*, const amx::PackedConv&, const float*, float*, const Conv1dShape&,
                const Conv1dFolds&) {
  MMGEN_CHECK(false, "conv1d_amx: this build has no AMX kernels");
}

#endif

}  // namespace mmgen::kernels::cpu
