// Several linear products of one activation in one pass (the CPU side of
// kernels::linear_many): a layer's q/k/v or gate/up projections at decode time.
#pragma once

#include <cstddef>
#include <vector>

#include "core/tensor.h"

namespace mmgen::kernels::cpu {

// The most weights linear_products takes in one loop.
constexpr size_t kMaxLinearProducts = 4;

// x: contiguous f32 [rows, K]; weights: contiguous [N_s, K]. Returns x * w_s^T as
// f32 [rows, N_s] for each s. When the weights share a dtype and rows is a decode
// batch (at most kMaxFusedRows), one parallel loop runs over the concatenation of
// all their rows, instead of one loop (and one thread-pool dispatch) per weight.
std::vector<Tensor> linear_products(const Tensor& x, const std::vector<Tensor>& weights);

}  // namespace mmgen::kernels::cpu
