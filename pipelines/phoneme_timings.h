// Phoneme timings of synthesised speech, for a talking head: the voice's phoneme ids
// back to their symbols, and each sentence's durations (in decoder frames) as times.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "audio/tts.h"
#include "vision/avatar_signals.h"

namespace mmgen::pipelines {

// Phoneme ids back to symbols (the ids of one-id entries; pad, BOS and EOS ids map
// to their own symbols, which a talking head treats as rests).
std::map<int64_t, std::string> phoneme_symbols(const audio::TtsVoice& voice);

// Appends the phonemes of one sentence that starts `offset_seconds` into the audio;
// a duration frame is samples / frames audio samples (the decoder's hop). Ids
// without a symbol get an empty one.
void append_phoneme_timings(const audio::TtsSentence& sentence,
                            const std::map<int64_t, std::string>& symbols, double offset_seconds,
                            double sample_rate, std::vector<vision::PhonemeTiming>& out);

}  // namespace mmgen::pipelines
