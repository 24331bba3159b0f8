// espeak-ng's own speech (its formant synthesiser) of a text: what a voice
// trained on espeak-ng's audio imitates, and the reference its intelligibility
// is measured against (tools/train/voice_recipe.md).
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace mmgen::audio {

struct EspeakSpeech {
  std::vector<float> samples;  // mono, in [-1, 1)
  int sample_rate = 0;         // espeak-ng's rate (22050 Hz)
};

// Throws Error for empty text, a voice espeak-ng does not have, or missing data.
// Thread-safe (the lock shared with phonemize()).
EspeakSpeech speak_with_espeak(std::string_view text, const std::string& voice);

}  // namespace mmgen::audio
