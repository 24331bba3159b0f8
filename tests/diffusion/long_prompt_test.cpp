// Prompts beyond 75 tokens and emphasis through the txt2img pipeline on the tiny
// SD1 golden checkpoint: chunked CLIP contexts, the web UI's weighting (scale
// each token, restore the mean), and guidance sides padded to one length.
#include <catch2/catch.hpp>

#include "diffusion/txt2img.h"
#include "kernels/ops.h"
#include "kernels/random.h"
#include "tests/support/test_support.h"
#include "text/prompt_weighting.h"

namespace mmgen::diffusion {
namespace {

const StableDiffusion& tiny() {
  static const auto sd = StableDiffusion::load(test::golden_file("sd1/sd1_tiny.safetensors"));
  return *sd;
}

Tensor encode_ids(const std::vector<int32_t>& row) {
  const Tensor ids = Tensor::from_vector(std::vector<int64_t>(row.begin(), row.end()),
                                         {1, static_cast<int64_t>(row.size())});
  return tiny().clip().encode(ids);
}

std::string long_prompt() {
  std::string out = "a red circle";
  for (int i = 0; i < 40; ++i) out += ", blue square";
  return out;
}

double mean(const Tensor& t) {
  double sum = 0;
  for (float v : t.to_f32_vector()) sum += v;
  return sum / static_cast<double>(t.numel());
}

}  // namespace

TEST_CASE("A long prompt is encoded chunk by chunk along the sequence axis", "[long_prompt]") {
  const std::string prompt = long_prompt();
  REQUIRE(tiny().tokenizer().encode(prompt).size() > 75);
  const std::vector<text::PromptChunk> chunks =
      text::chunk_weighted_prompt(tiny().tokenizer(), prompt);
  REQUIRE(chunks.size() == 2);
  const Tensor context = encode_prompt(tiny(), prompt, 1, 1);
  REQUIRE(context.shape() == Shape{1, 154, 64});
  CHECK(test::compare(context.narrow(1, 0, 77), encode_ids(chunks[0].ids)).max_abs == 0.0);
  CHECK(test::compare(context.narrow(1, 77, 77), encode_ids(chunks[1].ids)).max_abs == 0.0);
  // A batch repeats the context.
  const Tensor batch = encode_prompt(tiny(), prompt, 2, 1);
  REQUIRE(batch.shape() == Shape{2, 154, 64});
  CHECK(test::compare(batch.narrow(0, 1, 1), context).max_abs == 0.0);
}

TEST_CASE("Emphasis scales token states and keeps the context's mean", "[long_prompt]") {
  const Tensor plain = encode_prompt(tiny(), "a red circle", 1, 1);
  CHECK(test::compare(encode_prompt(tiny(), "a (red:1) circle", 1, 1), plain).max_abs == 0.0);
  CHECK(test::compare(encode_prompt(tiny(), "a \\(red\\) circle", 1, 1), plain).max_abs > 1e-3);

  const Tensor weighted = encode_prompt(tiny(), "a (red:1.5) circle", 1, 1);
  REQUIRE(weighted.shape() == plain.shape());
  // Expected: row 2 (start, a, red) times 1.5, then everything times mean / new mean.
  std::vector<float> values = plain.to_f32_vector();
  const int64_t width = plain.dim(2);
  for (int64_t j = 0; j < width; ++j) values[static_cast<size_t>(2 * width + j)] *= 1.5f;
  const double factor = mean(plain) / mean(Tensor::from_vector(values, plain.shape()));
  for (float& v : values) v = static_cast<float>(v * factor);
  const Tensor expected = Tensor::from_vector(values, plain.shape());
  CHECK(test::compare(weighted, expected).max_abs < 1e-5);
  CHECK(mean(weighted) == Approx(mean(plain)).margin(1e-6));
  CHECK(test::compare(weighted, plain).max_abs > 1e-2);
}

TEST_CASE("The shorter side of guidance is padded with empty-prompt chunks", "[long_prompt]") {
  GenerationParams p;
  p.prompt = long_prompt();
  p.negative_prompt = "";
  p.steps = 2;
  p.width = 64;
  p.height = 64;
  p.seed = 3;
  p.sampler = SamplerKind::kEuler;
  const GenerationResult result = txt2img(tiny(), p);

  SamplingSetup setup;
  setup.sampler = SamplerKind::kEuler;
  setup.steps = 2;
  setup.cfg_scale = p.cfg_scale;
  setup.cond = encode_prompt(tiny(), p.prompt, 1, 1);
  const Tensor empty = encode_prompt(tiny(), "", 1, 1);
  setup.uncond = kernels::concat({empty, empty}, 1);
  setup.noise = kernels::random_normal({1, 4, 8, 8}, 3, 0);
  const Tensor expected = sample_latent(tiny().unet(), tiny().schedule(), setup);
  CHECK(test::compare(result.latents, expected).max_abs < 1e-5);

  // The long side may also be the negative one.
  std::swap(p.prompt, p.negative_prompt);
  p.prompt = "a red circle";
  const GenerationResult swapped = txt2img(tiny(), p);
  CHECK(swapped.latents.shape() == Shape{1, 4, 8, 8});

  // The second chunk matters: the first 75 tokens alone give another latent.
  setup.cond = kernels::contiguous(setup.cond.narrow(1, 0, 77));
  setup.uncond = empty;
  const Tensor truncated = sample_latent(tiny().unet(), tiny().schedule(), setup);
  CHECK(test::compare(result.latents, truncated).max_abs > 1e-4);
}

}  // namespace mmgen::diffusion
