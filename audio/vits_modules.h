// Building blocks shared by the VITS modules (docs/vits.md): a checkpoint
// reader that knows the key prefix and checks shapes, 1-D convolutions and the
// channel-wise layer norm of the reference (modules.LayerNorm).
#pragma once

#include <string>

#include "core/model_file.h"
#include "core/tensor.h"

namespace mmgen::audio {

// A Conv1d with "same" padding for odd kernels: padding = dilation * (k - 1) / 2.
struct VitsConv {
  Tensor weight;  // f32 [out, in / groups, k] (weight norm folded)
  Tensor bias;    // f32 [out] or undefined
  int dilation = 1;
  int groups = 1;
  // x: [1, in, T] -> [1, out, T].
  Tensor operator()(const Tensor& x) const;
};

// LayerNorm over the channels of [1, C, T] (eps 1e-5), gamma / beta: [C].
struct VitsLayerNorm {
  Tensor gamma;
  Tensor beta;
  Tensor operator()(const Tensor& x) const;
};

// The key prefix of the synthesizer's tensors: "" for a generator state dict,
// "model_g." or "generator." for training checkpoints that nest it.
std::string detect_vits_prefix(const ModelFile& file);

// Reads tensors under a prefix onto `device` (weight norm folded on the host
// first, then one copy each); every error names the file and the full tensor name.
// The modules loaded from it (text encoder, duration predictor, flow) live there.
class VitsWeights {
 public:
  VitsWeights(const ModelFile& file, std::string prefix, Device device = Device::cpu())
      : file_(file), prefix_(std::move(prefix)), device_(device) {}

  const ModelFile& file() const { return file_; }
  const std::string& prefix() const { return prefix_; }
  Device device() const { return device_; }
  bool contains(const std::string& name) const { return file_.contains(prefix_ + name); }
  // f32 contiguous on device(); `expected` entries of -1 match any size.
  Tensor tensor(const std::string& name, const Shape& expected) const;
  // `<name>.weight` (or its weight-norm pair) [out, in / groups, k] and `<name>.bias` [out].
  VitsConv conv(const std::string& name, int64_t out, int64_t in, int64_t kernel, bool bias = true,
                int dilation = 1, int groups = 1) const;
  VitsLayerNorm layer_norm(const std::string& name, int64_t channels) const;

 private:
  Tensor host_tensor(const std::string& name, const Shape& expected) const;

  const ModelFile& file_;
  std::string prefix_;
  Device device_;
};

}  // namespace mmgen::audio
