// conv_transpose1d with bf16 weights on AMX tiles: bf16 products, f32 sums.
#pragma once

#include <cstdint>
#include <vector>

#include "kernels/cpu/amx_conv.h"

namespace mmgen::kernels::cpu {

struct ConvTranspose1dShape {
  int64_t batch, channels, length;  // x [batch, channels, length]
  int64_t out_channels, kernel;     // weight [channels, out_channels, kernel]
  int64_t stride, padding;
  int64_t out_length;
};

// Whether the AMX path runs this shape: AMX available, one group, dilation 1 (the
// caller checks those two) and at least 16 output channels.
bool conv_transpose1d_amx_applies(const ConvTranspose1dShape& s);

// y = conv_transpose1d(leaky_relu(x, input_slope), weight) + bias (bias may be null;
// slope 1 leaves x as it is) for a bf16 weight [channels, out_channels, kernel] packed by
// phase (amx::packed_transposed_phases), the activation rounded to bf16 for the products.
//
// Output position t = m * stride + r - padding takes taps r, r + stride, ... with x at
// m, m - 1, ...: for each phase r a stride-1 convolution of x. The phases' results are
// written rows apart into one position-major stripe, which goes to y once.
void conv_transpose1d_amx(const float* x, const std::vector<amx::PackedConv>& phases,
                          const float* bias, float* y, const ConvTranspose1dShape& s,
                          float input_slope = 1.0f);

}  // namespace mmgen::kernels::cpu
