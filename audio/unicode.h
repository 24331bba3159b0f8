// UTF-8 <-> codepoints and canonical decomposition (NFD), which the phonemizer
// applies to espeak-ng's IPA so that every phoneme is one base codepoint or one
// combining mark, as the voices' phoneme_id_map expects.
#pragma once

#include <string>
#include <string_view>

namespace mmgen::audio {

// Decodes UTF-8; an invalid or truncated sequence becomes U+FFFD, one per byte.
std::u32string utf8_to_codepoints(std::string_view text);
// Encodes one codepoint (surrogates and values past U+10FFFF become U+FFFD).
std::string codepoint_to_utf8(char32_t codepoint);
std::string codepoints_to_utf8(std::u32string_view codepoints);

// Unicode normalisation form D: full canonical decomposition (Hangul included),
// then canonical ordering of combining marks.
std::u32string to_nfd(std::u32string_view codepoints);

}  // namespace mmgen::audio
