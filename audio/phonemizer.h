// Text -> IPA phonemes with espeak-ng, the way piper voices were trained:
// espeak-ng's clause by clause translation (espeak_TextToPhonemes, IPA), each
// clause decomposed to NFD, language-switch flags "(en)" removed, and the
// clause's punctuation appended (". ? !" end a sentence; ", : ;" are followed
// by a space and continue it). See docs/tts-frontend.md.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace mmgen::audio {

// One phoneme is one Unicode codepoint, UTF-8 encoded.
using Phonemes = std::vector<std::string>;

// Phonemes of each sentence of `text` for the espeak-ng voice `voice` ("en-us",
// "de", "cmn", ...). Sentences end where espeak-ng finds a full stop, question
// or exclamation mark; a sentence without phonemes is dropped. Throws Error for
// empty (or all-whitespace) text, for a voice espeak-ng does not have (naming
// it), and when espeak-ng's data cannot be found. Thread-safe: espeak-ng is
// initialised once and every call holds one lock around it.
std::vector<Phonemes> phonemize(std::string_view text, const std::string& voice);

// The sentence's phonemes as one UTF-8 string ("həlˈoʊ wˈɜːld.").
std::string join_phonemes(const Phonemes& phonemes);

// Where espeak-ng reads its data: $ESPEAK_DATA_PATH/espeak-ng-data when set,
// else the Debian default /usr/lib/x86_64-linux-gnu/espeak-ng-data (for error
// messages; espeak-ng itself resolves the path).
std::filesystem::path espeak_data_dir();

}  // namespace mmgen::audio
