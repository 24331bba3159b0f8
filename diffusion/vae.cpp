#include "diffusion/vae.h"

#include <algorithm>
#include <numeric>

#include "core/error.h"
#include "diffusion/diffusers_layout.h"
#include "diffusion/tiled_decode.h"
#include "kernels/ops.h"

namespace mmgen::diffusion {

namespace ops = mmgen::kernels;

namespace {

const std::string kSdPrefix = "first_stage_model.";

bool starts_with(const std::string& text, const std::string& head) {
  return text.compare(0, head.size(), head) == 0;
}

// "first_stage_model." for a full SD checkpoint, "" for a standalone ldm VAE.
std::string detect_prefix(const ModelFile& file) {
  bool plain = false, diffusers = false;
  for (const TensorInfo& info : file.tensors()) {
    if (starts_with(info.name, kSdPrefix)) return kSdPrefix;
    if (starts_with(info.name, "encoder.down_blocks.") ||
        starts_with(info.name, "decoder.up_blocks.") ||
        starts_with(info.name, "decoder.mid_block."))
      diffusers = true;
    else if (starts_with(info.name, "encoder.") || starts_with(info.name, "decoder."))
      plain = true;
  }
  MMGEN_CHECK(
      !diffusers, file.path().string(),
      ": a diffusers-layout VAE (encoder.down_blocks.*, decoder.up_blocks.*) is not "
      "read directly; open the file with Vae::load(path) or open_vae_file(), which map its names");
  MMGEN_CHECK(plain, file.path().string(),
              ": no VAE found: expected tensors 'first_stage_model.decoder.*' (a Stable "
              "Diffusion checkpoint) or 'decoder.*' (a standalone ldm VAE)");
  return "";
}

std::string level_name(const char* part, int64_t level) {
  return std::string(part) + std::to_string(level) + ".";
}

// The sizes one half (encoder or decoder) reveals.
struct HalfShape {
  std::vector<int64_t> level_channels;
  int64_t num_res_blocks = 0;  // as stored: the decoder's count includes its extra block
  std::vector<bool> level_attention;
  bool mid_attention = false;
};

HalfShape infer_half(const WeightReader& r, const std::string& half, const char* levels_part) {
  HalfShape s;
  const std::string stem = half + levels_part;
  const int64_t levels = r.count_indexed(stem);
  MMGEN_CHECK(levels >= 1, r.file().path().string(), ": no tensors '", r.full_name(stem),
              "<i>.block.<j>.*' (the levels of the VAE ", half.substr(0, half.size() - 1), ")");
  for (int64_t i = 0; i < levels; ++i) {
    const std::string level = stem + std::to_string(i) + ".";
    const int64_t blocks = r.count_indexed(level + "block.");
    if (i == 0) s.num_res_blocks = blocks;
    MMGEN_CHECK(blocks >= 1 && blocks == s.num_res_blocks, r.file().path().string(), ": VAE ",
                r.full_name(level), " has ", blocks, " blocks, level 0 has ", s.num_res_blocks);
    const Shape& conv = r.shape(level + "block.0.conv1.weight");
    MMGEN_CHECK(conv.size() == 4, r.file().path().string(), ": tensor '",
                r.full_name(level + "block.0.conv1.weight"), "' has shape ", shape_str(conv),
                ", expected a 4-d convolution kernel");
    s.level_channels.push_back(conv[0]);
    const int64_t attentions = r.count_indexed(level + "attn.");
    MMGEN_CHECK(attentions == 0 || attentions == blocks, r.file().path().string(), ": VAE ",
                r.full_name(level), " has ", attentions, " attention blocks for ", blocks,
                " ResnetBlocks");
    s.level_attention.push_back(attentions != 0);
  }
  s.mid_attention = r.contains(half + "mid.attn_1.q.weight");
  return s;
}

int64_t conv_dim(const WeightReader& r, const std::string& name, size_t dim) {
  const Shape& shape = r.shape(name);
  MMGEN_CHECK(shape.size() == 4, r.file().path().string(), ": tensor '", r.full_name(name),
              "' has shape ", shape_str(shape), ", expected a 4-d convolution kernel");
  return shape[dim];
}

// ---- loading the blocks in the ldm naming ----

Conv2d load_conv(const WeightReader& r, const std::string& name, int64_t out, int64_t in,
                 int64_t kernel, int stride = 1, int padding = -1) {
  Conv2d conv;
  conv.weight = r.get(name + ".weight", {out, in, kernel, kernel});
  conv.bias = r.vec(name + ".bias", out);
  conv.stride = stride;
  conv.padding = padding >= 0 ? padding : static_cast<int>(kernel / 2);
  return conv;
}

GroupNorm load_norm(const WeightReader& r, const VaeConfig& c, const std::string& name,
                    int64_t channels) {
  MMGEN_CHECK(channels % c.norm_groups == 0, r.file().path().string(), ": VAE GroupNorm '",
              r.full_name(name), "' over ", channels, " channels does not split into ",
              c.norm_groups, " groups");
  GroupNorm norm;
  norm.weight = r.vec(name + ".weight", channels);
  norm.bias = r.vec(name + ".bias", channels);
  norm.groups = c.norm_groups;
  norm.eps = c.norm_eps;
  return norm;
}

ResnetBlock load_resnet(const WeightReader& r, const VaeConfig& c, const std::string& name,
                        int64_t in, int64_t out) {
  ResnetBlock b;
  b.norm1 = load_norm(r, c, name + "norm1", in);
  b.conv1 = load_conv(r, name + "conv1", out, in, 3);
  b.norm2 = load_norm(r, c, name + "norm2", out);
  b.conv2 = load_conv(r, name + "conv2", out, out, 3);
  if (r.contains(name + "conv_shortcut.weight"))
    b.shortcut = load_conv(r, name + "conv_shortcut", out, in, 3);
  else if (in != out || r.contains(name + "nin_shortcut.weight"))
    b.shortcut = load_conv(r, name + "nin_shortcut", out, in, 1);
  return b;
}

SpatialSelfAttention load_attention(const WeightReader& r, const VaeConfig& c,
                                    const std::string& name, int64_t channels) {
  SpatialSelfAttention a;
  a.norm = load_norm(r, c, name + "norm", channels);
  auto kernel = [&](const char* part) {
    return r.get(name + part + ".weight", {channels, channels, 1, 1}).reshape({channels, channels});
  };
  auto bias = [&](const char* part) { return r.vec(name + part + ".bias", channels); };
  a.q_weight = kernel("q");
  a.k_weight = kernel("k");
  a.v_weight = kernel("v");
  a.proj_weight = kernel("proj_out");
  a.q_bias = bias("q");
  a.k_bias = bias("k");
  a.v_bias = bias("v");
  a.proj_bias = bias("proj_out");
  return a;
}

}  // namespace

// ---- config ------------------------------------------------------------------------

VaeConfig infer_vae_config(const ModelFile& file) {
  VaeConfig c;
  c.prefix = detect_prefix(file);
  // A non-owning handle: the reader lives only inside this call.
  const WeightReader r(std::shared_ptr<const ModelFile>(&file, [](const ModelFile*) {}), c.prefix,
                       "VAE");
  const std::string path = file.path().string();
  c.has_encoder = r.contains("encoder.conv_in.weight");
  c.has_decoder = r.contains("decoder.conv_in.weight");
  MMGEN_CHECK(c.has_encoder || c.has_decoder, path, ": no tensor '",
              r.full_name("decoder.conv_in.weight"), "' nor '",
              r.full_name("encoder.conv_in.weight"), "' (VAE)");

  HalfShape shape;
  if (c.has_encoder) {
    const HalfShape enc = infer_half(r, "encoder.", "down.");
    c.ch = conv_dim(r, "encoder.conv_in.weight", 0);
    c.in_channels = conv_dim(r, "encoder.conv_in.weight", 1);
    const int64_t doubled = conv_dim(r, "encoder.conv_out.weight", 0);
    MMGEN_CHECK(doubled % 2 == 0, path, ": tensor '", r.full_name("encoder.conv_out.weight"),
                "' has ", doubled, " output channels, expected 2 * z_channels (double_z)");
    c.z_channels = doubled / 2;
    c.num_res_blocks = enc.num_res_blocks;
    c.encoder_level_attention = enc.level_attention;
    c.mid_attention = enc.mid_attention;
    shape = enc;
  }
  if (c.has_decoder) {
    const HalfShape dec = infer_half(r, "decoder.", "up.");
    MMGEN_CHECK(dec.num_res_blocks >= 2, path, ": VAE decoder levels have ", dec.num_res_blocks,
                " blocks, expected num_res_blocks + 1 >= 2");
    const int64_t z = conv_dim(r, "decoder.conv_in.weight", 1);
    c.out_channels = conv_dim(r, "decoder.conv_out.weight", 0);
    c.decoder_level_attention = dec.level_attention;
    if (c.has_encoder) {
      MMGEN_CHECK(dec.level_channels == shape.level_channels &&
                      dec.num_res_blocks == c.num_res_blocks + 1 && z == c.z_channels &&
                      dec.mid_attention == c.mid_attention,
                  path, ": the VAE encoder and decoder disagree on their sizes (level channels, ",
                  "blocks per level, z_channels or mid attention)");
    } else {
      c.z_channels = z;
      c.num_res_blocks = dec.num_res_blocks - 1;
      c.mid_attention = dec.mid_attention;
      shape = dec;
      // The decoder never shows the base width alone: take the largest common divisor.
      c.ch = 0;
      for (int64_t channels : dec.level_channels) c.ch = std::gcd(c.ch, channels);
    }
  }
  MMGEN_CHECK(c.ch >= 1, path, ": VAE base channel count ", c.ch, " is not positive");
  for (int64_t channels : shape.level_channels) {
    MMGEN_CHECK(channels % c.ch == 0, path, ": VAE level with ", channels,
                " channels is not a multiple of the base width ", c.ch);
    c.ch_mult.push_back(channels / c.ch);
  }

  // quant_conv [2 * embed_dim, 2 * z_channels] and post_quant_conv [z_channels, embed_dim].
  const bool quant = r.contains("quant_conv.weight"),
             post_quant = r.contains("post_quant_conv.weight");
  c.has_quant_conv = c.has_decoder ? post_quant : quant;
  MMGEN_CHECK(!(c.has_encoder && c.has_decoder) || quant == post_quant, path,
              ": the VAE has only one of quant_conv and post_quant_conv");
  c.embed_dim = c.z_channels;
  if (c.has_quant_conv) {
    c.embed_dim = c.has_decoder ? conv_dim(r, "post_quant_conv.weight", 1)
                                : conv_dim(r, "quant_conv.weight", 0) / 2;
  }
  return c;
}

// ---- loading -------------------------------------------------------------------------

Vae Vae::load(const std::filesystem::path& path, Device device) {
  return load(open_vae_file(path), device);  // any layout: diffusers names are mapped
}

Vae Vae::load(std::shared_ptr<const ModelFile> file, Device device) {
  MMGEN_CHECK(file != nullptr, "Vae::load: no model file");
  Vae vae;
  vae.config_ = infer_vae_config(*file);
  vae.file_ = file;
  vae.device_ = device;
  const WeightReader reader(file, vae.config_.prefix, "VAE", device);
  const VaeConfig& c = vae.config_;
  if (c.has_quant_conv) {
    if (c.has_encoder)
      vae.quant_conv_ = load_conv(reader, "quant_conv", 2 * c.embed_dim, 2 * c.z_channels, 1);
    if (c.has_decoder)
      vae.post_quant_conv_ = load_conv(reader, "post_quant_conv", c.z_channels, c.embed_dim, 1);
  }
  if (c.has_encoder) vae.load_encoder(reader);
  if (c.has_decoder) vae.load_decoder(reader);
  return vae;
}

void Vae::load_encoder(const WeightReader& r) {
  const VaeConfig& c = config_;
  Encoder& e = encoder_;
  e.conv_in = load_conv(r, "encoder.conv_in", c.ch, c.in_channels, 3);
  int64_t block_in = c.ch;
  for (int64_t i = 0; i < c.levels(); ++i) {
    const std::string level = "encoder." + level_name("down.", i);
    const int64_t block_out = c.ch * c.ch_mult[static_cast<size_t>(i)];
    Level l;
    for (int64_t j = 0; j < c.num_res_blocks; ++j) {
      l.blocks.push_back(load_resnet(r, c, level + level_name("block.", j), block_in, block_out));
      block_in = block_out;
      if (c.encoder_level_attention[static_cast<size_t>(i)])
        l.attentions.push_back(load_attention(r, c, level + level_name("attn.", j), block_in));
    }
    if (i + 1 < c.levels()) {
      l.downsample.conv = load_conv(r, level + "downsample.conv", block_in, block_in, 3, 2, 0);
      l.downsample.pad_right_bottom = true;
    }
    e.levels.push_back(std::move(l));
  }
  e.mid.block_1 = load_resnet(r, c, "encoder.mid.block_1.", block_in, block_in);
  e.mid.has_attention = c.mid_attention;
  if (c.mid_attention) e.mid.attn_1 = load_attention(r, c, "encoder.mid.attn_1.", block_in);
  e.mid.block_2 = load_resnet(r, c, "encoder.mid.block_2.", block_in, block_in);
  e.norm_out = load_norm(r, c, "encoder.norm_out", block_in);
  e.conv_out = load_conv(r, "encoder.conv_out", 2 * c.z_channels, block_in, 3);
}

void Vae::load_decoder(const WeightReader& r) {
  const VaeConfig& c = config_;
  Decoder& d = decoder_;
  int64_t block_in = c.ch * c.ch_mult.back();
  d.conv_in = load_conv(r, "decoder.conv_in", block_in, c.z_channels, 3);
  d.mid.block_1 = load_resnet(r, c, "decoder.mid.block_1.", block_in, block_in);
  d.mid.has_attention = c.mid_attention;
  if (c.mid_attention) d.mid.attn_1 = load_attention(r, c, "decoder.mid.attn_1.", block_in);
  d.mid.block_2 = load_resnet(r, c, "decoder.mid.block_2.", block_in, block_in);
  d.levels.resize(static_cast<size_t>(c.levels()));
  for (int64_t i = c.levels() - 1; i >= 0; --i) {
    const std::string level = "decoder." + level_name("up.", i);
    const int64_t block_out = c.ch * c.ch_mult[static_cast<size_t>(i)];
    Level& l = d.levels[static_cast<size_t>(i)];
    for (int64_t j = 0; j <= c.num_res_blocks; ++j) {
      l.blocks.push_back(load_resnet(r, c, level + level_name("block.", j), block_in, block_out));
      block_in = block_out;
      if (c.decoder_level_attention[static_cast<size_t>(i)])
        l.attentions.push_back(load_attention(r, c, level + level_name("attn.", j), block_in));
    }
    if (i > 0) l.upsample.conv = load_conv(r, level + "upsample.conv", block_in, block_in, 3);
  }
  d.norm_out = load_norm(r, c, "decoder.norm_out", block_in);
  d.conv_out = load_conv(r, "decoder.conv_out", c.out_channels, block_in, 3);
}

// ---- running ---------------------------------------------------------------------------

Tensor Vae::Mid::forward(const Tensor& x) const {
  Tensor h = block_1.forward(x);
  if (has_attention) h = attn_1.forward(h);
  return block_2.forward(h);
}

Tensor Vae::run_encoder(const Tensor& image) const {
  const Encoder& e = encoder_;
  Tensor h = e.conv_in.forward(image);
  for (const Level& level : e.levels) {
    for (size_t j = 0; j < level.blocks.size(); ++j) {
      h = level.blocks[j].forward(h);
      if (!level.attentions.empty()) h = level.attentions[j].forward(h);
    }
    if (level.downsample.conv.defined()) h = level.downsample.forward(h);
  }
  h = e.mid.forward(h);
  return e.conv_out.forward(ops::silu(e.norm_out.forward(h)));
}

Tensor Vae::run_decoder(const Tensor& z) const {
  const Decoder& d = decoder_;
  Tensor h = d.mid.forward(d.conv_in.forward(z));
  for (auto level = d.levels.rbegin(); level != d.levels.rend(); ++level) {
    for (size_t j = 0; j < level->blocks.size(); ++j) {
      h = level->blocks[j].forward(h);
      if (!level->attentions.empty()) h = level->attentions[j].forward(h);
    }
    if (level->upsample.conv.defined()) h = level->upsample.forward(h);
  }
  return d.conv_out.forward(ops::silu(d.norm_out.forward(h)));
}

void Vae::check_latent(const Tensor& z, const char* what) const {
  MMGEN_CHECK(config_.has_decoder, file_->path().string(), ": the VAE has no decoder (no tensor '",
              config_.prefix, "decoder.conv_in.weight'), cannot ", what);
  MMGEN_CHECK(z.defined() && z.ndim() == 4 && z.dtype() == DType::kF32, "VAE ", what,
              ": latent must be f32 [N, ", config_.embed_dim, ", h, w], got ",
              z.defined() ? z.str() : "an undefined tensor");
  MMGEN_CHECK(z.dim(1) == config_.embed_dim, "VAE ", what, ": latent ", z.str(), " has ", z.dim(1),
              " channels, the VAE of ", file_->path().string(), " takes ", config_.embed_dim);
  MMGEN_CHECK(z.dim(0) >= 1 && z.dim(2) >= 1 && z.dim(3) >= 1, "VAE ", what, ": latent ", z.str(),
              " is empty");
  MMGEN_CHECK(z.device() == device_, "VAE ", what, ": latent ", z.str(),
              " must be on the VAE's device ", device_.str());
}

Tensor Vae::decode(const Tensor& z) const {
  check_latent(z, "decode");
  const Tensor h = post_quant_conv_.defined() ? post_quant_conv_.forward(z) : z;
  return run_decoder(h);
}

Tensor Vae::decode_tiled(const Tensor& z, const TileLayout& layout) const {
  check_latent(z, "decode_tiled");
  return decode_in_tiles(z, layout, config_.downsample_factor(),
                         [this](const Tensor& piece) { return decode(piece); });
}

VaeMoments Vae::encode(const Tensor& image) const {
  const VaeConfig& c = config_;
  MMGEN_CHECK(c.has_encoder, file_->path().string(), ": the VAE has no encoder (no tensor '",
              c.prefix, "encoder.conv_in.weight'), cannot encode");
  const int64_t f = c.downsample_factor();
  MMGEN_CHECK(image.defined() && image.ndim() == 4 && image.dtype() == DType::kF32,
              "VAE encode: image must be f32 [N, ", c.in_channels, ", H, W], got ",
              image.defined() ? image.str() : "an undefined tensor");
  MMGEN_CHECK(image.dim(1) == c.in_channels, "VAE encode: image ", image.str(), " has ",
              image.dim(1), " channels, the VAE of ", file_->path().string(), " takes ",
              c.in_channels);
  MMGEN_CHECK(image.dim(0) >= 1 && image.dim(2) >= f && image.dim(3) >= f &&
                  image.dim(2) % f == 0 && image.dim(3) % f == 0,
              "VAE encode: image ", image.str(),
              " needs a height and width that are positive "
              "multiples of ",
              f);
  MMGEN_CHECK(image.device() == device_, "VAE encode: image ", image.str(),
              " must be on the VAE's device ", device_.str());
  const Tensor h = run_encoder(image);
  VaeMoments out;
  out.moments = quant_conv_.defined() ? quant_conv_.forward(h) : h;
  const std::vector<Tensor> halves = ops::split(out.moments, {c.embed_dim, c.embed_dim}, 1);
  out.mean = ops::contiguous(halves[0]);
  out.logvar = ops::clamp(halves[1], -30.0f, 20.0f);
  return out;
}

}  // namespace mmgen::diffusion
