// Golden kinds of the Stable Diffusion VAE (vae_decode, vae_encode); see docs/vae.md.
#pragma once

namespace mmgen::diffusion {

// Registers the kinds with the golden runner (core/golden.h).
void register_vae_golden_kinds();

}  // namespace mmgen::diffusion
