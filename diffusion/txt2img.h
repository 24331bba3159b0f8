// Stable Diffusion 1.x text-to-image and image-to-image: a single-file checkpoint
// (CLIP text encoder, UNet, VAE, schedule buffers) and the CLIP vocabulary; the
// prompt and negative prompt through CLIP, seeded Philox noise, a sampler with
// classifier-free guidance, and the VAE decode. docs/txt2img.md.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/model_file.h"
#include "core/progress.h"
#include "core/tensor.h"
#include "diffusion/generation_defaults.h"
#include "diffusion/samplers.h"
#include "diffusion/schedule.h"
#include "diffusion/unet.h"
#include "diffusion/vae.h"
#include "text/clip_text_model.h"
#include "text/clip_tokenizer.h"

namespace mmgen::diffusion {

// SD1.x's latent scale: the diffusion latent is the VAE latent times this.
inline constexpr float kLatentScale = 0.18215f;

// The CLIP vocabulary: $MMGEN_DATA_DIR/clip/bpe_simple_vocab_16e6.txt.gz when the
// variable is set, else the project's data/ folder (compiled in), else data/ next
// to the running executable or one folder above it. Throws Error naming every
// place looked at when none holds the file.
std::filesystem::path find_clip_vocab();

struct StableDiffusionOptions {
  UNetOptions unet;            // for a diffusers folder, its unet/config.json decides instead
  text::ClipTextOptions clip;  // likewise text_encoder/config.json
  std::filesystem::path
      vocab;  // empty: a diffusers folder's tokenizer/merges.txt, else find_clip_vocab()
  // A VAE to use instead of the checkpoint's (--vae): original layout with or without
  // "first_stage_model.", a diffusers VAE file or vae/ folder; empty: the built-in one.
  std::filesystem::path vae;
};

class StableDiffusion {
 public:
  // Opens the checkpoint (safetensors or .ckpt) once, or a diffusers folder
  // (model_index.json, unet/, vae/, text_encoder/, tokenizer/, scheduler/); every
  // part reads its weights from it and places them on `device` once, here. Text
  // encoding, the sampler loop and the VAE then run there. Throws Error naming the
  // file (or config field) for a missing or inconsistent part.
  static std::unique_ptr<StableDiffusion> load(const std::filesystem::path& path,
                                               const StableDiffusionOptions& options = {},
                                               Device device = Device::cpu());

  // The checkpoint; for a diffusers folder its UNet weights file (in original names).
  const ModelFile& file() const { return *file_; }
  // The VAE latent scale: 0.18215 (SD 1.x), or a diffusers vae/config.json scaling_factor.
  float latent_scale() const { return latent_scale_; }
  // The image side the model was trained at: a diffusers unet/config.json sample_size
  // times the VAE factor (512 for SD 1.5); 0 when the checkpoint does not say.
  int64_t native_size() const { return sample_size_ * vae_factor(); }
  // The steps, guidance scale and sampler the model is meant for: a diffusers folder's
  // generation_defaults.json, else 20 steps of Euler a at guidance 7.5.
  const GenerationDefaults& defaults() const { return defaults_; }
  Device device() const { return device_; }
  const text::ClipTokenizer& tokenizer() const { return *tokenizer_; }
  const text::ClipTextModel& clip() const { return *clip_; }
  const UNet& unet() const { return *unet_; }
  const Vae& vae() const { return *vae_; }
  const NoiseSchedule& schedule() const { return schedule_; }
  // Image pixels per latent position (8) and the image size step (64 for SD1.x:
  // the VAE factor times the UNet's).
  int64_t vae_factor() const { return vae_->config().downsample_factor(); }
  int64_t size_multiple() const { return vae_factor() * unet_->config().downsample_factor(); }

 private:
  std::shared_ptr<const ModelFile> file_;
  std::vector<std::shared_ptr<const ModelFile>> parts_;  // the diffusers parts the networks borrow
  Device device_;
  float latent_scale_ = kLatentScale;
  int64_t sample_size_ = 0;
  GenerationDefaults defaults_;
  std::unique_ptr<text::ClipTokenizer> tokenizer_;
  std::unique_ptr<text::ClipTextModel> clip_;
  std::unique_ptr<UNet> unet_;
  std::unique_ptr<Vae> vae_;
  NoiseSchedule schedule_;
};

// Everything a sampling run needs once the prompts are encoded.
struct SamplingSetup {
  SamplerKind sampler = SamplerKind::kEulerAncestral;
  int steps = 20;
  float cfg_scale = 7.5f;  // 1: the negative context is not run
  Tensor cond;             // [N, L, D] prompt context
  Tensor uncond;           // [N, L, D] negative prompt context
  Tensor noise;            // [N, C, h, w] standard normal: x_T / sigma_max
  NoiseSource ancestral;   // fresh noise for Euler a and LCM
  // img2img: the clean latent (already times kLatentScale) and how much of the
  // schedule to run (0 < strength <= 1); undefined for txt2img.
  Tensor init_latent;
  float strength = 1.0f;
  StepObserver observer;
  // Called with the timestep each UNet evaluation gets (for tests and fixtures).
  std::function<void(float t)> on_model_call;
};

// Runs the sampler with classifier-free guidance (eps_u + cfg * (eps_c - eps_u),
// the batch ordered [uncond, cond] as ldm does) and returns the final latent
// (diffusion scale). The tensors of `setup` live on the UNet's device, and so does
// the result; ancestral noise may come from the host (it is moved).
Tensor sample_latent(const UNet& unet, const NoiseSchedule& schedule, const SamplingSetup& setup);

// The UNet context of a prompt repeated for `batch` rows: emphasis parsed, chunks of 75
// tokens encoded separately (clip skip as the web UI) and concatenated, [batch, 77 k, dim].
Tensor encode_prompt(const StableDiffusion& sd, const std::string& prompt, int64_t batch,
                     int clip_skip);

struct GenerationParams {
  std::string prompt;
  std::string negative_prompt;
  int steps = 20;
  float cfg_scale = 7.5f;
  SamplerKind sampler = SamplerKind::kEulerAncestral;
  uint64_t seed = 0;  // image i of a batch uses seed + i
  int width = 512;
  int height = 512;
  int batch = 1;
  int clip_skip = 1;
  float strength = 0.75f;  // img2img only: the fraction of the schedule re-run
};

// Images and latents live on the model's device: call .cpu() before reading them.
struct GenerationResult {
  Tensor images;                // [N, 3, H, W] f32 in [0, 1]
  Tensor latents;               // [N, C, H / 8, W / 8], diffusion scale
  std::vector<uint64_t> seeds;  // per image
};

// Throws Error naming the parameter for an empty prompt, a size that is not a
// positive multiple of sd.size_multiple() (at least 64), steps outside [1, 1000],
// a negative cfg scale, a batch outside [1, 64] or a clip skip beyond the layers.
void check_generation_params(const StableDiffusion& sd, const GenerationParams& params);

// Progress: the stage "sampling" with one step per sampler step; returning false cancels.
GenerationResult txt2img(const StableDiffusion& sd, const GenerationParams& params,
                         const ProgressCallback& progress = {});
// init: [1, 3, H, W] f32 in [0, 1] of params.width x params.height, on any device
// (it is moved to the model's). The image is
// encoded (the latent distribution's mean), noised to the step where
// `strength` of the schedule remains, and sampled from there.
GenerationResult img2img(const StableDiffusion& sd, const Tensor& init,
                         const GenerationParams& params, const ProgressCallback& progress = {});

}  // namespace mmgen::diffusion
