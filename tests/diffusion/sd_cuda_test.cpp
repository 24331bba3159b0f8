// The Stable Diffusion family on a CUDA device against the CPU, on the tiny SD1
// golden checkpoint (sd1/manifest.json names it and the head counts): the CLIP
// text encoder, a UNet noise prediction, the VAE (decode, tiled decode, encode)
// and short txt2img / img2img runs. Both backends compute in f32 from the same
// f16 weights and draw the same Philox noise, so they differ only by summation
// order: relative L2 error within 1e-5 for one network, within 1e-4 for a whole
// sampling run (guidance multiplies differences by the cfg scale at every step).
#include <catch2/catch.hpp>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/model_file.h"
#include "core/tensor.h"
#include "diffusion/txt2img.h"
#include "diffusion/unet.h"
#include "diffusion/vae.h"
#include "kernels/ops.h"
#include "kernels/random.h"
#include "tests/support/test_support.h"
#include "text/clip_golden.h"
#include "text/clip_text_model.h"

namespace mmgen::diffusion {
namespace {

const Device kCuda = Device::cuda();

std::filesystem::path checkpoint() { return test::golden_file("sd1/sd1_tiny.safetensors"); }

const nlohmann::json& manifest_config() {
  static const nlohmann::json config = [] {
    std::ifstream in(test::golden_file("sd1/manifest.json"));
    return nlohmann::json::parse(in).at("config");
  }();
  return config;
}

UNetOptions unet_options() {
  UNetOptions options;
  options.num_heads = manifest_config().at("unet").at("num_heads").get<int>();
  return options;
}

text::ClipTextOptions clip_options() {
  return text::clip_text_options_from_json(manifest_config().at("clip_text"));
}

// `cuda_result` (on the GPU) against `cpu_result`: relative L2 error and the
// largest difference relative to the largest value.
void check_close(const char* what, const Tensor& cuda_result, const Tensor& cpu_result,
                 double rel_l2) {
  REQUIRE(cuda_result.device() == kCuda);
  REQUIRE(cpu_result.device().is_cpu());
  REQUIRE(cuda_result.shape() == cpu_result.shape());
  const test::Difference d = test::compare(cuda_result.cpu(), cpu_result);
  double scale = 0;
  for (float v : cpu_result.to_f32_vector()) scale = std::max(scale, std::fabs(double(v)));
  std::printf("%-28s max_abs %.3g  rel_l2 %.3g  (max |cpu| %.3g)\n", what, d.max_abs, d.rel_l2,
              scale);
  INFO(what << ": max_abs " << d.max_abs << " rel_l2 " << d.rel_l2 << " max |cpu| " << scale);
  CHECK(std::isfinite(d.max_abs));
  CHECK(d.rel_l2 <= rel_l2);
  CHECK(d.max_abs <= 10 * rel_l2 * std::max(scale, 1.0));
}

// SD1 framing of a short prompt: start, a few ids, end, padded with the end id to 77.
Tensor prompt_ids() {
  std::vector<int64_t> ids = {49406, 320, 1125, 2102, 530, 518, 3999, 49407};
  ids.resize(77, 49407);
  return Tensor::from_vector(ids, {1, 77});
}

}  // namespace

TEST_CASE("cuda CLIP text encoder matches the CPU", "[cuda][sd]") {
  const auto cpu = text::ClipTextModel::load(checkpoint(), clip_options());
  const auto gpu = text::ClipTextModel::load(checkpoint(), clip_options(), kCuda);
  REQUIRE(gpu->device() == kCuda);
  const Tensor ids = prompt_ids();
  const text::ClipTextOutput a = gpu->forward(ids.to(kCuda));
  const text::ClipTextOutput b = cpu->forward(ids);
  check_close("clip last_hidden_state", a.last_hidden_state, b.last_hidden_state, 1e-5);
  REQUIRE(a.hidden_states.size() == b.hidden_states.size());
  for (size_t i = 0; i < a.hidden_states.size(); ++i)
    check_close("clip hidden_states", a.hidden_states[i], b.hidden_states[i], 1e-5);
  // Host ids are moved to the model's device; clip skip 2 stops a layer early.
  check_close("clip encode clip_skip 2", gpu->encode(ids, 2), cpu->encode(ids, 2), 1e-5);
}

TEST_CASE("cuda UNet noise prediction matches the CPU", "[cuda][sd]") {
  const auto cpu = UNet::load(checkpoint(), unet_options());
  const auto gpu = UNet::load(checkpoint(), unet_options(), kCuda);
  REQUIRE(gpu->device() == kCuda);
  const Tensor x = kernels::random_normal({2, 4, 16, 16}, 11);
  const Tensor t = Tensor::from_vector(std::vector<float>{999.0f, 250.5f}, {2});
  const Tensor context = kernels::random_normal({2, 77, 64}, 12);
  const Tensor expected = cpu->predict_eps(x, t, context);
  // Timesteps may stay on the host; x and context must be on the UNet's device.
  check_close("unet eps", gpu->predict_eps(x.to(kCuda), t, context.to(kCuda)), expected, 1e-5);
  CHECK_THROWS_WITH(gpu->predict_eps(x, t, context), Catch::Contains("UNet's device"));
}

TEST_CASE("cuda VAE decode, tiled decode and encode match the CPU", "[cuda][sd]") {
  const Vae cpu = Vae::load(checkpoint());
  const Vae gpu = Vae::load(checkpoint(), kCuda);
  REQUIRE(gpu.device() == kCuda);
  const Tensor z = kernels::random_normal({1, 4, 12, 20}, 21);
  check_close("vae decode", gpu.decode(z.to(kCuda)), cpu.decode(z), 1e-5);

  // Tiles of 8 overlapping by 2 over a 12 x 20 latent: a 2 x 3 grid with a blend
  // across every seam, all of it on the device.
  TileLayout layout;
  layout.tile = 8;
  layout.overlap = 2;
  const Tensor tiled_cpu = cpu.decode_tiled(z, layout);
  REQUIRE(tiled_cpu.shape() == Shape{1, 3, 96, 160});
  check_close("vae tiled decode", gpu.decode_tiled(z.to(kCuda), layout), tiled_cpu, 1e-5);

  const Tensor image = kernels::clamp(kernels::random_normal({1, 3, 64, 64}, 22), -1.0f, 1.0f);
  const VaeMoments a = gpu.encode(image.to(kCuda));
  const VaeMoments b = cpu.encode(image);
  check_close("vae encode mean", a.mean, b.mean, 1e-5);
  check_close("vae encode logvar", a.logvar, b.logvar, 1e-5);
}

TEST_CASE("cuda txt2img and img2img match the CPU", "[cuda][sd]") {
  const auto cpu = StableDiffusion::load(checkpoint());
  const auto gpu = StableDiffusion::load(checkpoint(), {}, kCuda);
  REQUIRE(gpu->device() == kCuda);
  REQUIRE(gpu->unet().device() == kCuda);
  REQUIRE(gpu->vae().device() == kCuda);
  REQUIRE(gpu->clip().device() == kCuda);

  GenerationParams p;
  p.prompt = "a (red:1.3) apple on a table";  // emphasis: the reweighting path
  p.negative_prompt = "blurry";
  p.steps = 3;
  p.sampler = SamplerKind::kEuler;
  p.width = 64;
  p.height = 64;
  p.seed = 42;
  {
    const GenerationResult a = txt2img(*gpu, p);
    const GenerationResult b = txt2img(*cpu, p);
    CHECK(a.seeds == b.seeds);
    check_close("txt2img euler latents", a.latents, b.latents, 1e-4);
    check_close("txt2img euler images", a.images, b.images, 1e-4);
  }
  // Euler a draws fresh noise per step and image (host Philox streams, moved).
  p.sampler = SamplerKind::kEulerAncestral;
  p.batch = 2;
  Tensor init;
  {
    const GenerationResult a = txt2img(*gpu, p);
    const GenerationResult b = txt2img(*cpu, p);
    check_close("txt2img euler a batch 2", a.images, b.images, 1e-4);
    init = b.images.narrow(0, 1, 1).contiguous();
  }
  p.batch = 1;
  p.sampler = SamplerKind::kDdim;
  p.strength = 0.6f;
  {
    // The init image may stay on the host: img2img moves it to the model's device.
    const GenerationResult a = img2img(*gpu, init, p);
    const GenerationResult b = img2img(*cpu, init, p);
    check_close("img2img ddim images", a.images, b.images, 1e-4);
  }
}

}  // namespace mmgen::diffusion
