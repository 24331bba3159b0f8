// Stride-1 conv1d as an implicit GEMM: no im2col matrix is built.
#pragma once

#include <cstdint>

namespace mmgen::kernels::cpu {

struct Conv1dShape {
  int64_t batch, channels, length;  // input x [batch, channels, length]
  int64_t out_channels, kernel;     // weight [out_channels, channels / groups, kernel]
  int64_t padding, dilation, groups;
  int64_t out_length;  // length + 2 * padding - dilation * (kernel - 1)
};

// What a stride-1 conv1d folds into the copies of x and y it makes anyway: x goes through
// leaky_relu(x, input_slope) (slope 1 leaves it as it is), and `residual` (null, or
// [batch, out_channels, out_length]) is added to y after the bias. The results are those
// of the separate ops, bit for bit.
struct Conv1dFolds {
  float input_slope = 1.0f;
  const float* residual = nullptr;
};

// dst[i] = leaky_value(src[i], slope) (simd.h): leaky_relu as the elementwise op rounds it.
void leaky_row(const float* src, float* dst, int64_t n, float slope);

// y = conv1d(x, weight) + bias (bias may be null) for stride 1, any padding,
// dilation and groups; all f32 and contiguous.
//
// Row (c, j) of the im2col matrix, column p, is x[c, p + j * dilation - padding]: a
// shifted row of x. So the GEMM [O, C * K] x [C * K, L] runs with its B operand read
// straight from a zero-padded copy of x through a table of row offsets, and the
// register tile (a few output channels x 48 positions with AVX-512) loads its B
// vectors from there instead of from packed panels.
void conv1d_implicit_gemm(const float* x, const float* weight, const float* bias, float* y,
                          const Conv1dShape& s, const Conv1dFolds& folds = {});

}  // namespace mmgen::kernels::cpu
