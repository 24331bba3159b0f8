// The VITS prior flow (models.ResidualCouplingBlock): n_flows pairs of a
// mean-only residual coupling layer (pre 1x1 conv, WaveNet-style WN stack of
// dilated convs with gated tanh * sigmoid units and res/skip convs, post 1x1
// conv) and a channel Flip; inference runs it in reverse (z_p -> z).
#pragma once

#include <vector>

#include "audio/vits_config.h"
#include "audio/vits_modules.h"

namespace mmgen::audio {

// modules.WN: x [1, hidden, T] -> skip sum [1, hidden, T]. With gin_channels > 0
// a cond_layer maps the speaker embedding g [1, gin, 1] to per-layer gate offsets.
struct VitsWaveNet {
  std::vector<VitsConv> in_layers, res_skip_layers;
  VitsConv cond_layer;  // weight undefined without speaker conditioning
  int64_t hidden = 0;
  static VitsWaveNet load(const VitsWeights& weights, const std::string& name, int64_t hidden,
                          int kernel_size, int dilation_rate, int layers, int gin_channels = 0);
  Tensor operator()(const Tensor& x, const Tensor& g = {}) const;
};

class VitsFlow {
 public:
  // Tensors under "flow.flows.<2i>." of `weights`, on weights.device().
  static VitsFlow load(const VitsWeights& weights, const VitsConfig& config);
  // z_p [1, inter, T] -> z [1, inter, T]; g: the speaker embedding [1, gin, 1]
  // of multi-speaker models, else undefined.
  Tensor reverse(const Tensor& z_p, const Tensor& g = {}) const;

 private:
  struct Coupling {
    VitsConv pre;
    VitsWaveNet enc;
    VitsConv post;
  };
  int64_t half_ = 0;
  std::vector<Coupling> couplings_;
  Tensor flip_;  // [inter, inter] anti-diagonal ones
};

}  // namespace mmgen::audio
