// The default image model, shapes-sd, as its tests load it: by name, through the same
// lookup `mmgen txt2img -m shapes-sd` uses, with the held-out prompts its training
// script recorded (models/shapes-sd/heldout_prompts.json).
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "core/device.h"
#include "diffusion/txt2img.h"

namespace mmgen::test {

struct HeldoutPrompt {
  std::string prompt;
  std::vector<int32_t> ids;  // the training script's CLIP token ids
  uint64_t seed = 0;
};

struct HeldoutSet {
  diffusion::SamplerKind sampler = diffusion::SamplerKind::kEuler;
  int steps = 20;
  float cfg = 5.0f;
  std::vector<HeldoutPrompt> prompts;
};

// The folder of the shipped model; fails the test loudly when it is not found.
std::filesystem::path shapes_sd_dir();
HeldoutSet read_heldout_prompts();

// Renders every held-out prompt at the model's native size with the recorded sampler,
// steps, guidance and seed, and returns how many the shapes detector accepts (each
// verdict is logged through Catch's WARN so a failure shows what was drawn).
int count_accepted_heldout(const diffusion::StableDiffusion& sd, const HeldoutSet& heldout);

}  // namespace mmgen::test
