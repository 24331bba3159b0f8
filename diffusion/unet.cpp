#include "diffusion/unet.h"

#include "core/error.h"
#include "diffusion/diffusers_layout.h"
#include "kernels/ops.h"

namespace mmgen::diffusion {

namespace ops = mmgen::kernels;

namespace {

// ResBlock and output GroupNorms of the UNet: 32 groups, eps 1e-5 (ldm normalization()).
constexpr int kNormGroups = 32;
constexpr float kNormEps = 1e-5f;

std::string block(const char* stem, int64_t index) {
  return std::string(stem) + std::to_string(index) + ".";
}

}  // namespace

// ---- loading ---------------------------------------------------------------------------

std::unique_ptr<UNet> UNet::load(const std::filesystem::path& path, const UNetOptions& options,
                                 Device device) {
  std::shared_ptr<const ModelFile> file(ModelFile::open(path));
  bool diffusers = false;
  for (const TensorInfo& info : file->tensors())
    diffusers = diffusers || info.name.rfind("down_blocks.", 0) == 0;
  if (diffusers) file = remap_diffusers_unet(file);  // a diffusers unet/ state dict
  std::unique_ptr<UNet> unet(new UNet());
  unet->config_ = infer_unet_config(*file, options);
  unet->file_ = file;
  unet->device_ = device;
  unet->load_weights(WeightReader(file, unet->config_.prefix, "UNet", device));
  return unet;
}

std::unique_ptr<UNet> UNet::load(const ModelFile& file, const UNetOptions& options, Device device) {
  std::shared_ptr<const ModelFile> borrowed(&file, [](const ModelFile*) {});
  std::unique_ptr<UNet> unet(new UNet());
  unet->config_ = infer_unet_config(file, options);
  unet->file_ = borrowed;
  unet->device_ = device;
  unet->load_weights(WeightReader(borrowed, unet->config_.prefix, "UNet", device));
  return unet;
}

ResnetBlock UNet::load_resnet(const WeightReader& r, const std::string& name, int64_t in,
                              int64_t out) const {
  ResnetBlock b;
  b.norm1 = load_group_norm(r, name + "in_layers.0", in, kNormGroups, kNormEps);
  b.conv1 = load_conv2d(r, name + "in_layers.2", out, in, 3);
  b.emb_weight = r.get(name + "emb_layers.1.weight", {out, config_.time_embed_dim});
  b.emb_bias = r.vec(name + "emb_layers.1.bias", out);
  b.norm2 = load_group_norm(r, name + "out_layers.0", out, kNormGroups, kNormEps);
  b.conv2 = load_conv2d(r, name + "out_layers.3", out, out, 3);
  if (in != out || r.contains(name + "skip_connection.weight"))
    b.shortcut = load_conv2d(r, name + "skip_connection", out, in, 1);
  return b;
}

SpatialTransformer UNet::load_transformer(const WeightReader& r, const std::string& name,
                                          int64_t channels) const {
  return load_spatial_transformer(r, name, channels, config_.context_dim, config_.num_heads,
                                  config_.num_head_channels);
}

void UNet::load_weights(const WeightReader& r) {
  const UNetConfig& c = config_;
  time_embed_0_weight_ = r.get("time_embed.0.weight", {c.time_embed_dim, c.model_channels});
  time_embed_0_bias_ = r.vec("time_embed.0.bias", c.time_embed_dim);
  time_embed_2_weight_ = r.get("time_embed.2.weight", {c.time_embed_dim, c.time_embed_dim});
  time_embed_2_bias_ = r.vec("time_embed.2.bias", c.time_embed_dim);

  Block first;
  first.conv_in = load_conv2d(r, "input_blocks.0.0", c.model_channels, c.in_channels, 3);
  input_blocks_.push_back(std::move(first));
  std::vector<int64_t> skip_channels{c.model_channels};
  int64_t ch = c.model_channels;
  int64_t index = 1;
  for (int level = 0; level < c.levels(); ++level) {
    const int64_t width = int64_t{c.model_channels} * c.channel_mult[static_cast<size_t>(level)];
    for (int j = 0; j < c.num_res_blocks; ++j, ++index) {
      const std::string name = block("input_blocks.", index);
      Block b;
      b.has_resnet = true;
      b.resnet = load_resnet(r, name + "0.", ch, width);
      ch = width;
      b.has_transformer = c.has_attention(level);
      if (b.has_transformer) b.transformer = load_transformer(r, name + "1.", ch);
      input_blocks_.push_back(std::move(b));
      skip_channels.push_back(ch);
    }
    if (level + 1 < c.levels()) {
      Block b;
      b.has_downsample = true;
      // The UNet's Downsample pads one on every side (unlike the VAE's).
      b.downsample.conv = load_conv2d(r, block("input_blocks.", index) + "0.op", ch, ch, 3, 2, 1);
      input_blocks_.push_back(std::move(b));
      skip_channels.push_back(ch);
      ++index;
    }
  }

  middle_block_.has_resnet = true;
  middle_block_.resnet = load_resnet(r, "middle_block.0.", ch, ch);
  middle_block_.has_transformer = true;
  middle_block_.transformer = load_transformer(r, "middle_block.1.", ch);
  middle_resnet_2_ = load_resnet(r, "middle_block.2.", ch, ch);

  index = 0;
  for (int level = c.levels() - 1; level >= 0; --level) {
    const int64_t width = int64_t{c.model_channels} * c.channel_mult[static_cast<size_t>(level)];
    for (int j = 0; j <= c.num_res_blocks; ++j, ++index) {
      const std::string name = block("output_blocks.", index);
      Block b;
      b.has_resnet = true;
      b.resnet = load_resnet(r, name + "0.", ch + skip_channels.back(), width);
      skip_channels.pop_back();
      ch = width;
      int layer = 1;
      b.has_transformer = c.has_attention(level);
      if (b.has_transformer)
        b.transformer = load_transformer(r, name + std::to_string(layer++) + ".", ch);
      if (level > 0 && j == c.num_res_blocks) {
        b.has_upsample = true;
        b.upsample.conv = load_conv2d(r, name + std::to_string(layer) + ".conv", ch, ch, 3);
      }
      output_blocks_.push_back(std::move(b));
    }
  }
  out_norm_ = load_group_norm(r, "out.0", ch, kNormGroups, kNormEps);
  out_conv_ = load_conv2d(r, "out.2", c.out_channels, ch, 3);
}

// ---- running -----------------------------------------------------------------------------

Tensor UNet::Block::forward(const Tensor& x, const Tensor& emb, const Tensor& context) const {
  Tensor h = conv_in.defined() ? conv_in.forward(x) : x;
  if (has_resnet) h = resnet.forward(h, emb);
  if (has_transformer) h = transformer.forward(h, context);
  if (has_downsample) h = downsample.forward(h);
  if (has_upsample) h = upsample.forward(h);
  return h;
}

void UNet::check_inputs(const Tensor& x, const Tensor& timesteps, const Tensor& context) const {
  const UNetConfig& c = config_;
  const int64_t f = c.downsample_factor();
  MMGEN_CHECK(x.defined() && x.ndim() == 4 && x.dtype() == DType::kF32, "UNet: x must be f32 [N, ",
              c.in_channels, ", h, w], got ", x.defined() ? x.str() : "an undefined tensor");
  const int64_t n = x.dim(0);
  MMGEN_CHECK(x.dim(1) == c.in_channels, "UNet: x ", x.str(), " has ", x.dim(1),
              " channels, the UNet of ", file_->path().string(), " takes ", c.in_channels);
  MMGEN_CHECK(n >= 1 && x.dim(2) >= f && x.dim(3) >= f && x.dim(2) % f == 0 && x.dim(3) % f == 0,
              "UNet: x ", x.str(), " needs a height and width that are positive multiples of ", f,
              " (2^(levels - 1) for ", c.levels(), " levels)");
  MMGEN_CHECK(timesteps.defined() && timesteps.ndim() == 1 && timesteps.dim(0) == n,
              "UNet: timesteps must be [", n, "] (one per batch item of x), got ",
              timesteps.defined() ? timesteps.str() : "an undefined tensor");
  MMGEN_CHECK(context.defined() && context.ndim() == 3 && context.dtype() == DType::kF32,
              "UNet: context must be f32 [", n, ", L, ", c.context_dim, "], got ",
              context.defined() ? context.str() : "an undefined tensor");
  MMGEN_CHECK(context.dim(0) == n && context.dim(1) >= 1, "UNet: context ", context.str(),
              " must have ", n, " batch items (as x) and at least one token");
  MMGEN_CHECK(context.dim(2) == c.context_dim, "UNet: context ", context.str(), " has width ",
              context.dim(2), ", the UNet of ", file_->path().string(), " takes context_dim ",
              c.context_dim);
  MMGEN_CHECK(x.device() == device_ && context.device() == device_, "UNet: x ", x.str(),
              " and context ", context.str(), " must be on the UNet's device ", device_.str());
}

Tensor UNet::predict_eps(const Tensor& x, const Tensor& timesteps, const Tensor& context) const {
  check_inputs(x, timesteps, context);
  // A few values: converted on the host, then moved to the UNet's device.
  const Tensor t = timesteps.dtype() == DType::kF32 ? timesteps.to(device_)
                                                    : timesteps.cpu().to(DType::kF32).to(device_);
  // ldm timestep_embedding: [cos, sin], freq_i = 10000^(-i / half).
  const Tensor sinusoid = ops::timestep_embedding(t, config_.model_channels, 10000.0f, true);
  const Tensor emb =
      ops::linear(ops::silu(ops::linear(sinusoid, time_embed_0_weight_, time_embed_0_bias_)),
                  time_embed_2_weight_, time_embed_2_bias_);

  std::vector<Tensor> skips;
  Tensor h = x;
  for (const Block& b : input_blocks_) {
    h = b.forward(h, emb, context);
    skips.push_back(h);
  }
  h = middle_resnet_2_.forward(middle_block_.forward(h, emb, context), emb);
  for (const Block& b : output_blocks_) {
    h = b.forward(ops::concat({h, skips.back()}, 1), emb, context);
    skips.pop_back();
  }
  return out_conv_.forward(ops::silu(out_norm_.forward(h)));
}

}  // namespace mmgen::diffusion
