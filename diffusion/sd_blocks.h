// Building blocks shared by the Stable Diffusion networks (the VAE now, the UNet
// later): a checkpoint reader that checks names and shapes, and the convolutional
// pieces (GroupNorm, Conv2d, ResnetBlock, single-head spatial attention, down- and
// upsampling) as plain parameter structs with a forward().
//
// The blocks know nothing of key names: each network's loader maps its own
// checkpoint layout (ldm VAE "norm1/conv1/nin_shortcut", UNet "in_layers/...")
// onto these structs. Weights stay in their file dtype (views into the mapped
// file); 1-D parameters (norm weights, biases) are converted to f32 at load.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "core/model_file.h"
#include "core/tensor.h"

namespace mmgen::diffusion {

// Reads the tensors of one network inside a checkpoint: names are relative to a
// prefix ("first_stage_model." in a full SD checkpoint, "" in a standalone file).
// Every error names the checkpoint file and the full tensor name. Tensors come
// back on the reader's device: on the CPU they stay views into the file; on CUDA
// each is copied there once, in its file dtype.
class WeightReader {
 public:
  // `network` names the network in messages ("VAE", "UNet").
  WeightReader(std::shared_ptr<const ModelFile> file, std::string prefix, std::string network,
               Device device = Device::cpu());

  const ModelFile& file() const { return *file_; }
  const std::shared_ptr<const ModelFile>& shared_file() const { return file_; }
  const std::string& prefix() const { return prefix_; }
  std::string full_name(const std::string& name) const { return prefix_ + name; }
  Device device() const { return device_; }

  bool contains(const std::string& name) const;
  // The stored shape; throws naming the file and tensor when absent.
  const Shape& shape(const std::string& name) const;
  // The tensor in its file dtype on the reader's device, checked against the expected shape.
  Tensor get(const std::string& name, const Shape& expected) const;
  // A 1-D parameter of `length` elements as f32 on the reader's device.
  Tensor vec(const std::string& name, int64_t length) const;
  // How many consecutive indices i have tensors named "<stem><i>.*" (0 when none).
  // Throws when the indices have a gap (a damaged or foreign checkpoint).
  int64_t count_indexed(const std::string& stem) const;

 private:
  std::shared_ptr<const ModelFile> file_;
  std::string prefix_;
  std::string network_;
  Device device_;
};

struct GroupNorm {
  Tensor weight, bias;  // [C] f32
  int groups = 32;
  float eps = 1e-6f;
  Tensor forward(const Tensor& x) const;
};

struct Conv2d {
  Tensor weight;  // [O, C, kh, kw], file dtype
  Tensor bias;    // [O] f32 or undefined
  int stride = 1;
  int padding = 0;
  bool defined() const { return weight.defined(); }
  int64_t out_channels() const { return weight.dim(0); }
  Tensor forward(const Tensor& x) const;
};

// norm1 -> SiLU -> conv1 (+ projected timestep embedding) -> norm2 -> SiLU -> conv2,
// added to the input (through a shortcut conv when the channel count changes).
struct ResnetBlock {
  GroupNorm norm1;
  Conv2d conv1;
  Tensor emb_weight, emb_bias;  // UNet: Linear(SiLU(emb)) added per channel; VAE: undefined
  GroupNorm norm2;
  Conv2d conv2;
  Conv2d shortcut;  // 1x1 (nin_shortcut) or 3x3; undefined: identity
  // emb: [N, E] or undefined.
  Tensor forward(const Tensor& x, const Tensor& emb = {}) const;
};

// Single-head self-attention over the H*W positions with 1x1-conv projections
// (ldm AttnBlock): x + proj_out(attention(q, k, v)), scale C^-1/2.
struct SpatialSelfAttention {
  GroupNorm norm;
  Tensor q_weight, k_weight, v_weight, proj_weight;  // [C, C] (1x1 conv kernels viewed 2-D)
  Tensor q_bias, k_bias, v_bias, proj_bias;          // [C] f32
  Tensor forward(const Tensor& x) const;
};

// 3x3 stride-2 convolution. ldm's VAE pads right and bottom by one (asymmetric);
// the UNet pads one on every side.
struct Downsample {
  Conv2d conv;  // stride 2
  bool pad_right_bottom = false;
  Tensor forward(const Tensor& x) const;
};

// Nearest-neighbour x2, then a 3x3 convolution.
struct Upsample {
  Conv2d conv;
  Tensor forward(const Tensor& x) const;
};

// ---- loaders shared by the networks ------------------------------------------

// "<name>.weight" [out, in, kernel, kernel] and "<name>.bias" [out]; padding -1 means
// kernel / 2 (same size at stride 1).
Conv2d load_conv2d(const WeightReader& reader, const std::string& name, int64_t out, int64_t in,
                   int64_t kernel, int stride = 1, int padding = -1);
// "<name>.weight" and "<name>.bias" [channels]; channels must split into the groups.
GroupNorm load_group_norm(const WeightReader& reader, const std::string& name, int64_t channels,
                          int groups, float eps);

}  // namespace mmgen::diffusion
