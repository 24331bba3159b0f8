// The Stable Diffusion 1.x UNet (ldm openaimodel.UNetModel with SpatialTransformers)
// in the CompVis key layout: a full SD checkpoint ("model.diffusion_model.*") or a
// standalone UNet file without that prefix. Sizes are inferred from the tensors;
// the head count comes from UNetOptions. See docs/unet.md.
#pragma once

#include <filesystem>
#include <memory>
#include <vector>

#include "core/model_file.h"
#include "core/tensor.h"
#include "diffusion/sd_blocks.h"
#include "diffusion/spatial_transformer.h"
#include "diffusion/unet_config.h"

namespace mmgen::diffusion {

class UNet {
 public:
  // Opens the checkpoint through ModelFile::open (safetensors or .ckpt). Every
  // weight is placed on `device` once, here.
  static std::unique_ptr<UNet> load(const std::filesystem::path& path,
                                    const UNetOptions& options = {}, Device device = Device::cpu());
  // Borrows the file: it must outlive the UNet (on the CPU the weights are views into it).
  static std::unique_ptr<UNet> load(const ModelFile& file, const UNetOptions& options = {},
                                    Device device = Device::cpu());

  const UNetConfig& config() const { return config_; }
  Device device() const { return device_; }

  // x: [N, in_channels, h, w] f32 with h, w multiples of 2^(levels - 1);
  // timesteps: [N] (DDPM timesteps 0..999, may be fractional); context:
  // [N, L, context_dim] f32. x and context live on the UNet's device (timesteps
  // are moved there). Returns the predicted noise eps [N, out_channels, h, w] there.
  Tensor predict_eps(const Tensor& x, const Tensor& timesteps, const Tensor& context) const;

 private:
  // One entry of input_blocks / output_blocks: the layers present run in this order.
  struct Block {
    Conv2d conv_in;  // input_blocks.0 only
    bool has_resnet = false;
    ResnetBlock resnet;
    bool has_transformer = false;
    SpatialTransformer transformer;
    bool has_downsample = false;
    Downsample downsample;
    bool has_upsample = false;
    Upsample upsample;
    Tensor forward(const Tensor& x, const Tensor& emb, const Tensor& context) const;
  };

  void load_weights(const WeightReader& reader);
  ResnetBlock load_resnet(const WeightReader& reader, const std::string& name, int64_t in,
                          int64_t out) const;
  SpatialTransformer load_transformer(const WeightReader& reader, const std::string& name,
                                      int64_t channels) const;
  void check_inputs(const Tensor& x, const Tensor& timesteps, const Tensor& context) const;

  std::shared_ptr<const ModelFile> file_;  // owned (load(path)) or a non-owning handle
  UNetConfig config_;
  Device device_;
  Tensor time_embed_0_weight_, time_embed_0_bias_, time_embed_2_weight_, time_embed_2_bias_;
  std::vector<Block> input_blocks_;
  Block middle_block_;  // resnet, transformer, then middle_resnet_2_
  ResnetBlock middle_resnet_2_;
  std::vector<Block> output_blocks_;
  GroupNorm out_norm_;
  Conv2d out_conv_;
};

}  // namespace mmgen::diffusion
