// The default image model, shapes-sd, as its tests load it: by name, through the same
// lookup `mmgen txt2img -m shapes-sd` uses, with the held-out and count prompts its
// training script recorded (models/shapes-sd/heldout_prompts.json).
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
  std::vector<HeldoutPrompt> prompts;        // never drawn in training
  std::vector<HeldoutPrompt> count_prompts;  // "three green squares": trained captions
};

// The folder of the shipped model; fails the test loudly when it is not found.
std::filesystem::path shapes_sd_dir();
HeldoutSet read_heldout_prompts();

// How many pictures the shapes detector accepts, and how many with the shapes aside
// (colours, counts, places and relations only).
struct Acceptance {
  int accepted = 0;
  int accepted_shapes_aside = 0;
};

// Renders each prompt at the model's native size with the set's recorded sampler, steps
// and guidance and the prompt's seed, and checks it with the shapes detector. Each
// verdict is logged through Catch's WARN so a failure shows what was drawn.
Acceptance count_accepted(const diffusion::StableDiffusion& sd, const HeldoutSet& set,
                          const std::vector<HeldoutPrompt>& prompts);

}  // namespace mmgen::test
