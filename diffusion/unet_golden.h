// Golden kind of the Stable Diffusion UNet (unet_eps); see docs/unet.md.
#pragma once

namespace mmgen::diffusion {

// Registers the kind with the golden runner (core/golden.h).
void register_unet_golden_kinds();

}  // namespace mmgen::diffusion
