// The txt2img / img2img pipeline on the tiny SD1 golden checkpoint: per-image
// seeds in a batch, progress and cancellation, parameter errors. (The sampled
// values themselves are checked against the reference by the txt2img golden cases.)
#include "diffusion/txt2img.h"

#include <catch2/catch.hpp>

#include "kernels/ops.h"
#include "tests/support/test_support.h"

namespace mmgen::diffusion {
namespace {

const StableDiffusion& tiny() {
  static const auto sd = StableDiffusion::load(test::golden_file("sd1/sd1_tiny.safetensors"));
  return *sd;
}

GenerationParams small_params() {
  GenerationParams p;
  p.prompt = "a red circle";
  p.negative_prompt = "blue";
  p.steps = 3;
  p.width = 64;
  p.height = 64;
  p.seed = 10;
  return p;
}

}  // namespace

TEST_CASE("txt2img: image i of a batch equals a single run with seed + i", "[txt2img]") {
  GenerationParams p = small_params();
  p.batch = 2;
  const GenerationResult batch = txt2img(tiny(), p);
  REQUIRE(batch.images.shape() == Shape{2, 3, 64, 64});
  REQUIRE(batch.latents.shape() == Shape{2, 4, 8, 8});
  CHECK(batch.seeds == std::vector<uint64_t>{10, 11});
  p.batch = 1;
  p.seed = 11;
  const GenerationResult single = txt2img(tiny(), p);
  const auto diff = test::compare(batch.latents.narrow(0, 1, 1), single.latents);
  // Equal up to f32 summation order: products with 1 and with 2 rows (the timestep
  // embedding) take differently blocked kernels.
  CHECK(diff.max_abs < 1e-3);
  CHECK(diff.rel_l2 < 1e-5);
  for (float v : batch.images.to_f32_vector()) {
    CHECK(v >= 0.0f);
    CHECK(v <= 1.0f);
  }
  // Another seed gives another image.
  CHECK(test::compare(batch.latents.narrow(0, 0, 1), single.latents).max_abs > 1e-2);
}

TEST_CASE("txt2img reports progress per step and stops when asked", "[txt2img]") {
  GenerationParams p = small_params();
  p.sampler = SamplerKind::kDdim;
  std::vector<int64_t> steps;
  txt2img(tiny(), p, [&](const ProgressEvent& e) {
    CHECK(e.stage == "sampling");
    CHECK(e.total == 3);
    steps.push_back(e.step);
    return true;
  });
  CHECK(steps == std::vector<int64_t>{1, 2, 3});
  CHECK_THROWS_WITH(txt2img(tiny(), p, [](const ProgressEvent&) { return false; }),
                    Catch::Contains("cancelled"));
}

TEST_CASE("img2img keeps more of the image's latent at a lower strength", "[txt2img]") {
  // Random weights do not reconstruct images, so the comparison is in latent
  // space: the result against the encoded starting image.
  GenerationParams p = small_params();
  p.sampler = SamplerKind::kEuler;
  p.steps = 4;
  const Tensor init = txt2img(tiny(), p).images;
  const Tensor init_latent = kernels::scale(
      tiny().vae().encode(kernels::add_scalar(kernels::scale(init, 2.0f), -1.0f)).mean,
      kLatentScale);
  p.prompt = "a blue square";
  p.strength = 0.25f;
  const GenerationResult light = img2img(tiny(), init, p);
  p.strength = 1.0f;
  const GenerationResult full = img2img(tiny(), init, p);
  REQUIRE(light.images.shape() == init.shape());
  CHECK(test::compare(light.latents, init_latent).rel_l2 <
        test::compare(full.latents, init_latent).rel_l2);
  p.strength = 0.0f;
  CHECK_THROWS_WITH(img2img(tiny(), init, p), Catch::Contains("strength"));
}

TEST_CASE("txt2img rejects bad parameters with one clear message", "[txt2img]") {
  GenerationParams p = small_params();
  p.prompt.clear();
  CHECK_THROWS_WITH(txt2img(tiny(), p), Catch::Contains("prompt is empty"));
  p = small_params();
  p.width = 72;
  CHECK_THROWS_WITH(txt2img(tiny(), p), Catch::Contains("width 72 must be a multiple of 64"));
  p = small_params();
  p.steps = 0;
  CHECK_THROWS_WITH(txt2img(tiny(), p), Catch::Contains("steps"));
  p = small_params();
  p.clip_skip = 5;
  CHECK_THROWS_WITH(txt2img(tiny(), p), Catch::Contains("clip skip"));
  CHECK_THROWS_WITH(StableDiffusion::load("/nonexistent/model.safetensors"),
                    Catch::Contains("model.safetensors"));
}

}  // namespace mmgen::diffusion
