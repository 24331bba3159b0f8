#include "audio/vits_modules.h"

#include "audio/weight_norm.h"
#include "core/error.h"
#include "kernels/ops.h"

namespace mmgen::audio {

namespace ops = mmgen::kernels;

Tensor VitsConv::operator()(const Tensor& x) const {
  ops::Conv1dParams params;
  params.dilation = dilation;
  params.groups = groups;
  params.padding = dilation * (static_cast<int>(weight.dim(2)) - 1) / 2;
  return ops::conv1d(x, weight, bias, params);
}

Tensor VitsLayerNorm::operator()(const Tensor& x) const {
  // [1, C, T] -> [1, T, C] so that the op normalises over the channels.
  const Tensor normed = ops::layer_norm(ops::permute(x, {0, 2, 1}), gamma, beta, 1e-5f);
  return ops::permute(normed, {0, 2, 1});
}

std::string detect_vits_prefix(const ModelFile& file) {
  for (const char* prefix : {"", "model_g.", "generator."}) {
    if (file.contains(std::string(prefix) + "enc_p.emb.weight")) return prefix;
  }
  fail(file.path().string(), ": no tensor 'enc_p.emb.weight' (nor with a 'model_g.' or ",
       "'generator.' prefix): not a VITS synthesizer checkpoint");
}

Tensor VitsWeights::host_tensor(const std::string& name, const Shape& expected) const {
  const std::string full = prefix_ + name;
  MMGEN_CHECK(file_.contains(full), file_.path().string(), ": no tensor '", full, "'");
  Tensor t = file_.tensor(full).to(DType::kF32).contiguous();
  bool matches = t.ndim() == static_cast<int>(expected.size());
  for (size_t i = 0; matches && i < expected.size(); ++i) {
    matches = expected[i] < 0 || expected[i] == t.dim(static_cast<int>(i));
  }
  MMGEN_CHECK(matches, file_.path().string(), ": tensor '", full, "' has shape ",
              shape_str(t.shape()), ", expected ", shape_str(expected), " (-1: any)");
  return t;
}

Tensor VitsWeights::tensor(const std::string& name, const Shape& expected) const {
  return host_tensor(name, expected).to(device_);
}

VitsConv VitsWeights::conv(const std::string& name, int64_t out, int64_t in, int64_t kernel,
                           bool bias, int dilation, int groups) const {
  const std::string full = prefix_ + name;
  VitsConv conv;
  MMGEN_CHECK(has_weight(file_, full), file_.path().string(), ": no tensor '", full,
              ".weight' (nor its weight_g / weight_v pair)");
  conv.weight = load_weight(file_, full).contiguous();  // folded on the host
  const Shape expected{out, in / groups, kernel};
  MMGEN_CHECK(conv.weight.shape() == expected, file_.path().string(), ": tensor '", full,
              ".weight' has shape ", shape_str(conv.weight.shape()), ", expected ",
              shape_str(expected));
  conv.weight = conv.weight.to(device_);
  if (bias) conv.bias = tensor(name + ".bias", {out});
  conv.dilation = dilation;
  conv.groups = groups;
  return conv;
}

VitsLayerNorm VitsWeights::layer_norm(const std::string& name, int64_t channels) const {
  return {tensor(name + ".gamma", {channels}), tensor(name + ".beta", {channels})};
}

}  // namespace mmgen::audio
