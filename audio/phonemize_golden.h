// Golden kind "phonemize": text + espeak-ng voice -> phonemes (as codepoints)
// and phoneme ids through the golden voice's phoneme_id_map; see
// docs/tts-frontend.md.
#pragma once

namespace mmgen::audio {

// Registers the kind with the golden runner (core/golden.h).
void register_phonemize_golden_kinds();

}  // namespace mmgen::audio
