// The CPU backend: Eigen for GEMM and im2col convolution, the thread pool elsewhere.
#pragma once

#include <vector>

#include "kernels/op_types.h"
#include "kernels/ops.h"

namespace mmgen::kernels::cpu {
#include "kernels/backend_ops.inc"

// conv1d of leaky_relu(x, input_slope) (slope 1: x itself), plus residual where defined.
Tensor conv1d_fused(const Tensor& x, const Tensor& weight, const Tensor& bias,
                    const Conv1dParams& p, float input_slope, const Tensor& residual);
// conv_transpose1d of leaky_relu(x, input_slope) (slope 1: x itself).
Tensor conv_transpose1d_fused(const Tensor& x, const Tensor& weight, const Tensor& bias,
                              const Conv1dParams& p, float input_slope);
}  // namespace mmgen::kernels::cpu
