// Stride-1 conv1d by Winograd's minimal filtering: about half the multiplications of
// the implicit GEMM for kernels of 3 taps or more.
#pragma once

#include "kernels/cpu/conv1d_direct.h"

namespace mmgen::kernels::cpu {

// Whether conv1d takes this path for the shape: one group, at least 8 output channels,
// 64 positions per lane, 128 (input channel, tap) rows (96 where x is over 16 MiB), and
// a kernel whose chunks save close to half the products (3, 4, 7, 8 or 10 taps and more,
// not 5, 6 or 9).
bool conv1d_winograd_applies(const Conv1dShape& s);

// y = conv1d(x, weight) + bias (bias may be null) for stride 1, one group and a kernel
// of at least 3 taps, any padding and dilation; all f32 and contiguous. Its rounding
// differs from a plain sum by a few units in the last place of the largest terms
// (relative errors of about 1e-6 at 256 channels and 11 taps).
//
// Each output row is cut into as many segments as a vector has lanes, and x is copied
// with lane k holding segment k, so every shift of a row is one vector load. Output
// positions go in tiles of 4, d apart for dilation d, so that a tile's inputs are also d
// apart. Per tile, F(4, r) turns r taps into 3 + r products instead of 4 * r: the input
// transform maps the tile's 3 + r inputs to 3 + r points, one GEMM per point multiplies
// them by the weights at that point, and the output transform maps the points back.
// Kernels longer than 4 taps run as chunks of 4 whose inputs are the points of later
// tiles, so K taps cost (3 + r) * ceil(K / r) products per 4 outputs, r = min(K, 4)
// (3 taps: 6 of 12; 7: 14 of 28; 11: 21 of 44).
void conv1d_winograd(const float* x, const float* weight, const float* bias, float* y,
                     const Conv1dShape& s, const Conv1dFolds& folds = {});

}  // namespace mmgen::kernels::cpu
