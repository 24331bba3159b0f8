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
// into position-major rows (f32, and bf16 after the leaky ReLU for the stacks' first
// convolutions). Each convolution's accumulators go, 32 x 32 at a time while in L1,
// straight to what uses them: inside a unit, the next convolution's bf16 input (leaky
// ReLU applied, zero outside x as that convolution's padding); at a unit's end, the
// unit's value (its input plus the output) and from it the next unit's input; at the
// stack's end, the sum of the stacks. The mean goes to y once. Every convolution
// computes a few more positions than the stripe (its reach on each side, for the ones
// after it); stripes are sized so the rows stay in L2.
Tensor residual_stacks_mean_amx(const Tensor& x, const std::vector<ResidualStack>& stacks,
                                float negative_slope);

}  // namespace mmgen::kernels::cpu
