#include "diffusion/unet_config.h"

#include <algorithm>
#include <memory>

#include "core/error.h"
#include "diffusion/sd_blocks.h"

namespace mmgen::diffusion {

namespace {

const std::string kSdPrefix = "model.diffusion_model.";

bool starts_with(const std::string& text, const std::string& head) {
  return text.compare(0, head.size(), head) == 0;
}

std::string detect_prefix(const ModelFile& file) {
  bool plain = false, diffusers = false;
  for (const TensorInfo& info : file.tensors()) {
    if (starts_with(info.name, kSdPrefix)) return kSdPrefix;
    if (starts_with(info.name, "input_blocks.")) plain = true;
    if (starts_with(info.name, "down_blocks.") || starts_with(info.name, "mid_block."))
      diffusers = true;
  }
  if (plain) return "";
  MMGEN_CHECK(!diffusers, file.path().string(),
              ": a diffusers-layout UNet (down_blocks.*, mid_block.*) is not read directly; open "
              "it with UNet::load(path) or remap_diffusers_unet(), which map its names");
  fail(file.path().string(),
       ": no UNet found: expected tensors 'model.diffusion_model.input_blocks.*' (a Stable "
       "Diffusion checkpoint) or 'input_blocks.*' (a standalone ldm UNet)");
}

int dim_of(const WeightReader& r, const std::string& name, size_t rank, size_t dim) {
  const Shape& shape = r.shape(name);
  MMGEN_CHECK(shape.size() == rank, r.file().path().string(), ": tensor '", r.full_name(name),
              "' has shape ", shape_str(shape), ", expected ", rank, " dimensions (UNet)");
  return static_cast<int>(shape[dim]);
}

std::string block(const char* stem, int index) {
  return std::string(stem) + std::to_string(index) + ".";
}

}  // namespace

bool UNetConfig::has_attention(int level) const {
  return std::find(attention_levels.begin(), attention_levels.end(), level) !=
         attention_levels.end();
}

UNetConfig infer_unet_config(const ModelFile& file, const UNetOptions& options) {
  UNetConfig c;
  c.prefix = detect_prefix(file);
  const WeightReader r(std::shared_ptr<const ModelFile>(&file, [](const ModelFile*) {}), c.prefix,
                       "UNet");
  const std::string path = file.path().string();
  MMGEN_CHECK(!r.contains("label_emb.0.0.weight"), path,
              ": a UNet with class/size conditioning (label_emb, as in SDXL) is not supported yet");
  MMGEN_CHECK(options.num_head_channels > 0 || options.num_heads >= 1,
              "UNet options: num_heads must be >= 1 (or num_head_channels > 0), got ",
              options.num_heads);
  c.num_heads = options.num_heads;
  c.num_head_channels = options.num_head_channels;

  c.model_channels = dim_of(r, "input_blocks.0.0.weight", 4, 0);
  c.in_channels = dim_of(r, "input_blocks.0.0.weight", 4, 1);
  c.out_channels = dim_of(r, "out.2.weight", 4, 0);
  c.time_embed_dim = dim_of(r, "time_embed.0.weight", 2, 0);
  const int embed_in = dim_of(r, "time_embed.0.weight", 2, 1);
  MMGEN_CHECK(embed_in == c.model_channels, path, ": tensor '", r.full_name("time_embed.0.weight"),
              "' takes ", embed_in, " inputs, expected the timestep embedding width ",
              c.model_channels, " (model_channels)");

  // input_blocks: conv_in, then per level num_res_blocks ResBlocks, then a
  // Downsample ("<i>.0.op") except after the last level.
  const int inputs = static_cast<int>(r.count_indexed("input_blocks."));
  std::vector<int> downsamples;
  for (int i = 1; i < inputs; ++i)
    if (r.contains(block("input_blocks.", i) + "0.op.weight")) downsamples.push_back(i);
  const int levels = static_cast<int>(downsamples.size()) + 1;
  c.num_res_blocks = (inputs - 1 - (levels - 1)) / levels;
  MMGEN_CHECK(c.num_res_blocks >= 1 && 1 + levels * c.num_res_blocks + levels - 1 == inputs, path,
              ": UNet has ", inputs, " input_blocks with ", levels - 1,
              " downsamplers, which is not num_res_blocks ResBlocks per level");
  for (int l = 0; l + 1 < levels; ++l) {
    const int expected = 1 + (l + 1) * c.num_res_blocks + l;
    MMGEN_CHECK(downsamples[static_cast<size_t>(l)] == expected, path, ": UNet downsampler '",
                r.full_name(block("input_blocks.", downsamples[static_cast<size_t>(l)])),
                "' is not where level ", l, " ends (input_blocks.", expected, ")");
  }
  for (int l = 0; l < levels; ++l) {
    int width = 0;
    bool attention = false;
    for (int j = 0; j < c.num_res_blocks; ++j) {
      const std::string name = block("input_blocks.", 1 + l * (c.num_res_blocks + 1) + j);
      const int w = dim_of(r, name + "0.in_layers.2.weight", 4, 0);
      const bool a = r.contains(name + "1.proj_in.weight");
      if (j == 0) {
        width = w;
        attention = a;
      }
      MMGEN_CHECK(w == width && a == attention, path, ": UNet block '", r.full_name(name),
                  "' differs from the first block of level ", l, " (width or attention)");
    }
    MMGEN_CHECK(width % c.model_channels == 0, path, ": UNet level ", l, " width ", width,
                " is not a multiple of model_channels ", c.model_channels);
    c.channel_mult.push_back(width / c.model_channels);
    if (attention) c.attention_levels.push_back(l);
  }
  const int outputs = static_cast<int>(r.count_indexed("output_blocks."));
  MMGEN_CHECK(outputs == levels * (c.num_res_blocks + 1), path, ": UNet has ", outputs,
              " output_blocks, expected ", levels * (c.num_res_blocks + 1), " (", levels,
              " levels of num_res_blocks + 1 = ", c.num_res_blocks + 1, ")");

  // The middle block's transformer fixes the context width and the projection style.
  const std::string mid = "middle_block.1.";
  c.context_dim = dim_of(r, mid + "transformer_blocks.0.attn2.to_k.weight", 2, 1);
  c.transformer_depth = static_cast<int>(r.count_indexed(mid + "transformer_blocks."));
  c.linear_projections = r.shape(mid + "proj_in.weight").size() == 2;
  return c;
}

}  // namespace mmgen::diffusion
