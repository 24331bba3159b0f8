// Phonemes -> the ids a piper voice was trained on: "^" (begin), "_" (pad)
// after it and after every phoneme, "$" (end), each through the voice's
// phoneme_id_map. See docs/tts-frontend.md.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "audio/phonemizer.h"

namespace mmgen::audio {

// Phoneme (one codepoint, UTF-8) -> its ids (usually one).
using PhonemeIdMap = std::map<std::string, std::vector<int64_t>>;

inline constexpr const char* kBeginPhoneme = "^";
inline constexpr const char* kEndPhoneme = "$";
inline constexpr const char* kPadPhoneme = "_";

// ^ _ (p _)* $ for one sentence. Phonemes the map has no ids for are skipped and
// named in one warning (core/log.h) per call. Throws Error naming the symbol
// when the map lacks "^", "$" or "_".
std::vector<int64_t> phonemes_to_ids(const Phonemes& phonemes, const PhonemeIdMap& id_map);

// The phonemes of `phonemes` missing from the map, each once, in order of appearance.
std::vector<std::string> missing_phonemes(const Phonemes& phonemes, const PhonemeIdMap& id_map);

}  // namespace mmgen::audio
