// The CUDA backend: cuBLAS for GEMM, implicit-GEMM / cuDNN convolution, own kernels elsewhere.
// Only compiled and called when the library is built with MMGEN_HAS_CUDA.
#pragma once

#include <vector>

#include "kernels/op_types.h"
#include "kernels/ops.h"

namespace mmgen::kernels::cuda {
#include "kernels/backend_ops.inc"
}  // namespace mmgen::kernels::cuda
