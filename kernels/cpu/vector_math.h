// Vectorised transcendental helpers over contiguous f32 runs (Eigen's packet math).
#pragma once

#include <cstdint>

namespace mmgen::kernels::cpu {

// x[i] = exp(x[i] + shift); results below the smallest normal float (exp(-inf)
// included) are exactly 0.
void exp_inplace(float* x, int64_t n, float shift = 0.0f);

// Softmax of one row in place; a row whose values are all -inf becomes zeros.
void softmax_row_inplace(float* x, int64_t n);

}  // namespace mmgen::kernels::cpu
