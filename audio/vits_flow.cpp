#include "audio/vits_flow.h"

#include <algorithm>
#include <string>

#include "core/error.h"
#include "kernels/ops.h"

namespace mmgen::audio {

namespace ops = mmgen::kernels;

VitsWaveNet VitsWaveNet::load(const VitsWeights& weights, const std::string& name, int64_t hidden,
                              int kernel_size, int dilation_rate, int layers, int gin_channels) {
  VitsWaveNet wn;
  wn.hidden = hidden;
  if (gin_channels > 0) {
    wn.cond_layer = weights.conv(name + ".cond_layer", 2 * hidden * layers, gin_channels, 1);
  }
  int dilation = 1;
  for (int i = 0; i < layers; ++i) {
    const std::string index = std::to_string(i);
    wn.in_layers.push_back(weights.conv(name + ".in_layers." + index, 2 * hidden, hidden,
                                        kernel_size, true, dilation));
    // The last layer has no residual half: it outputs the skip channels only.
    const int64_t out = i + 1 < layers ? 2 * hidden : hidden;
    wn.res_skip_layers.push_back(weights.conv(name + ".res_skip_layers." + index, out, hidden, 1));
    dilation *= dilation_rate;
  }
  return wn;
}

Tensor VitsWaveNet::operator()(const Tensor& input, const Tensor& g) const {
  Tensor x = input;
  Tensor output;
  const auto layers = static_cast<int64_t>(in_layers.size());
  std::vector<Tensor> offsets;
  if (g.defined() && cond_layer.weight.defined()) {
    offsets = ops::split(cond_layer(g), std::vector<int64_t>(layers, 2 * hidden), 1);
  }
  for (size_t i = 0; i < in_layers.size(); ++i) {
    Tensor x_in = in_layers[i](x);
    if (!offsets.empty()) x_in = ops::add(x_in, offsets[i]);  // [1, 2h, 1] over time
    const auto gates = ops::split(x_in, {hidden, hidden}, 1);
    const Tensor acts = ops::mul(ops::tanh(gates[0]), ops::sigmoid(gates[1]));
    const Tensor res_skip = res_skip_layers[i](acts);
    Tensor skip = res_skip;
    if (i + 1 < in_layers.size()) {
      const auto parts = ops::split(res_skip, {hidden, hidden}, 1);
      x = ops::add(x, parts[0]);
      skip = parts[1];
    }
    output = output.defined() ? ops::add(output, skip) : ops::contiguous(skip);
  }
  return output;
}

VitsFlow VitsFlow::load(const VitsWeights& weights, const VitsConfig& config) {
  VitsFlow flow;
  flow.half_ = config.inter_channels / 2;
  const int64_t hidden = config.hidden_channels;
  for (int i = 0; i < config.flow_n_flows; ++i) {
    const std::string name = "flow.flows." + std::to_string(2 * i);
    Coupling coupling;
    coupling.pre = weights.conv(name + ".pre", hidden, flow.half_, 1);
    coupling.enc =
        VitsWaveNet::load(weights, name + ".enc", hidden, config.flow_kernel_size,
                          config.flow_dilation_rate, config.flow_n_layers, config.gin_channels);
    // Mean-only couplings predict the shift alone (half channels); the others a
    // shift and a log-scale.
    const std::string post = name + ".post.weight";
    const int64_t post_out =
        weights.contains(post) ? weights.tensor(post, {-1, hidden, 1}).dim(0) : flow.half_;
    MMGEN_CHECK(post_out == flow.half_ || post_out == 2 * flow.half_,
                weights.file().path().string(), ": tensor '", weights.prefix(), post, "' has ",
                post_out, " outputs, expected ", flow.half_, " or ", 2 * flow.half_);
    coupling.post = weights.conv(name + ".post", post_out, hidden, 1);
    flow.couplings_.push_back(std::move(coupling));
  }
  // The channel reversal as a permutation matrix: one product instead of a copy
  // per channel, and exact (each output sums one value times 1 and zeros).
  const int64_t channels = 2 * flow.half_;
  std::vector<float> flip(static_cast<size_t>(channels * channels), 0.0f);
  for (int64_t c = 0; c < channels; ++c) flip[c * channels + (channels - 1 - c)] = 1.0f;
  flow.flip_ = Tensor::from_vector(flip, {channels, channels}).to(weights.device());
  return flow;
}

Tensor VitsFlow::reverse(const Tensor& z_p, const Tensor& g) const {
  MMGEN_CHECK(z_p.ndim() == 3 && z_p.dim(0) == 1 && z_p.dim(1) == 2 * half_,
              "VITS flow: input must be [1, ", 2 * half_, ", T], got ", z_p.str());
  Tensor x = z_p.to(flip_.device());
  for (size_t i = couplings_.size(); i-- > 0;) {
    x = ops::matmul(flip_, x);  // modules.Flip: the channels in reverse order
    const Coupling& c = couplings_[i];
    const auto halves = ops::split(x, {half_, half_}, 1);
    const Tensor stats = c.post(c.enc(c.pre(halves[0]), g));
    Tensor x1;
    if (stats.dim(1) == half_) {
      x1 = ops::sub(halves[1], stats);
    } else {
      const auto parts = ops::split(stats, {half_, half_}, 1);
      x1 = ops::mul(ops::sub(halves[1], parts[0]), ops::exp(ops::scale(parts[1], -1.0f)));
    }
    x = ops::concat({halves[0], x1}, 1);
  }
  return x;
}

}  // namespace mmgen::audio
