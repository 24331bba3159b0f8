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

// Decoding with Q8_0 weights as llama.cpp does it: the single activation row is
// quantised once per product to blocks of 32 int8 values with one f32 scale each
// (round(x / d), d = max|x| / 127 over the block), and each weight block's dot
// product is summed exactly in int32 (AVX-512 VNNI) before the two scales apply.
// It rounds the activations to 8 bits (see docs/llm.md) and, measured idle on Zen 4,
// streams the weights slower than converting them to f32 in registers, so it is off
// unless MMGEN_Q8_INT8_DOT=1 is set; true only then and where compiled in.
bool has_int8_activation_dot(DType type);

// Bytes that quantize_activation_row writes for a row of k values (k % 32 == 0).
size_t int8_activation_bytes(int64_t k);
void quantize_activation_row(const float* x, int64_t k, void* out);

// out[j] = sum_p xq[p] * w_j[p] for n stored Q8_0 rows starting row_bytes apart at
// w, xq from quantize_activation_row. Only where has_int8_activation_dot(type).
void int8_dot_rows(DType type, const void* w, size_t row_bytes, int64_t n, const void* xq,
                   int64_t k, float* out);

}  // namespace mmgen::kernels::cpu
