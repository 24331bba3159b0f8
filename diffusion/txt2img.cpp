#include "diffusion/txt2img.h"

#include <unistd.h>

#include <cmath>
#include <cstdlib>

#include "core/error.h"
#include "core/shipped_files.h"
#include "diffusion/diffusers_layout.h"
#include "kernels/ops.h"
#include "kernels/random.h"
#include "text/prompt_weighting.h"

namespace mmgen::diffusion {
namespace {

namespace k = mmgen::kernels;
namespace fs = std::filesystem;

constexpr const char* kVocabName = "clip/bpe_simple_vocab_16e6.txt.gz";

// eps with classifier-free guidance: one UNet batch [uncond, cond] (ldm's order).
Tensor guided_eps(const UNet& unet, const Tensor& x_in, float t, const SamplingSetup& setup) {
  if (setup.on_model_call) setup.on_model_call(t);
  const int64_t n = x_in.dim(0);
  const Device device = x_in.device();
  if (setup.cfg_scale == 1.0f) {
    return unet.predict_eps(x_in, Tensor::full({n}, t, device), setup.cond);
  }
  const Tensor eps = unet.predict_eps(k::concat({x_in, x_in}, 0), Tensor::full({2 * n}, t, device),
                                      k::concat({setup.uncond, setup.cond}, 0));
  const std::vector<Tensor> halves = k::split(eps, {n, n}, 0);
  return k::add(halves[0], k::scale(k::sub(halves[1], halves[0]), setup.cfg_scale));
}

// The sigmas of the run: the full schedule for `steps`, cut to its last part for img2img.
std::vector<float> run_sigmas(const NoiseSchedule& schedule, const SamplingSetup& setup,
                              int start) {
  std::vector<float> sigmas = setup.sampler == SamplerKind::kDpmpp2mKarras
                                  ? schedule.karras_sigmas(setup.steps)
                                  : schedule.uniform_sigmas(setup.steps);
  return std::vector<float>(sigmas.begin() + start, sigmas.end());
}

// Steps of an img2img run: int(strength * steps), at least 1.
int img2img_steps(int steps, float strength) {
  return std::max(1, std::min(steps, static_cast<int>(strength * static_cast<float>(steps))));
}

}  // namespace

fs::path find_clip_vocab() {
  std::vector<fs::path> candidates;
  if (const char* env = std::getenv("MMGEN_DATA_DIR"); env && *env)
    candidates.push_back(fs::path(env) / kVocabName);
#ifdef MMGEN_DATA_DIR
  candidates.push_back(fs::path(MMGEN_DATA_DIR) / kVocabName);
#endif
  const fs::path exe = executable_dir();
  if (!exe.empty()) {
    candidates.push_back(exe / "data" / kVocabName);
    candidates.push_back(exe.parent_path() / "data" / kVocabName);
    candidates.push_back(exe.parent_path() / "share" / "mmgen" / "data" / kVocabName);
  }
  std::string looked;
  for (const fs::path& candidate : candidates) {
    std::error_code error;
    if (fs::is_regular_file(candidate, error)) return candidate;
    looked += (looked.empty() ? "" : ", ") + candidate.string();
  }
  fail("the CLIP vocabulary ", kVocabName, " was not found (looked at: ", looked,
       "); set MMGEN_DATA_DIR to the folder holding clip/");
}

std::unique_ptr<StableDiffusion> StableDiffusion::load(const fs::path& path,
                                                       const StableDiffusionOptions& options,
                                                       Device device) {
  auto sd = std::unique_ptr<StableDiffusion>(new StableDiffusion());
  sd->device_ = device;
  std::error_code error;
  std::shared_ptr<const ModelFile> vae_file;
  fs::path merges;
  if (fs::is_directory(path, error)) {
    DiffusersModel parts = open_diffusers_folder(path);
    sd->file_ = parts.unet;
    sd->parts_ = {parts.text_encoder, parts.vae};
    sd->latent_scale_ = parts.latent_scale;
    sd->sample_size_ = parts.sample_size;
    sd->defaults_ = parts.defaults;
    sd->schedule_ = parts.schedule;
    merges = parts.merges;
    sd->clip_ =
        std::make_unique<text::ClipTextModel>(*parts.text_encoder, parts.clip_options, device);
    sd->unet_ = UNet::load(*parts.unet, parts.unet_options, device);
    vae_file = parts.vae;
  } else {
    sd->file_ = std::shared_ptr<const ModelFile>(ModelFile::open(path));
    sd->schedule_ = NoiseSchedule::from_checkpoint(*sd->file_);
    sd->clip_ = std::make_unique<text::ClipTextModel>(*sd->file_, options.clip, device);
    sd->unet_ = UNet::load(*sd->file_, options.unet, device);
    vae_file = sd->file_;
  }
  const fs::path vae_source = options.vae.empty() ? path : options.vae;
  if (!options.vae.empty()) vae_file = open_vae_file(options.vae);
  sd->tokenizer_ = text::ClipTokenizer::load(!options.vocab.empty() ? options.vocab
                                             : !merges.empty()      ? merges
                                                                    : find_clip_vocab());
  sd->vae_ = std::make_unique<Vae>(Vae::load(vae_file, device));
  MMGEN_CHECK(sd->vae_->config().has_decoder, vae_source.string(), ": the VAE has no decoder");
  MMGEN_CHECK(
      sd->vae_->config().embed_dim == sd->unet_->config().in_channels, vae_source.string(),
      ": the VAE latent has ", sd->vae_->config().embed_dim, " channels (tensor '",
      sd->vae_->config().prefix,
      sd->vae_->config().has_quant_conv ? "post_quant_conv.weight" : "decoder.conv_in.weight",
      "'), the UNet of ", path.string(), " takes ", sd->unet_->config().in_channels);
  MMGEN_CHECK(sd->clip_->config().hidden_size == sd->unet_->config().context_dim, path.string(),
              ": the text encoder width ", sd->clip_->config().hidden_size,
              " differs from the UNet's context width ", sd->unet_->config().context_dim);
  return sd;
}

Tensor sample_latent(const UNet& unet, const NoiseSchedule& schedule, const SamplingSetup& setup) {
  MMGEN_CHECK(setup.noise.defined() && setup.noise.ndim() == 4,
              "sampling: noise must be [N, C, h, w]");
  MMGEN_CHECK(setup.steps >= 1, "sampling: steps must be >= 1, got ", setup.steps);
  MMGEN_CHECK(setup.cfg_scale == 1.0f || setup.uncond.defined(),
              "sampling: guidance needs the negative prompt's context");
  const bool img2img = setup.init_latent.defined();
  MMGEN_CHECK(!img2img || (setup.strength > 0.0f && setup.strength <= 1.0f),
              "img2img: strength must be in (0, 1], got ", setup.strength);
  MMGEN_CHECK(!img2img || setup.init_latent.shape() == setup.noise.shape(),
              "img2img: the initial latent ", setup.init_latent.str(), " and the noise ",
              setup.noise.str(), " differ in shape");

  if (setup.sampler == SamplerKind::kDdim) {
    std::vector<int> timesteps = ddim_uniform_timesteps(setup.steps, schedule.timesteps());
    Tensor x = setup.noise;
    if (img2img) {
      timesteps.resize(img2img_steps(static_cast<int>(timesteps.size()), setup.strength));
      const double a = schedule.alphas_cumprod()[timesteps.back()];
      x = k::add(k::scale(setup.init_latent, static_cast<float>(std::sqrt(a))),
                 k::scale(setup.noise, static_cast<float>(std::sqrt(1.0 - a))));
    }
    const EpsModel eps_model = [&](const Tensor& x_t, float t) {
      return guided_eps(unet, x_t, t, setup);
    };
    return sample_ddim(eps_model, x, timesteps, schedule.alphas_cumprod(), setup.observer);
  }

  const int start = img2img ? setup.steps - img2img_steps(setup.steps, setup.strength) : 0;
  const std::vector<float> sigmas = run_sigmas(schedule, setup, start);
  Tensor x = k::scale(setup.noise, sigmas.front());
  if (img2img) x = k::add(setup.init_latent, x);
  // k-diffusion CompVisDenoiser: the UNet sees c_in * x at t(sigma); denoised = x - sigma * eps.
  const Denoiser denoise = [&](const Tensor& x_s, float sigma) {
    const float c_in =
        static_cast<float>(1.0 / std::sqrt(static_cast<double>(sigma) * sigma + 1.0));
    const float t = static_cast<float>(schedule.sigma_to_t(sigma));
    const Tensor eps = guided_eps(unet, k::scale(x_s, c_in), t, setup);
    return k::sub(x_s, k::scale(eps, sigma));
  };
  switch (setup.sampler) {
    case SamplerKind::kEuler:
      return sample_euler(denoise, x, sigmas, setup.observer);
    case SamplerKind::kEulerAncestral:
      return sample_euler_ancestral(denoise, x, sigmas, setup.ancestral, setup.observer);
    case SamplerKind::kDpmpp2m:
    case SamplerKind::kDpmpp2mKarras:
      return sample_dpmpp_2m(denoise, x, sigmas, setup.observer);
    case SamplerKind::kLcm:
      return sample_lcm(denoise, x, sigmas, setup.ancestral, setup.observer);
    case SamplerKind::kDdim:
      break;
  }
  fail("sampling: unhandled sampler ", sampler_name(setup.sampler));
}

namespace {

// One chunk through CLIP, then the web UI's emphasis: each position's hidden
// state times its weight, the whole tensor rescaled to its original mean.
Tensor encode_chunk(const StableDiffusion& sd, const text::PromptChunk& chunk, int clip_skip) {
  const Tensor ids = Tensor::from_vector(std::vector<int64_t>(chunk.ids.begin(), chunk.ids.end()),
                                         {1, static_cast<int64_t>(chunk.ids.size())});
  const Tensor z = sd.clip().encode(ids.to(sd.device()), clip_skip);
  if (chunk.all_weights_one()) return z;
  // The reweighting needs whole-tensor sums: one small context, done on the host.
  std::vector<float> values = z.cpu().to_f32_vector();
  const auto width = static_cast<size_t>(z.dim(2));
  double original = 0, weighted = 0;
  for (size_t i = 0; i < values.size(); ++i) {
    original += values[i];
    values[i] *= chunk.weights[i / width];
    weighted += values[i];
  }
  // Means over the same count: their ratio is the ratio of the sums (kept at 1
  // in the degenerate case of a zero weighted sum).
  const auto factor = static_cast<float>(weighted != 0.0 ? original / weighted : 1.0);
  for (float& v : values) v *= factor;
  return Tensor::from_vector(values, z.shape()).to(z.device());
}

int chunk_length(const StableDiffusion& sd) {
  return static_cast<int>(sd.clip().config().max_positions) - 2;
}

std::vector<text::PromptChunk> prompt_chunks(const StableDiffusion& sd, const std::string& prompt) {
  text::PromptChunking chunking;
  chunking.chunk_length = chunk_length(sd);
  return text::chunk_weighted_prompt(sd.tokenizer(), prompt, chunking);
}

// The chunks' contexts side by side along the sequence axis, repeated `batch` times.
Tensor encode_chunks(const StableDiffusion& sd, const std::vector<text::PromptChunk>& chunks,
                     int64_t batch, int clip_skip) {
  std::vector<Tensor> parts;
  for (const text::PromptChunk& chunk : chunks) parts.push_back(encode_chunk(sd, chunk, clip_skip));
  const Tensor context = parts.size() == 1 ? parts[0] : k::concat(parts, 1);
  if (batch == 1) return context;
  return k::concat(std::vector<Tensor>(static_cast<size_t>(batch), context), 0);
}

}  // namespace

Tensor encode_prompt(const StableDiffusion& sd, const std::string& prompt, int64_t batch,
                     int clip_skip) {
  return encode_chunks(sd, prompt_chunks(sd, prompt), batch, clip_skip);
}

void check_generation_params(const StableDiffusion& sd, const GenerationParams& p) {
  MMGEN_CHECK(!p.prompt.empty(), "the prompt is empty; give the image description with -p");
  const int64_t m = sd.size_multiple();
  MMGEN_CHECK(p.width >= 64 && p.width % m == 0, "width ", p.width, " must be a multiple of ", m,
              " (at least 64) for this model");
  MMGEN_CHECK(p.height >= 64 && p.height % m == 0, "height ", p.height, " must be a multiple of ",
              m, " (at least 64) for this model");
  MMGEN_CHECK(p.steps >= 1 && p.steps <= sd.schedule().timesteps(), "steps must be in [1, ",
              sd.schedule().timesteps(), "], got ", p.steps);
  MMGEN_CHECK(p.cfg_scale >= 0.0f && std::isfinite(p.cfg_scale), "the cfg scale must be >= 0, got ",
              p.cfg_scale);
  MMGEN_CHECK(p.batch >= 1 && p.batch <= 64, "the batch size must be in [1, 64], got ", p.batch);
  MMGEN_CHECK(p.clip_skip >= 1 && p.clip_skip <= sd.clip().config().num_layers,
              "clip skip must be in [1, ", sd.clip().config().num_layers, "], got ", p.clip_skip);
}

namespace {

GenerationResult generate(const StableDiffusion& sd, const Tensor& init_latent,
                          const GenerationParams& p, const ProgressCallback& progress) {
  check_generation_params(sd, p);
  const int64_t channels = sd.unet().config().in_channels;
  const int64_t h = p.height / sd.vae_factor(), w = p.width / sd.vae_factor();
  GenerationResult result;
  // Noise is drawn on the host and moved: the Philox streams are the same on every
  // device, so an image depends only on its seed.
  std::vector<Tensor> noise;
  for (int i = 0; i < p.batch; ++i) {
    result.seeds.push_back(p.seed + static_cast<uint64_t>(i));
    noise.push_back(k::random_normal({1, channels, h, w}, result.seeds.back(), 0).to(sd.device()));
  }

  SamplingSetup setup;
  setup.sampler = p.sampler;
  setup.steps = p.steps;
  setup.cfg_scale = p.cfg_scale;
  std::vector<text::PromptChunk> cond = prompt_chunks(sd, p.prompt);
  if (p.cfg_scale != 1.0f) {
    // Both sides of guidance need the same context length: the shorter one gets
    // empty-prompt chunks, as the web UI pads them.
    std::vector<text::PromptChunk> uncond = prompt_chunks(sd, p.negative_prompt);
    const text::PromptChunk empty = text::empty_prompt_chunk(sd.tokenizer(), chunk_length(sd));
    while (uncond.size() < cond.size()) uncond.push_back(empty);
    while (cond.size() < uncond.size()) cond.push_back(empty);
    setup.uncond = encode_chunks(sd, uncond, p.batch, p.clip_skip);
  }
  setup.cond = encode_chunks(sd, cond, p.batch, p.clip_skip);
  setup.noise = p.batch == 1 ? noise[0] : k::concat(noise, 0);
  // Each image draws its own ancestral noise from its seed, so any image of a
  // batch can be remade alone from the seed in its metadata.
  const std::vector<uint64_t> seeds = result.seeds;
  setup.ancestral = [seeds](int step, const Shape& shape) {
    Shape one = shape;
    one[0] = 1;
    std::vector<Tensor> parts;
    for (uint64_t seed : seeds)
      parts.push_back(k::random_normal(one, seed, 1 + static_cast<uint64_t>(step)));
    return parts.size() == 1 ? parts[0] : k::concat(parts, 0);
  };
  if (init_latent.defined()) {
    setup.init_latent =
        init_latent.dim(0) == p.batch
            ? init_latent
            : k::concat(std::vector<Tensor>(static_cast<size_t>(p.batch), init_latent), 0);
    setup.strength = p.strength;
  }
  std::unique_ptr<ProgressReporter> reporter;
  setup.observer = [&](const SamplerStep& step) {
    if (!reporter) reporter = std::make_unique<ProgressReporter>(progress, "sampling", step.total);
    return reporter->update(step.index + 1);
  };
  if (!progress) setup.observer = {};

  result.latents = sample_latent(sd.unet(), sd.schedule(), setup);
  std::vector<Tensor> images;
  for (int i = 0; i < p.batch; ++i) {
    const Tensor z = k::scale(result.latents.narrow(0, i, 1), 1.0f / sd.latent_scale());
    images.push_back(k::clamp(k::scale(k::add_scalar(sd.vae().decode(z), 1.0f), 0.5f), 0.0f, 1.0f));
  }
  result.images = p.batch == 1 ? images[0] : k::concat(images, 0);
  return result;
}

}  // namespace

GenerationResult txt2img(const StableDiffusion& sd, const GenerationParams& params,
                         const ProgressCallback& progress) {
  return generate(sd, Tensor(), params, progress);
}

GenerationResult img2img(const StableDiffusion& sd, const Tensor& init,
                         const GenerationParams& params, const ProgressCallback& progress) {
  MMGEN_CHECK(params.strength > 0.0f && params.strength <= 1.0f,
              "img2img: strength must be in (0, 1], got ", params.strength);
  MMGEN_CHECK(init.defined() && init.ndim() == 4 && init.dim(0) == 1 && init.dim(1) == 3,
              "img2img: the initial image must be [1, 3, H, W], got ", init.str());
  MMGEN_CHECK(init.dim(2) == params.height && init.dim(3) == params.width,
              "img2img: the initial image is ", init.dim(3), "x", init.dim(2), ", expected ",
              params.width, "x", params.height);
  MMGEN_CHECK(sd.vae().config().has_encoder, sd.file().path().string(),
              ": the checkpoint has no VAE encoder, which img2img needs");
  check_generation_params(sd, params);
  const Tensor pixels = k::add_scalar(k::scale(init.to(sd.device()), 2.0f), -1.0f);
  const Tensor latent = k::scale(sd.vae().encode(pixels).mean, sd.latent_scale());
  return generate(sd, latent, params, progress);
}

}  // namespace mmgen::diffusion
