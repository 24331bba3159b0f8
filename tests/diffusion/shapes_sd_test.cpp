// shapes-sd, the default image model trained by tools/train/train_shapes_sd.py: it loads
// by name at its native size, mmgen's tokenizer agrees with the training script's, and it
// follows prompts it never saw in training (the shapes detector accepts at least 16 of
// the 20 held-out prompts).
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
  for (const auto& p : heldout.prompts) {
    INFO(p.prompt);
    CHECK(sd.tokenizer().encode_framed(p.prompt) == p.ids);
  }
  // The held-out check renders with the settings users get by default.
  CHECK(sd.defaults().sampler == heldout.sampler);
  CHECK(sd.defaults().steps == heldout.steps);
  CHECK(sd.defaults().cfg_scale == heldout.cfg);
}

TEST_CASE("shapes-sd: draws what at least 16 of 20 unseen prompts ask for", "[shapes_sd]") {
  const int accepted = test::count_accepted_heldout(shapes_sd(), test::read_heldout_prompts());
  CHECK(accepted >= 16);
}

}  // namespace mmgen::diffusion
