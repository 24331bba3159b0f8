// kernels::residual_stacks_mean on AMX tiles: HiFi-GAN's ResBlocks stripe by stripe.
#pragma once

#include <cstdint>
#include <vector>

#include "kernels/ops.h"

namespace mmgen::kernels::cpu {

// Whether the AMX path can run stacks over `channels` channels (AMX available, at least
// 16 channels: a tile's columns).
bool residual_stacks_amx_applies(int64_t channels);

// residual_stacks_mean for contiguous f32 x and bf16 weights (checked by the caller).
//
// Each stripe of output positions runs every stack through all its convolutions before
// the next stripe: x's stripe, widened by the stacks' receptive field, is read once
// into position-major f32 rows, each convolution reads a bf16 copy of its input rows
// (leaky ReLU applied, zero outside x as its padding) and writes f32 rows, each unit
// adds its input, the stacks' results are summed, and the mean goes to y once. Every
// convolution computes a few more positions than the stripe (half its kernel's span on
// each side, for the ones after it); stripes are sized so the rows stay in L2.
Tensor residual_stacks_mean_amx(const Tensor& x, const std::vector<ResidualStack>& stacks,
                                float negative_slope);

}  // namespace mmgen::kernels::cpu
