// Visemes: the mouth shapes of speech sounds. IPA phonemes (as espeak-ng and
// piper voices write them) map to a handful of classes, each with a target
// MouthShape; a phoneme timeline becomes a per-frame mouth track.
#pragma once

#include <string_view>
#include <vector>

#include "vision/avatar_signals.h"

namespace mmgen::vision {

enum class Viseme {
  kRest,          // silence, pauses, punctuation
  kBilabial,      // p b m: lips pressed together
  kLabiodental,   // f v: lower lip to the teeth
  kDental,        // t d n l s z θ ð r: teeth nearly together, slightly open
  kPostalveolar,  // ʃ ʒ tʃ dʒ: lips pushed forward
  kVelar,         // k g ŋ h x: jaw half open
  kOpenVowel,     // a ɑ æ ʌ ɐ aɪ aʊ: jaw dropped
  kMidVowel,      // e ɛ ə ɜ ɚ: half open
  kSpreadVowel,   // i ɪ j: lips spread
  kRoundVowel,    // o ɔ u ʊ w: lips rounded
};

// The class of one phoneme (a UTF-8 IPA symbol; stress and length marks and
// unknown symbols are kRest, except that a length mark is best merged with the
// previous phoneme by the caller).
Viseme viseme_for_phoneme(std::string_view phoneme);
MouthShape viseme_shape(Viseme viseme);
const char* viseme_name(Viseme viseme);

// The mouth track of `frames` video frames at `fps` from phoneme timings: the
// target shape at each frame's centre (looking slightly ahead, as lips move
// before the sound), smoothed with attack/release. Length marks (ː) extend the
// phoneme before them.
std::vector<MouthShape> mouth_track_from_phonemes(const std::vector<PhonemeTiming>& phonemes,
                                                  int64_t frames, int fps);

}  // namespace mmgen::vision
