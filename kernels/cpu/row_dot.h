// Dot products of f32 vectors with stored weight rows, converting on the fly (the
// decode path: every weight is read once, so conversion must not go through memory).
#pragma once

#include <cstddef>
#include <cstdint>

#include "core/dtype.h"

namespace mmgen::kernels::cpu {

// The most rows of x that fused_dot_rows takes at once.
constexpr int64_t kMaxFusedRows = 8;

// True when fused_dot converts `type` in registers (no conversion buffer).
bool has_fused_dot(DType type);

// sum_i row[i] * x[i] over k elements of a row stored as `type` (k a whole number
// of blocks for quantised types). Any weight dtype; fastest where has_fused_dot.
float fused_dot(DType type, const void* row, const float* x, int64_t k);

// out[i * ldo + j] = sum_p x[i * k + p] * w_j[p] for the m (1..kMaxFusedRows)
// contiguous rows of x and the n stored rows w_j, which start row_bytes apart at w.
// Each stored row is read and converted once for all m rows of x. k is a whole
// number of blocks for quantised types.
void fused_dot_rows(DType type, const void* w, size_t row_bytes, int64_t n, const float* x,
                    int64_t m, int64_t k, float* out, int64_t ldo);

}  // namespace mmgen::kernels::cpu
