#include "audio/hifigan.h"

#include <optional>

#include "audio/weight_norm.h"
#include "core/error.h"
#include "core/log.h"
#include "kernels/ops.h"

namespace mmgen::audio {

namespace {

namespace ops = mmgen::kernels;

// Reads module weights under a prefix and checks their shapes.
class Loader {
 public:
  Loader(const ModelFile& file, std::string prefix, Device device)
      : file_(file), prefix_(std::move(prefix)), device_(device) {}

  // `expected` is the weight's shape. The bias must be [bias_size]; it may be
  // absent only when `bias_required` is false.
  HifiganConv conv(const std::string& name, const Shape& expected, int64_t bias_size,
                   bool bias_required, DType weight_dtype = DType::kF32) const {
    const std::string full = prefix_ + name;
    HifiganConv conv;
    conv.weight = load_weight(file_, full);
    MMGEN_CHECK(conv.weight.shape() == expected, file_.path().string(), ": tensor '", full,
                ".weight' has shape ", shape_str(conv.weight.shape()), ", the config needs ",
                shape_str(expected));
    const std::string bias_name = full + ".bias";
    if (bias_required || file_.contains(bias_name)) {
      MMGEN_CHECK(file_.contains(bias_name), file_.path().string(), ": no tensor '", bias_name,
                  "'");
      conv.bias = file_.tensor(bias_name).to(DType::kF32).contiguous();
      MMGEN_CHECK(conv.bias.shape() == Shape{bias_size}, file_.path().string(), ": tensor '",
                  bias_name, "' has shape ", shape_str(conv.bias.shape()), ", the config needs [",
                  bias_size, "]");
      conv.bias = conv.bias.to(device_);
    }
    // Folded (or converted) on the host; one copy to the device. The model never writes
    // its weights, so kernels may keep packed forms of them (Storage::mark_read_only).
    conv.weight = conv.weight.to(weight_dtype).contiguous().to(device_);
    conv.weight.storage()->mark_read_only();
    return conv;
  }

