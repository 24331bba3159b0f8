// VITS duration predictors (docs/vits.md): the stochastic one (models.
// StochasticDurationPredictor run in reverse: DDSConv conditioning, flows of
// Flip / ConvFlow with rational-quadratic splines / ElementwiseAffine turning
// noise into log-durations) and the deterministic DurationPredictor of
// checkpoints trained without it.
#pragma once

#include <vector>

#include "audio/vits_config.h"
#include "audio/vits_modules.h"

namespace mmgen::audio {

// The monotonic rational-quadratic spline of one value (transforms.
// unconstrained_rational_quadratic_spline, tails "linear"): identity outside
// [-tail_bound, tail_bound]; inside, num_bins bins from the unnormalised
// widths / heights (num_bins each) and inner-knot derivatives (num_bins - 1);
// min bin width / height / derivative 1e-3. `inverse` solves the quadratic.
float rational_quadratic_spline(float input, const float* widths, const float* heights,
                                const float* derivatives, int num_bins, float tail_bound,
                                bool inverse);

// Dilated depth-separable convolutions (modules.DDSConv).
struct VitsDdsConv {
  std::vector<VitsConv> convs_sep, convs_1x1;
  std::vector<VitsLayerNorm> norms_1, norms_2;
  static VitsDdsConv load(const VitsWeights& weights, const std::string& name, int64_t channels,
                          int kernel_size, int layers);
  // x (+ g when defined): [1, C, T].
  Tensor operator()(const Tensor& x, const Tensor& g = {}) const;
};

class VitsDurationPredictor {
 public:
  // Tensors under "dp." of `weights`.
  static VitsDurationPredictor load(const VitsWeights& weights, const VitsConfig& config);

  // x: the text encoding [1, hidden, T]. For the stochastic predictor `noise`
  // is the [1, 2, T] standard normal draw (scaled by noise_scale_w); the
  // deterministic one ignores both. g: the speaker embedding [1, gin, 1] of
  // multi-speaker models, else undefined. Returns logw [1, 1, T].
  Tensor logw(const Tensor& x, const Tensor& noise, float noise_scale_w,
              const Tensor& g = {}) const;

 private:
  struct ConvFlow {
    VitsConv pre;
    VitsDdsConv convs;
    VitsConv proj;
  };
  Tensor conv_flow_reverse(const ConvFlow& flow, const Tensor& z, const Tensor& cond) const;

  VitsConfig config_;
  bool stochastic_ = true;
  int64_t filter_channels_ = 0;
  VitsConv cond_;  // speaker conditioning (weight undefined without it)
  // Stochastic: pre, DDSConv, proj condition the flows.
  VitsConv pre_, proj_;
  VitsDdsConv convs_;
  Tensor affine_m_, affine_logs_;  // ElementwiseAffine [2, 1]
  std::vector<ConvFlow> flows_;    // flows.1, 3, 5, ... in order
  // Deterministic: conv_1, norm_1, conv_2, norm_2, proj.
  VitsConv conv_1_, conv_2_, det_proj_;
  VitsLayerNorm norm_1_, norm_2_;
};

}  // namespace mmgen::audio
