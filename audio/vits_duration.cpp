#include "audio/vits_duration.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "core/error.h"
#include "kernels/ops.h"

namespace mmgen::audio {

namespace ops = mmgen::kernels;

namespace {

constexpr double kMinBinWidth = 1e-3;
constexpr double kMinBinHeight = 1e-3;
constexpr double kMinDerivative = 1e-3;

// Knot positions from unnormalised sizes: softmax, floor of `min_size`, cumulative
// sum scaled to [-bound, bound] with exact end points.
std::vector<double> knots(const float* unnormalised, int bins, double min_size, double bound) {
  double top = unnormalised[0];
  for (int i = 1; i < bins; ++i) top = std::max(top, static_cast<double>(unnormalised[i]));
  std::vector<double> sizes(bins);
  double total = 0;
  for (int i = 0; i < bins; ++i) total += sizes[i] = std::exp(unnormalised[i] - top);
  std::vector<double> out(bins + 1);
  double cumulative = 0;
  out[0] = -bound;
  for (int i = 0; i < bins; ++i) {
    cumulative += min_size + (1 - min_size * bins) * sizes[i] / total;
    out[i + 1] = 2 * bound * cumulative - bound;
  }
  out[bins] = bound;
  return out;
}

double softplus(double x) { return x > 20 ? x : std::log1p(std::exp(x)); }

}  // namespace

float rational_quadratic_spline(float input, const float* widths, const float* heights,
                                const float* derivatives, int num_bins, float tail_bound,
                                bool inverse) {
  if (input < -tail_bound || input > tail_bound) return input;  // linear tails
  const double bound = tail_bound;
  const std::vector<double> cw = knots(widths, num_bins, kMinBinWidth, bound);
  const std::vector<double> ch = knots(heights, num_bins, kMinBinHeight, bound);
  // Boundary derivatives are 1: softplus(log(exp(1 - min) - 1)) + min.
  std::vector<double> d(num_bins + 1, 1.0);
  for (int i = 1; i < num_bins; ++i) d[i] = kMinDerivative + softplus(derivatives[i - 1]);

  // The bin holding the input (the last edge nudged up by 1e-6, as the reference does).
  const std::vector<double>& edges = inverse ? ch : cw;
  int bin = -1;
  for (int i = 0; i <= num_bins; ++i) {
    const double edge = i == num_bins ? edges[i] + 1e-6 : edges[i];
    if (input >= edge) bin = i;
  }
  bin = std::clamp(bin, 0, num_bins - 1);
  const double x0 = cw[bin], width = cw[bin + 1] - cw[bin];
  const double y0 = ch[bin], height = ch[bin + 1] - ch[bin];
  const double delta = height / width;
  const double d0 = d[bin], d1 = d[bin + 1];
  const double v = input;
  if (inverse) {
    const double a = (v - y0) * (d0 + d1 - 2 * delta) + height * (delta - d0);
    const double b = height * d0 - (v - y0) * (d0 + d1 - 2 * delta);
    const double c = -delta * (v - y0);
    const double discriminant = std::max(0.0, b * b - 4 * a * c);
    const double root = (2 * c) / (-b - std::sqrt(discriminant));
    return static_cast<float>(root * width + x0);
  }
  const double theta = (v - x0) / width;
  const double t1t = theta * (1 - theta);
  const double numerator = height * (delta * theta * theta + d0 * t1t);
  const double denominator = delta + (d0 + d1 - 2 * delta) * t1t;
  return static_cast<float>(y0 + numerator / denominator);
}

VitsDdsConv VitsDdsConv::load(const VitsWeights& weights, const std::string& name, int64_t channels,
                              int kernel_size, int layers) {
  VitsDdsConv convs;
  int dilation = 1;
  for (int i = 0; i < layers; ++i) {
    const std::string index = std::to_string(i);
    convs.convs_sep.push_back(weights.conv(name + ".convs_sep." + index, channels, channels,
                                           kernel_size, true, dilation,
                                           static_cast<int>(channels)));
    convs.convs_1x1.push_back(weights.conv(name + ".convs_1x1." + index, channels, channels, 1));
    convs.norms_1.push_back(weights.layer_norm(name + ".norms_1." + index, channels));
    convs.norms_2.push_back(weights.layer_norm(name + ".norms_2." + index, channels));
    dilation *= kernel_size;
  }
  return convs;
}

Tensor VitsDdsConv::operator()(const Tensor& input, const Tensor& g) const {
  Tensor x = g.defined() ? ops::add(input, g) : input;
  for (size_t i = 0; i < convs_sep.size(); ++i) {
    Tensor y = ops::gelu(norms_1[i](convs_sep[i](x)));
    y = ops::gelu(norms_2[i](convs_1x1[i](y)));
    x = ops::add(x, y);
  }
  return x;
}

VitsDurationPredictor VitsDurationPredictor::load(const VitsWeights& weights,
                                                  const VitsConfig& config) {
  VitsDurationPredictor dp;
  dp.config_ = config;
  dp.stochastic_ = config.use_sdp;
  const int64_t hidden = config.hidden_channels;
  if (!dp.stochastic_) {
    // Filter channels and kernel come from the checkpoint (256 and 3 in the reference).
    const Tensor w1 = weights.tensor("dp.conv_1.weight", {-1, hidden, -1});
    const int64_t filters = w1.dim(0), kernel = w1.dim(2);
    MMGEN_CHECK(kernel % 2 == 1, weights.file().path().string(), ": tensor '", weights.prefix(),
                "dp.conv_1.weight' has even kernel ", kernel, ", expected odd");
    dp.filter_channels_ = filters;
    dp.conv_1_ = weights.conv("dp.conv_1", filters, hidden, kernel);
    dp.norm_1_ = weights.layer_norm("dp.norm_1", filters);
    dp.conv_2_ = weights.conv("dp.conv_2", filters, filters, kernel);
    dp.norm_2_ = weights.layer_norm("dp.norm_2", filters);
    dp.det_proj_ = weights.conv("dp.proj", 1, filters, 1);
    if (config.gin_channels > 0) dp.cond_ = weights.conv("dp.cond", hidden, config.gin_channels, 1);
    return dp;
  }
  const int64_t filters = weights.tensor("dp.pre.weight", {-1, hidden, 1}).dim(0);
  dp.filter_channels_ = filters;
  const int kernel = config.sdp_kernel_size;
  dp.pre_ = weights.conv("dp.pre", filters, hidden, 1);
  if (config.gin_channels > 0) dp.cond_ = weights.conv("dp.cond", filters, config.gin_channels, 1);
  dp.convs_ = VitsDdsConv::load(weights, "dp.convs", filters, kernel, config.sdp_ddsconv_layers);
  dp.proj_ = weights.conv("dp.proj", filters, filters, 1);
  dp.affine_m_ = weights.tensor("dp.flows.0.m", {2, 1});
  dp.affine_logs_ = weights.tensor("dp.flows.0.logs", {2, 1});
  const int64_t params = 3 * config.num_bins - 1;
  for (int i = 0; i < config.sdp_n_flows; ++i) {
    const std::string name = "dp.flows." + std::to_string(2 * i + 1);
    // The first ConvFlow is skipped in reverse (the reference drops it), so
    // checkpoints may omit it.
    if (i == 0 && !weights.contains(name + ".pre.weight")) {
      dp.flows_.emplace_back();
      continue;
    }
    ConvFlow flow;
    flow.pre = weights.conv(name + ".pre", filters, 1, 1);
    flow.convs =
        VitsDdsConv::load(weights, name + ".convs", filters, kernel, config.sdp_ddsconv_layers);
    flow.proj = weights.conv(name + ".proj", params, filters, 1);
    dp.flows_.push_back(std::move(flow));
  }
  return dp;
}

Tensor VitsDurationPredictor::conv_flow_reverse(const ConvFlow& flow, const Tensor& z,
                                                const Tensor& cond) const {
  const int64_t length = z.dim(2);
  const int bins = config_.num_bins;
  const auto halves = ops::split(z, {1, 1}, 1);
  const Tensor x0 = ops::contiguous(halves[0]);
  // The convolutions run where the weights are; the spline is a scalar step per
  // position, done on the host with its parameters brought over.
  const Tensor h = flow.proj(flow.convs(flow.pre(x0), cond)).cpu().contiguous();  // [1, params, T]
  const float* hd = h.typed_data<float>();
  std::vector<float> x1 = ops::contiguous(halves[1]).to_f32_vector();
  const float norm = 1.0f / std::sqrt(static_cast<float>(filter_channels_));
  std::vector<float> widths(bins), heights(bins), derivatives(bins - 1);
  for (int64_t t = 0; t < length; ++t) {
    for (int b = 0; b < bins; ++b) {
      widths[b] = hd[b * length + t] * norm;
      heights[b] = hd[(bins + b) * length + t] * norm;
    }
    for (int b = 0; b < bins - 1; ++b) derivatives[b] = hd[(2 * bins + b) * length + t];
    x1[t] = rational_quadratic_spline(x1[t], widths.data(), heights.data(), derivatives.data(),
                                      bins, config_.tail_bound, true);
  }
  return ops::concat({x0, Tensor::from_vector(x1, {1, 1, length}).to(x0.device())}, 1);
}

Tensor VitsDurationPredictor::logw(const Tensor& x, const Tensor& noise, float noise_scale_w,
                                   const Tensor& g) const {
  const bool conditioned = g.defined() && cond_.weight.defined();
  MMGEN_CHECK(x.ndim() == 3 && x.dim(0) == 1 && x.dim(1) == config_.hidden_channels,
              "VITS duration predictor: input must be [1, ", config_.hidden_channels, ", T], got ",
              x.str());
  const int64_t length = x.dim(2);
  if (!stochastic_) {
    const Tensor input = conditioned ? ops::add(x, cond_(g)) : x;
    Tensor h = norm_1_(ops::relu(conv_1_(input)));
    h = norm_2_(ops::relu(conv_2_(h)));
    return det_proj_(h);
  }
  MMGEN_CHECK(noise.defined() && noise.shape() == Shape({1, 2, length}),
              "VITS duration predictor: noise must be [1, 2, ", length, "], got ",
              noise.defined() ? noise.str() : std::string("nothing"));
  Tensor h = pre_(x);
  if (conditioned) h = ops::add(h, cond_(g));
  const Tensor cond = proj_(convs_(h));
  const Tensor noise_f32 = noise.dtype() == DType::kF32 ? noise : noise.cpu().to(DType::kF32);
  Tensor z = ops::scale(noise_f32.to(h.device()), noise_scale_w);
  auto flip = [](const Tensor& t) {
    const auto parts = ops::split(t, {1, 1}, 1);
    return ops::concat({parts[1], parts[0]}, 1);
  };
  // Reverse order: (Flip, ConvFlow) for the last flows down to the second, then
  // the last Flip before the affine layer; the first ConvFlow is never used.
  for (size_t i = flows_.size(); i-- > 1;) {
    z = flip(z);
    z = conv_flow_reverse(flows_[i], z, cond);
  }
  z = flip(z);
  // ElementwiseAffine reverse: (z - m) * exp(-logs).
  z = ops::mul(ops::sub(z, affine_m_.reshape({1, 2, 1})),
               ops::exp(ops::scale(affine_logs_.reshape({1, 2, 1}), -1.0f)));
  return ops::contiguous(ops::split(z, {1, 1}, 1)[0]);
}

}  // namespace mmgen::audio
