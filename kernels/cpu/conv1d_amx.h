// Stride-1 conv1d with bf16 weights on AMX tiles: bf16 products, f32 sums.
#pragma once

#include <cstdint>

#include "kernels/cpu/amx_conv.h"
#include "kernels/cpu/conv1d_direct.h"

namespace mmgen::kernels::cpu {

// Whether conv1d with bf16 weights takes this path: AMX is available
// (amx_bf16_available), one group and at least 16 output channels (a tile's rows).
bool conv1d_amx_applies(const Conv1dShape& s);

// y = conv1d(x, weight) + bias (bias may be null) for stride 1 and one group, any kernel,
// padding and dilation, with the folds of conv1d_implicit_gemm. The weight (bf16
// [out_channels, channels, kernel]) comes packed (amx::packed_conv1d); x, bias and y are
// f32. x is rounded to bf16 (to nearest even, after the leaky ReLU) for the products,
// which accumulate in f32: the error is that of bf16 inputs, a relative 2^-9 per
// product, not of f32 ones.
//
// Per tap the product is [L, C] x [C, O]: tiles of 16 positions x 32 input channels
// times 32 input channels x 16 output channels, into 16 x 16 f32 accumulators. The
// left operand is a bf16 copy of a stripe of x with positions as rows, so the tile of
// tap j is that copy read j * dilation rows further on (always cache-line aligned).
void conv1d_amx(const float* x, const amx::PackedConv& weight, const float* bias, float* y,
                const Conv1dShape& s, const Conv1dFolds& folds = {});

}  // namespace mmgen::kernels::cpu
