// The Stable Diffusion 1.x VAE (ldm AutoencoderKL) in the CompVis key layout:
// a full SD checkpoint ("first_stage_model.encoder.*", ...) or a standalone VAE
// file without that prefix. Every size is inferred from the tensors' shapes; see
// docs/vae.md.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "core/model_file.h"
#include "core/tensor.h"
#include "diffusion/sd_blocks.h"
#include "diffusion/tiled_decode.h"

namespace mmgen::diffusion {

// The sizes of an AutoencoderKL as inferred from a checkpoint.
struct VaeConfig {
  std::string prefix;        // "first_stage_model." or ""
  bool has_encoder = false;  // encoder.* present (decode-only files have none)
  bool has_decoder = false;
  int64_t in_channels = 0;   // image channels the encoder takes (encoder.conv_in)
  int64_t out_channels = 0;  // image channels the decoder gives (decoder.conv_out)
  int64_t ch = 0;            // base channel count
  std::vector<int64_t> ch_mult;
  int64_t num_res_blocks = 0;   // per encoder level; the decoder has one more per level
  int64_t z_channels = 0;       // decoder input / half the encoder output
  int64_t embed_dim = 0;        // latent channels (quant_conv / post_quant_conv)
  bool has_quant_conv = false;  // quant_conv / post_quant_conv present (SD: yes)
  // Attention after each ResnetBlock of a level (ldm attn_resolutions), per level.
  std::vector<bool> encoder_level_attention, decoder_level_attention;
  bool mid_attention = false;  // mid.attn_1 (SD: yes)
  int norm_groups = 32;
  float norm_eps = 1e-6f;

  int64_t levels() const { return static_cast<int64_t>(ch_mult.size()); }
  // Image pixels per latent position along each side (8 for SD).
  int64_t downsample_factor() const { return int64_t{1} << (levels() - 1); }
};

// Infers the config from the tensors of a checkpoint (detecting the prefix).
// Throws naming the file when it holds no ldm VAE, when it is a diffusers-layout
// VAE (not supported yet), or when the shapes contradict each other.
VaeConfig infer_vae_config(const ModelFile& file);

// Mean and log-variance of the latent distribution (DiagonalGaussianDistribution).
struct VaeMoments {
  Tensor moments;  // quant_conv output [N, 2 * embed_dim, h, w]
  Tensor mean;     // [N, embed_dim, h, w]
  Tensor logvar;   // clamped to [-30, 20]
};

class Vae {
 public:
  // Opens the checkpoint through ModelFile::open (safetensors or .ckpt). Every
  // weight is placed on `device` once, here; inputs must live there too.
  static Vae load(const std::filesystem::path& path, Device device = Device::cpu());
  static Vae load(std::shared_ptr<const ModelFile> file, Device device = Device::cpu());

  const VaeConfig& config() const { return config_; }
  Device device() const { return device_; }

  // Raw latent z [N, embed_dim, h, w] (NOT divided by the scale factor: callers
  // holding a diffusion latent pass latent / 0.18215) -> image [N, out_channels,
  // 8h, 8w], roughly in [-1, 1] and not clamped.
  Tensor decode(const Tensor& z) const;
  // The same through overlapping tiles blended together: close to decode(), not
  // equal (GroupNorm statistics and the mid attention see one tile); equal to
  // decode() when one tile covers z.
  // Tiles of 32 latent positions (256 px for SD) overlapping by 8 bound the memory
  // of a large decode (diffusion/tiled_decode.h).
  Tensor decode_tiled(const Tensor& z, const TileLayout& layout = {}) const;
  // Image [N, in_channels, H, W] in [-1, 1], H and W multiples of the downsample
  // factor -> the latent distribution's moments.
  VaeMoments encode(const Tensor& image) const;

 private:
  struct Level {
    std::vector<ResnetBlock> blocks;
    std::vector<SpatialSelfAttention> attentions;  // empty, or one per block
    Downsample downsample;                         // encoder levels but the last
    Upsample upsample;                             // decoder levels but the first
  };
  struct Mid {
    ResnetBlock block_1;
    SpatialSelfAttention attn_1;
    bool has_attention = false;
    ResnetBlock block_2;
    Tensor forward(const Tensor& x) const;
  };
  struct Encoder {
    Conv2d conv_in;
    std::vector<Level> levels;
    Mid mid;
    GroupNorm norm_out;
    Conv2d conv_out;
  };
  struct Decoder {
    Conv2d conv_in;
    Mid mid;
    std::vector<Level> levels;  // in ldm order: level 0 is the full-resolution one
    GroupNorm norm_out;
    Conv2d conv_out;
  };

  void load_encoder(const WeightReader& reader);
  void load_decoder(const WeightReader& reader);
  Tensor run_encoder(const Tensor& image) const;
  Tensor run_decoder(const Tensor& z) const;
  void check_latent(const Tensor& z, const char* what) const;

  std::shared_ptr<const ModelFile> file_;
  VaeConfig config_;
  Device device_;
  Encoder encoder_;
  Decoder decoder_;
  Conv2d quant_conv_, post_quant_conv_;  // undefined when the checkpoint has none
};

}  // namespace mmgen::diffusion
