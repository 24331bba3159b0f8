// The cross-attention transformer of the Stable Diffusion UNet (ldm
// attention.SpatialTransformer): GroupNorm, proj_in, BasicTransformerBlocks
// (self-attention, cross-attention on the text context, GEGLU feed-forward),
// proj_out, added to the input.
//
// proj_in / proj_out are 1x1 convolutions in SD1.x checkpoints and Linear layers in
// SD2-style ones; both act on each position's channels alone, so they run as one
// linear over [N, H*W, C] (the loader detects which from the weight's rank).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/tensor.h"
#include "diffusion/sd_blocks.h"

namespace mmgen::diffusion {

struct LayerNorm {
  Tensor weight, bias;  // [C] f32
  float eps = 1e-5f;
  Tensor forward(const Tensor& x) const;
};

// Multi-head attention with bias-free q/k/v projections and a biased output
// projection; scale head_dim^-1/2.
struct CrossAttention {
  Tensor q_weight;            // [inner, query_dim]
  Tensor k_weight, v_weight;  // [inner, context_dim]
  Tensor out_weight;          // [query_dim, inner]
  Tensor out_bias;            // [query_dim] f32
  int heads = 1;
  // x: [N, L, query_dim], context: [N, Lc, context_dim] (x itself for self-attention).
  Tensor forward(const Tensor& x, const Tensor& context) const;
};

// Linear(dim, 2 * inner) split into value and gate, value * gelu(gate), Linear(inner, dim).
struct GegluFeedForward {
  Tensor proj_weight, proj_bias;  // [2 * inner, dim], [2 * inner]
  Tensor out_weight, out_bias;    // [dim, inner], [dim]
  Tensor forward(const Tensor& x) const;
};

// x + attn1(norm1 x), then + attn2(norm2 x, context), then + ff(norm3 x).
struct BasicTransformerBlock {
  LayerNorm norm1, norm2, norm3;
  CrossAttention attn1, attn2;
  GegluFeedForward ff;
  Tensor forward(const Tensor& x, const Tensor& context) const;
};

struct SpatialTransformer {
  GroupNorm norm;
  Tensor proj_in_weight, proj_in_bias;    // [inner, C] (a 1x1 kernel viewed 2-D), [inner]
  Tensor proj_out_weight, proj_out_bias;  // [C, inner], [C]
  bool linear_projections = false;        // the file stores Linear (SD2) rather than 1x1 conv
  std::vector<BasicTransformerBlock> blocks;
  // x: [N, C, H, W], context: [N, L, context_dim] -> [N, C, H, W].
  Tensor forward(const Tensor& x, const Tensor& context) const;
};

// Loads "<name>norm", "<name>proj_in", "<name>transformer_blocks.<i>.*", "<name>proj_out"
// for `channels` input channels. The attention width (inner) comes from proj_in;
// the heads from `num_heads`, or inner / `head_channels` when head_channels > 0.
SpatialTransformer load_spatial_transformer(const WeightReader& reader, const std::string& name,
                                            int64_t channels, int64_t context_dim, int num_heads,
                                            int head_channels);

}  // namespace mmgen::diffusion
