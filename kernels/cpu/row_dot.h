// Dot products of an f32 vector with one stored weight row, converting on the fly
// (the decode path: every weight is read once, so conversion must not go through memory).
#pragma once

#include <cstdint>

#include "core/dtype.h"

namespace mmgen::kernels::cpu {

// True when fused_dot handles `type` without a conversion buffer.
bool has_fused_dot(DType type);

// sum_i row[i] * x[i] over k elements of a row stored as `type` (k a whole number
// of blocks for quantised types). Only for types where has_fused_dot is true.
float fused_dot(DType type, const void* row, const float* x, int64_t k);

}  // namespace mmgen::kernels::cpu
