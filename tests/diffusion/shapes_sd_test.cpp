// shapes-sd, the default image model trained by tools/train/train_shapes_sd.py: it loads
// by name at its native size, mmgen's tokenizer agrees with the training script's, and it
// follows prompts it never saw in training (the shapes detector accepts at least 16 of
// the 20 held-out prompts) and draws as many objects as a count asks for, of the shape
// asked for ("three green squares").
#include <catch2/catch.hpp>

#include "tests/diffusion/shapes_sd_support.h"

namespace mmgen::diffusion {
namespace {

const StableDiffusion& shapes_sd() {
  static const auto sd = StableDiffusion::load(test::shapes_sd_dir());
  return *sd;
}

}  // namespace

TEST_CASE("shapes-sd: loads by name, 64x64 native size, the training script's token ids",
          "[shapes_sd]") {
  const StableDiffusion& sd = shapes_sd();
  CHECK(sd.native_size() == 64);
  CHECK(sd.vae_factor() == 4);
  const test::HeldoutSet heldout = test::read_heldout_prompts();
  REQUIRE(heldout.prompts.size() == 20);
  REQUIRE(heldout.count_prompts.size() == 10);
  for (const auto* prompts : {&heldout.prompts, &heldout.count_prompts}) {
    for (const auto& p : *prompts) {
      INFO(p.prompt);
      CHECK(sd.tokenizer().encode_framed(p.prompt) == p.ids);
    }
  }
  // The held-out check renders with the settings users get by default.
  CHECK(sd.defaults().sampler == heldout.sampler);
  CHECK(sd.defaults().steps == heldout.steps);
  CHECK(sd.defaults().cfg_scale == heldout.cfg);
}

TEST_CASE("shapes-sd: draws what at least 16 of 20 unseen prompts ask for", "[shapes_sd]") {
  const test::HeldoutSet heldout = test::read_heldout_prompts();
  CHECK(test::count_accepted(shapes_sd(), heldout, heldout.prompts).accepted >= 16);
}

TEST_CASE("shapes-sd: counts, the right number in at least 8 of 10 prompts, with their shapes in 6",
          "[shapes_sd]") {
  // "three green squares": the right number of regions of the colour on the background,
  // and each of the shape asked for. Shapes are the harder part: a small square drawn
  // with rounded corners reads as a circle (models/shapes-sd/MODEL_CARD.md).
  const test::HeldoutSet heldout = test::read_heldout_prompts();
  const test::Acceptance counts = test::count_accepted(shapes_sd(), heldout, heldout.count_prompts);
  CHECK(counts.accepted_shapes_aside >= 8);
  CHECK(counts.accepted >= 6);
}

}  // namespace mmgen::diffusion
