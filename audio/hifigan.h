// The HiFi-GAN generator (jik876/hifi-gan models.Generator; docs/audio.md): a mel
// spectrogram [N, num_mels, T] becomes a waveform [N, 1, T * hop] through
// conv_pre, upsampling stages (leaky ReLU, ConvTranspose1d, then the mean of the
// multi-receptive-field resblocks), a final leaky ReLU, conv_post and tanh.
// Weight-normalised checkpoints are folded at load time.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "audio/hifigan_config.h"
#include "core/model_file.h"
#include "core/precision.h"
#include "core/tensor.h"
#include "kernels/ops.h"

namespace mmgen::audio {

// One convolution: weight (folded; f32, or bf16 for the convolutions that multiply in
// bf16), optional bias, and its geometry.
struct HifiganConv {
  Tensor weight;  // Conv1d [out, in, k]; ConvTranspose1d [in, out, k]
  Tensor bias;    // [out] or undefined
  int stride = 1;
  int padding = 0;
  int dilation = 1;
};

struct HifiganResBlock {
  int kernel_size = 0;
  std::vector<HifiganConv> convs1;  // dilated (type 1 and 2)
  std::vector<HifiganConv> convs2;  // dilation 1 (type 1 only)
};

class Hifigan {
 public:
  // Loads the generator's tensors from `file`. `prefix` is put before every name
  // ("conv_pre.weight", "ups.0.weight_g", ...); when it is empty and the file
  // has no conv_pre but a "generator." one (a training checkpoint
  // {"generator": {...}}), "generator." is used. Every tensor's shape is checked
  // against `config`; errors name the file and the tensor. Weight norm is folded
  // on the host, then every weight is copied once to `device`, where vocode runs.
  //
  // With Precision::kBF16 every weight but conv_post's (one output channel) is kept in
  // bf16, which the convolutions multiply in bf16 (docs/tts.md). That needs a CPU with
  // AMX (kernels::bf16_products_available); elsewhere the model stays f32 and says so
  // in the log, and precision() tells which it is.
  static Hifigan load(const ModelFile& file, const HifiganConfig& config,
                      const std::string& prefix = "", Device device = Device::cpu(),
                      Precision precision = Precision::kF32);
  static Hifigan load(const std::filesystem::path& path, const HifiganConfig& config,
                      const std::string& prefix = "", Device device = Device::cpu(),
                      Precision precision = Precision::kF32);

  const HifiganConfig& config() const { return config_; }
  Device device() const { return device_; }
  Precision precision() const { return precision_; }

  // mel: [N, num_mels, T] (or [num_mels, T]) on any device -> waveform f32
  // [N, 1, T * hop] in (-1, 1) on device(). `conditioning` ([N or 1, C, 1], C =
  // upsample_initial_channel; VITS' dec.cond(g) of a speaker) is added right after
  // conv_pre when defined.
  Tensor vocode(const Tensor& mel, const Tensor& conditioning = {}) const;

 private:
  // A resblock as the residual stack kernels::residual_stacks_mean runs.
  static kernels::ResidualStack stack(const HifiganResBlock& block);

  HifiganConfig config_;
  Device device_;
  Precision precision_ = Precision::kF32;
  HifiganConv conv_pre_;
  std::vector<HifiganConv> ups_;
  std::vector<HifiganResBlock> resblocks_;  // stage-major: stage * kernels + j
  HifiganConv conv_post_;
};

}  // namespace mmgen::audio
