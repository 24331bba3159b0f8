// Golden kind "txt2img". The case gives prompt and negative token ids, the unit
// noise, steps, cfg scale and the reference sampler (k-diffusion sample_euler /
// sample_dpmpp_2m on CompVisDenoiser, or ldm DDIM); the models load from the
// manifest's one checkpoint the normal way, with the head counts from config.
// Outputs: the final latent, the decoded image (before any clamp), the timestep
// of each UNet evaluation, the sampler state and denoised estimate per step, and
// the sigma sequence.
#include "diffusion/txt2img_golden.h"

#include <string>
#include <vector>

#include "core/error.h"
#include "core/golden.h"
#include "diffusion/samplers.h"
#include "diffusion/schedule.h"
#include "diffusion/txt2img.h"
#include "diffusion/unet.h"
#include "diffusion/vae.h"
#include "kernels/ops.h"
#include "text/clip_golden.h"
#include "text/clip_text_model.h"

namespace mmgen::diffusion {
namespace {

const nlohmann::json& config_section(const GoldenContext& context, const char* name) {
  static const nlohmann::json empty = nlohmann::json::object();
  const auto& config = context.config();
  return config.contains(name) ? config.at(name) : empty;
}

UNetOptions unet_options(const GoldenContext& context) {
  UNetOptions options;
  const nlohmann::json& unet = config_section(context, "unet");
  if (unet.contains("num_heads")) options.num_heads = unet.at("num_heads").get<int>();
  if (unet.contains("num_head_channels"))
    options.num_head_channels = unet.at("num_head_channels").get<int>();
  return options;
}

SamplerKind case_sampler(const GoldenContext& context) {
  const nlohmann::json& sampler = context.input("sampler");
  MMGEN_CHECK(sampler.is_object() && sampler.contains("name") && sampler.at("name").is_string(),
              context.manifest().path.string(), ": case '", context.golden_case().name,
              "': input 'sampler' must be an object with a \"name\"");
  const std::string name = sampler.at("name").get<std::string>();
  const bool karras = sampler.value("karras", false);
  MMGEN_CHECK(!sampler.value("quantize", false), context.golden_case().name,
              ": quantized sigma_to_t is not supported");
  if (name == "sample_euler" && !karras) return SamplerKind::kEuler;
  if (name == "sample_dpmpp_2m")
    return karras ? SamplerKind::kDpmpp2mKarras : SamplerKind::kDpmpp2m;
  if (name == "ddim") {
    MMGEN_CHECK(
        sampler.value("eta", 0.0) == 0.0 && sampler.value("discretize", "uniform") == "uniform",
        context.golden_case().name, ": only DDIM with eta 0 and uniform timesteps is supported");
    return SamplerKind::kDdim;
  }
  fail(context.golden_case().name, ": unsupported reference sampler '", name, "'");
}

Tensor stack_steps(const std::vector<Tensor>& steps) {
  std::vector<Tensor> parts;
  for (const Tensor& t : steps) parts.push_back(t.unsqueeze(0));
  return kernels::concat(parts, 0);
}

GoldenOutputs txt2img_case(const GoldenContext& context) {
  const nlohmann::json& weights = context.weights();
  MMGEN_CHECK(weights.size() == 1, context.manifest().path.string(),
              ": the txt2img kind needs exactly one entry in \"weights\" (the checkpoint), found ",
              weights.size());
  const std::filesystem::path path = context.weights_path(weights.begin().key());
  const ModelFile& file = context.open(path);
  const Device device = context.device();
  const text::ClipTextModel clip(
      file, text::clip_text_options_from_json(config_section(context, "clip_text")), device);
  const auto unet = UNet::load(file, unet_options(context), device);
  const Vae vae = Vae::load(path, device);
  const NoiseSchedule schedule = NoiseSchedule::from_checkpoint(file);

  SamplingSetup setup;
  setup.sampler = case_sampler(context);
  setup.steps = static_cast<int>(context.integer("steps"));
  setup.cfg_scale = static_cast<float>(context.number("cfg_scale"));
  setup.cond = clip.encode(context.tensor("prompt_ids"));
  setup.uncond = clip.encode(context.tensor("negative_ids"));
  setup.noise = context.tensor("noise").to(DType::kF32).to(device);
  std::vector<float> model_t;
  std::vector<Tensor> step_x, step_denoised;
  setup.on_model_call = [&](float t) { model_t.push_back(t); };
  setup.observer = [&](const SamplerStep& step) {
    step_x.push_back(step.x->clone());
    step_denoised.push_back(step.denoised->clone());
    return true;
  };
  const Tensor latent = sample_latent(*unet, schedule, setup);

  GoldenOutputs out;
  const auto wants = [&](const char* name) { return context.golden_case().outputs.contains(name); };
  out.values["latent"] = latent;
  if (wants("image")) out.values["image"] = vae.decode(kernels::scale(latent, 1.0f / kLatentScale));
  if (wants("step_t"))
    out.values["step_t"] = Tensor::from_vector(model_t, {static_cast<int64_t>(model_t.size())});
  if (wants("step_x")) out.values["step_x"] = stack_steps(step_x);
  if (wants("step_denoised")) out.values["step_denoised"] = stack_steps(step_denoised);
  if (wants("sigmas")) {
    const std::vector<float> sigmas = setup.sampler == SamplerKind::kDpmpp2mKarras
                                          ? schedule.karras_sigmas(setup.steps)
                                          : schedule.uniform_sigmas(setup.steps);
    out.values["sigmas"] = Tensor::from_vector(sigmas, {static_cast<int64_t>(sigmas.size())});
  }
  return out;
}

}  // namespace

void register_txt2img_golden_kinds() { register_golden_kind("txt2img", txt2img_case); }

}  // namespace mmgen::diffusion
