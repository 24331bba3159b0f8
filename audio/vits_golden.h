// Golden kinds of the VITS synthesizer (vits_infer_det, vits_infer_noise); see
// docs/vits.md.
#pragma once

namespace mmgen::audio {

// Registers the kinds with the golden runner (core/golden.h).
void register_vits_golden_kinds();

}  // namespace mmgen::audio
