// The CPU backend: Eigen for GEMM and im2col convolution, the thread pool elsewhere.
#pragma once

#include <vector>

#include "kernels/op_types.h"
#include "kernels/ops.h"

namespace mmgen::kernels::cpu {
#include "kernels/backend_ops.inc"
}  // namespace mmgen::kernels::cpu
