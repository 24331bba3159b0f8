// shapes-sd on a CUDA device: the held-out prompts rendered there pass the shapes
// detector as often as the CPU test requires (at least 16 of 20), and so do the count
// prompts (the right number of objects in at least 8 of 10, with their shapes in 6).
#include <catch2/catch.hpp>

#include "tests/diffusion/shapes_sd_support.h"

namespace mmgen::diffusion {

TEST_CASE("shapes-sd on CUDA: draws what at least 16 of 20 unseen prompts ask for, and counts",
          "[cuda][shapes_sd]") {
  const auto sd = StableDiffusion::load(test::shapes_sd_dir(), {}, Device::cuda());
  const test::HeldoutSet heldout = test::read_heldout_prompts();
  CHECK(test::count_accepted(*sd, heldout, heldout.prompts).accepted >= 16);
  const test::Acceptance counts = test::count_accepted(*sd, heldout, heldout.count_prompts);
  CHECK(counts.accepted_shapes_aside >= 8);
  CHECK(counts.accepted >= 6);
}

}  // namespace mmgen::diffusion
