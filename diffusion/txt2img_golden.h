// Golden kind "txt2img": the whole SD1.x sampling pipeline from token ids and
// initial noise to latent and image; see docs/txt2img.md.
#pragma once

namespace mmgen::diffusion {

// Registers the kind with the golden runner (core/golden.h).
void register_txt2img_golden_kinds();

}  // namespace mmgen::diffusion
