// Helpers shared by the CUDA backend's source files (host declarations only).
#pragma once

#include <cstdint>

#include "core/tensor.h"

namespace mmgen::kernels::cuda {

// Scratch memory budget, in f32 elements, for the temporaries that ops split
// their work by (im2col columns, converted weights, attention scores).
constexpr int64_t kScratchElements = int64_t{1} << 26;  // 256 MiB

// `t` itself when contiguous, else a contiguous copy made on the device.
Tensor dense(const Tensor& t);
// `t` as a contiguous f32 tensor on its device: f32 as is, other plain dtypes
// converted, quantised types dequantised. `what` names the tensor in errors.
Tensor to_f32(const Tensor& t, const char* what);
// Converts a [rows, cols] matrix of f32, f16, bf16 or a quantised type at `src`
// into dst [rows, cols] f32 (16-byte aligned).
void rows_to_f32(DType type, const void* src, int64_t rows, int64_t cols, float* dst);
// Zeroes `bytes` bytes of device memory.
void zero_device(void* data, size_t bytes);

// Dequantises rows of a quantised matrix into dst [rows, cols] f32. Row r of the
// output is source row row_ids[r] when row_ids is given (device i64), else row r.
void dequantize_rows(DType type, const void* src, const int64_t* row_ids, int64_t rows,
                     int64_t cols, float* dst);

// out[r, n] = sum_k x[r, k] * w[n, k] for r < rows <= kMatvecMaxRows: a direct read
// of an f16, bf16 or quantised weight [n_out, k] for decode-sized products.
constexpr int kMatvecMaxRows = 8;
bool matvec_supports(DType weight_type);
void matvec(DType weight_type, const void* w, int64_t n_out, int64_t k, const float* x,
            int64_t rows, float* out);

}  // namespace mmgen::kernels::cuda
