// The settings a model is meant to be sampled with. Small models trained for few steps
// often want a guidance scale or sampler far from Stable Diffusion's usual ones (the
// project's shapes-sd draws best at guidance ~2), so a diffusers folder may state its
// own in generation_defaults.json (mmgen's file; its keys are the diffusers pipeline's
// call arguments):
//   {"num_inference_steps": 20, "guidance_scale": 2.0, "sampler": "euler"}
// Every key is optional; diffusers_layout.h reads it. docs/txt2img.md.
#pragma once

#include "diffusion/samplers.h"

namespace mmgen::diffusion {

struct GenerationDefaults {
  int steps = 20;
  float cfg_scale = 7.5f;
  SamplerKind sampler = SamplerKind::kEulerAncestral;
};

// The name of the file in a diffusers folder.
inline constexpr const char* kGenerationDefaultsFile = "generation_defaults.json";

}  // namespace mmgen::diffusion