 private:
  const ModelFile& file_;
  std::string prefix_;
  Device device_;
};

int same_padding(int kernel, int dilation) { return (kernel * dilation - dilation) / 2; }

// conv(x), or conv(leaky_relu(x, slope)) with the activation folded into the
// convolution's own copy of x (as the separate ops, bit for bit).
Tensor apply(const HifiganConv& conv, const Tensor& x, std::optional<float> leaky_slope = {}) {
  ops::Conv1dParams params;
  params.stride = conv.stride;
  params.padding = conv.padding;
  params.dilation = conv.dilation;
  ops::Conv1dFusion fusion;
  fusion.leaky_relu_input = leaky_slope.has_value();
  fusion.negative_slope = leaky_slope.value_or(0.0f);
  return ops::conv1d(x, conv.weight, conv.bias, params, fusion);
}

}  // namespace

Hifigan Hifigan::load(const std::filesystem::path& path, const HifiganConfig& config,
                      const std::string& prefix, Device device, Precision precision) {
  const auto file = ModelFile::open(path);
  return load(*file, config, prefix, device, precision);
}

Hifigan Hifigan::load(const ModelFile& file, const HifiganConfig& config, const std::string& prefix,
                      Device device, Precision precision) {
  validate(config, file.path().string() + " (config)");
  std::string resolved = prefix;
  if (resolved.empty() && !has_weight(file, "conv_pre") && has_weight(file, "generator.conv_pre")) {
    resolved = "generator.";
  }
  const Loader loader(file, resolved, device);
  Hifigan model;
  model.config_ = config;
  model.device_ = device;
  if (precision == Precision::kBF16 && !ops::bf16_products_available(device)) {
    if (device.is_cpu()) {
      log_warn(
          "HiFi-GAN: bf16 products need a CPU with AMX, and this one has none (or "
          "MMGEN_AMX=0 is set): the vocoder runs in f32");
    } else {
      log_warn("HiFi-GAN: bf16 products run on CPUs with AMX only: on ", device.str(),
               " the vocoder runs in f32");
    }
    precision = Precision::kF32;
  }
  model.precision_ = precision;
  // Every convolution but conv_post (one output channel: nothing for tiles to share).
  const DType product_dtype = precision == Precision::kBF16 ? DType::kBF16 : DType::kF32;
  const int channels = config.upsample_initial_channel;

  model.conv_pre_ =
      loader.conv("conv_pre", {channels, config.num_mels, 7}, channels, false, product_dtype);
  model.conv_pre_.padding = 3;

  const int stages = static_cast<int>(config.upsample_rates.size());
  for (int i = 0; i < stages; ++i) {
    const int in = config.upsample_initial_channel >> i;
    const int out = config.stage_channels(i);
    const int rate = config.upsample_rates[i];
    const int kernel = config.upsample_kernel_sizes[i];
    HifiganConv up =
        loader.conv("ups." + std::to_string(i), {in, out, kernel}, out, true, product_dtype);
    up.stride = rate;
    up.padding = (kernel - rate) / 2;
    model.ups_.push_back(std::move(up));
  }

  const int kernels = static_cast<int>(config.resblock_kernel_sizes.size());
  for (int i = 0; i < stages; ++i) {
    const int ch = config.stage_channels(i);
    for (int j = 0; j < kernels; ++j) {
      const int k = config.resblock_kernel_sizes[j];
      const auto& dilations = config.resblock_dilation_sizes[j];
      const std::string name = "resblocks." + std::to_string(i * kernels + j);
      HifiganResBlock block;
      block.kernel_size = k;
      // Type 1 names its dilated convs convs1 and the plain ones convs2; type 2
      // has one list, convs.
      const std::string dilated = config.resblock == 1 ? ".convs1." : ".convs.";
      for (size_t c = 0; c < dilations.size(); ++c) {
        HifiganConv conv =
            loader.conv(name + dilated + std::to_string(c), {ch, ch, k}, ch, true, product_dtype);
        conv.dilation = dilations[c];
        conv.padding = same_padding(k, dilations[c]);
        block.convs1.push_back(std::move(conv));
        if (config.resblock == 1) {
          HifiganConv plain = loader.conv(name + ".convs2." + std::to_string(c), {ch, ch, k}, ch,
                                          true, product_dtype);
          plain.padding = same_padding(k, 1);
          block.convs2.push_back(std::move(plain));
        }
      }
      model.resblocks_.push_back(std::move(block));
    }
  }

  // conv_post has a bias in HiFi-GAN, none in VITS' copy of the generator.
  model.conv_post_ = loader.conv("conv_post", {1, config.stage_channels(stages - 1), 7}, 1, false);
  model.conv_post_.padding = 3;
  return model;
}

kernels::ResidualStack Hifigan::stack(const HifiganResBlock& block) {
  // Type 1: units conv2(lrelu(conv1(lrelu(x)))) + x; type 2: conv1(lrelu(x)) + x.
  kernels::ResidualStack stack;
  for (size_t c = 0; c < block.convs1.size(); ++c) {
    kernels::ResidualUnit& unit = stack.emplace_back();
    unit.push_back({block.convs1[c].weight, block.convs1[c].bias, block.convs1[c].dilation});
    if (!block.convs2.empty())
      unit.push_back({block.convs2[c].weight, block.convs2[c].bias, block.convs2[c].dilation});
  }
  return stack;
}

Tensor Hifigan::vocode(const Tensor& mel, const Tensor& conditioning) const {
  MMGEN_CHECK(mel.ndim() == 2 || mel.ndim() == 3, "HiFi-GAN: mel must be [num_mels, frames] or ",
              "[batch, num_mels, frames], got ", mel.str());
  Tensor x = mel.ndim() == 2 ? mel.unsqueeze(0) : mel;
  MMGEN_CHECK(x.dim(1) == config_.num_mels && x.dim(2) >= 1, "HiFi-GAN: mel ", x.str(),
              " must have ", config_.num_mels, " channels and at least one frame");
  if (x.dtype() != DType::kF32) x = x.cpu().to(DType::kF32);
  x = x.to(device_);

  x = apply(conv_pre_, x);
  if (conditioning.defined()) {
    MMGEN_CHECK(conditioning.ndim() == 3 && conditioning.dim(1) == x.dim(1) &&
                    conditioning.dim(2) == 1 &&
                    (conditioning.dim(0) == 1 || conditioning.dim(0) == x.dim(0)),
                "HiFi-GAN: conditioning ", conditioning.str(), " must be [", x.dim(0), " or 1, ",
                x.dim(1), ", 1]");
    x = ops::add(x, conditioning.to(device_));
  }
  const auto kernels = config_.resblock_kernel_sizes.size();
  for (size_t i = 0; i < ups_.size(); ++i) {
    ops::Conv1dParams params;
    params.stride = ups_[i].stride;
    params.padding = ups_[i].padding;
    ops::Conv1dFusion leaky;
    leaky.leaky_relu_input = true;
    leaky.negative_slope = config_.lrelu_slope;
    x = ops::conv_transpose1d(x, ups_[i].weight, ups_[i].bias, params, leaky);
    // Multi-receptive-field fusion: the mean of the stage's resblocks.
    std::vector<kernels::ResidualStack> stacks;
    for (size_t j = 0; j < kernels; ++j) stacks.push_back(stack(resblocks_[i * kernels + j]));
    x = ops::residual_stacks_mean(x, stacks, config_.lrelu_slope);
  }
  x = apply(conv_post_, x, config_.final_lrelu_slope);
  return ops::tanh(x);
}

}  // namespace mmgen::audio
