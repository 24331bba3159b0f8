// Stride-1 conv1d with bf16 weights on AMX tiles: bf16 products, f32 sums.
#pragma once

#include <cstdint>

#include "kernels/cpu/conv1d_direct.h"

namespace mmgen::kernels::cpu {

// Whether conv1d with bf16 weights takes this path: AMX is available
// (amx_bf16_available), one group and at least 16 output channels (a tile's rows).
bool conv1d_amx_applies(const Conv1dShape& s);

// y = conv1d(x, weight) + bias (bias may be null) for stride 1 and one group, any kernel,
// padding and dilation, with the folds of conv1d_implicit_gemm. weight is bf16 (raw
// 16-bit values) [out_channels, channels, kernel]; x, bias and y are f32. x is rounded to
// bf16 (to nearest even, after the leaky ReLU) for the products, which accumulate in f32:
// the error is that of bf16 inputs, a relative 2^-9 per product, not of f32 ones.
//
// The GEMM [O, K * C] x [K * C, L] runs as 16 x 16 tile products over 32 input
// channels at a time. Its B operand is a bf16 copy of a stripe of x with channels
// interleaved in pairs (the tile's layout for bf16 pairs), so the B tile of tap j is
// that copy read j * dilation positions further on, with no other copy per tap.
void conv1d_amx(const float* x, const uint16_t* weight, const float* bias, float* y,
                const Conv1dShape& s, const Conv1dFolds& folds = {});

}  // namespace mmgen::kernels::cpu
