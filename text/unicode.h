// UTF-8 helpers and the GPT-2 byte-level alphabet shared by the tokenizers.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace mmgen::text {

// The length of the UTF-8 sequence a lead byte announces, read from its high
// four bits (1 for ASCII and continuation bytes, 4 for 0xF0-0xFF).
size_t utf8_sequence_length(uint8_t lead);

// The UTF-8 encoding of a code point (U+FFFD for surrogates and values past U+10FFFF).
std::string utf8_encode(uint32_t codepoint);

// The text with every malformed UTF-8 sequence (a stray continuation byte, a
// truncated sequence) replaced by U+FFFD, and surrogates or values past
// U+10FFFF likewise replaced, so that regular expressions always see valid UTF-8.
std::string sanitize_utf8(std::string_view text);

// How many bytes at the end of `text` start a UTF-8 sequence that is still
// incomplete but could be completed by more bytes (0..3). Streaming decoders
// hold these back until the rest arrives.
size_t utf8_incomplete_tail(std::string_view text);

// GPT-2's byte-level alphabet: every byte maps to one printable code point
// (bytes 33-126, 161-172 and 174-255 to themselves, the others to U+0100 and up).
// The UTF-8 encoding of the code point that stands for `byte`.
const std::string& byte_to_unicode(uint8_t byte);
// The byte a code point stands for, or nullopt when it is outside the alphabet.
std::optional<uint8_t> unicode_to_byte(uint32_t codepoint);
// Maps every byte of `bytes` to its code point (UTF-8 out).
std::string byte_level_encode(std::string_view bytes);
// The inverse: each code point of the alphabet becomes its byte; code points
// outside the alphabet are copied unchanged.
std::string byte_level_decode(std::string_view text);

// SentencePiece's space, U+2581 (the "metaspace").
inline constexpr std::string_view kMetaspace = "\xE2\x96\x81";
// Every ' ' becomes the metaspace.
std::string metaspace_encode(std::string_view text);
// Every metaspace becomes ' '.
std::string metaspace_decode(std::string_view text);

}  // namespace mmgen::text
