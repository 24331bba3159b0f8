// The sizes of a Stable Diffusion UNet (ldm openaimodel.UNetModel with
// SpatialTransformers), inferred from a checkpoint's tensor shapes; see docs/unet.md.
#pragma once

#include <string>
#include <vector>

#include "core/model_file.h"

namespace mmgen::diffusion {

// What the tensors cannot tell: how the attention width splits into heads.
struct UNetOptions {
  int num_heads = 8;           // heads at every level (SD 1.x uses 8)
  int num_head_channels = -1;  // > 0: heads = width / num_head_channels instead (SD 2.x: 64)
};

struct UNetConfig {
  std::string prefix;  // "model.diffusion_model." or ""
  int in_channels = 0;
  int out_channels = 0;
  int model_channels = 0;  // width of level 0, and of the sinusoidal timestep embedding
  int num_res_blocks = 0;  // ResBlocks per level on the way down (one more on the way up)
  int context_dim = 0;     // cross-attention context width (768 for SD 1.x)
  int num_heads = 8;
  int num_head_channels = -1;
  int time_embed_dim = 0;             // time_embed output (4 * model_channels in SD)
  int transformer_depth = 0;          // BasicTransformerBlocks in the middle block's transformer
  bool linear_projections = false;    // proj_in/proj_out stored as Linear (SD2 style)
  std::vector<int> channel_mult;      // level width = model_channels * channel_mult[level]
  std::vector<int> attention_levels;  // levels whose ResBlocks are followed by a transformer

  int levels() const { return static_cast<int>(channel_mult.size()); }
  bool has_attention(int level) const;
  // h and w of the input must be multiples of this (2^(levels - 1)).
  int downsample_factor() const { return 1 << (levels() - 1); }
};

// Infers the config (detecting the prefix); options supply the head rule. Throws
// naming the file when it holds no ldm UNet, holds a layout not supported yet
// (diffusers, SDXL's label_emb), or when the shapes contradict each other.
UNetConfig infer_unet_config(const ModelFile& file, const UNetOptions& options = {});

}  // namespace mmgen::diffusion
