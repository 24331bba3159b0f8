// Row-major f32 GEMM on cuBLAS (full f32 arithmetic, no TF32).
#pragma once

#include <cstdint>

#include "core/device.h"

namespace mmgen::kernels::cuda {

// One row-major matrix operand: element (i, j) of the stored matrix is at
// data[i * ld + j]; batch item b starts batch_stride elements further (0 shares
// one matrix across the batch). `transposed` uses the stored matrix transposed.
struct GemmOperand {
  const float* data = nullptr;
  int64_t ld = 0;
  int64_t batch_stride = 0;
  bool transposed = false;
};

// For each of `batch` items: C[m, n] = alpha * op(A)[m, k] * op(B)[k, n] + beta * C,
// with C row-major (leading dimension ldc, items c_stride apart).
void gemm_f32(Device device, int64_t m, int64_t n, int64_t k, float alpha, const GemmOperand& a,
              const GemmOperand& b, float beta, float* c, int64_t ldc, int64_t c_stride,
              int64_t batch);

}  // namespace mmgen::kernels::cuda
