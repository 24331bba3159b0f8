#include "text/unicode.h"

#include <array>
#include <vector>

namespace mmgen::text {

namespace {

constexpr uint32_t kReplacement = 0xFFFD;

bool is_continuation(uint8_t byte) { return (byte & 0xC0) == 0x80; }

// Decodes one sequence at `offset` by the structure of its bytes (lead byte
// pattern and continuation bytes); nullopt when malformed.
std::optional<uint32_t> decode_at(std::string_view text, size_t offset, size_t& length) {
  const auto lead = static_cast<uint8_t>(text[offset]);
  length = utf8_sequence_length(lead);
  if (length == 1) {
    if (lead >= 0x80) return std::nullopt;  // a stray continuation byte
    return lead;
  }
  if (lead >= 0xF8) return std::nullopt;  // no valid sequence starts with 11111xxx
  if (offset + length > text.size()) return std::nullopt;
  uint32_t codepoint = lead & (0x7F >> length);
  for (size_t i = 1; i < length; ++i) {
    const auto byte = static_cast<uint8_t>(text[offset + i]);
    if (!is_continuation(byte)) return std::nullopt;
    codepoint = (codepoint << 6) | (byte & 0x3F);
  }
  return codepoint;
}

struct ByteLevelTables {
  std::array<std::string, 256> to_unicode;
  std::vector<int16_t> to_byte;  // indexed by code point (< 0x200); -1 outside the alphabet

  ByteLevelTables() : to_byte(0x200, -1) {
    uint32_t next = 256;
    for (int byte = 0; byte < 256; ++byte) {
      const bool printable =
          (byte >= 33 && byte <= 126) || (byte >= 161 && byte <= 172) || (byte >= 174);
      const uint32_t codepoint = printable ? static_cast<uint32_t>(byte) : next++;
      to_unicode[byte] = utf8_encode(codepoint);
      to_byte[codepoint] = static_cast<int16_t>(byte);
    }
  }
};

const ByteLevelTables& byte_level_tables() {
  static const ByteLevelTables tables;
  return tables;
}

}  // namespace

size_t utf8_sequence_length(uint8_t lead) {
  // By the high nibble, as the reference tokenizers cut characters.
  static constexpr size_t kLengths[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4};
  return kLengths[lead >> 4];
}

std::string utf8_encode(uint32_t codepoint) {
  if ((codepoint >= 0xD800 && codepoint <= 0xDFFF) || codepoint > 0x10FFFF) {
    codepoint = kReplacement;
  }
  std::string out;
  if (codepoint < 0x80) {
    out += static_cast<char>(codepoint);
  } else if (codepoint < 0x800) {
    out += static_cast<char>(0xC0 | (codepoint >> 6));
    out += static_cast<char>(0x80 | (codepoint & 0x3F));
  } else if (codepoint < 0x10000) {
    out += static_cast<char>(0xE0 | (codepoint >> 12));
    out += static_cast<char>(0x80 | ((codepoint >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (codepoint & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (codepoint >> 18));
    out += static_cast<char>(0x80 | ((codepoint >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((codepoint >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (codepoint & 0x3F));
  }
  return out;
}

std::string sanitize_utf8(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  size_t offset = 0;
  while (offset < text.size()) {
    const auto lead = static_cast<uint8_t>(text[offset]);
    if (lead < 0x80) {  // the common case, copied directly
      out += static_cast<char>(lead);
      ++offset;
      continue;
    }
    size_t length = 1;
    const auto codepoint = decode_at(text, offset, length);
    if (!codepoint) {
      out += utf8_encode(kReplacement);
      ++offset;
      continue;
    }
    out += utf8_encode(*codepoint);  // re-encoding also normalises overlong forms
    offset += length;
  }
  return out;
}

size_t utf8_incomplete_tail(std::string_view text) {
  // Look back at most 3 bytes for a lead byte whose sequence runs past the end.
  const size_t limit = text.size() < 3 ? text.size() : 3;
  for (size_t back = 1; back <= limit; ++back) {
    const auto byte = static_cast<uint8_t>(text[text.size() - back]);
    if (is_continuation(byte)) continue;
    if (byte >= 0xF8) return 0;  // starts no sequence: nothing to wait for
    const size_t length = utf8_sequence_length(byte);
    return length > back ? back : 0;
  }
  return 0;
}

const std::string& byte_to_unicode(uint8_t byte) { return byte_level_tables().to_unicode[byte]; }

std::optional<uint8_t> unicode_to_byte(uint32_t codepoint) {
  const auto& to_byte = byte_level_tables().to_byte;
  if (codepoint >= to_byte.size() || to_byte[codepoint] < 0) return std::nullopt;
  return static_cast<uint8_t>(to_byte[codepoint]);
}

std::string byte_level_encode(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size() * 2);
  for (char c : bytes) out += byte_to_unicode(static_cast<uint8_t>(c));
  return out;
}

std::string byte_level_decode(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  size_t offset = 0;
  while (offset < text.size()) {
    size_t length = 1;
    const auto codepoint = decode_at(text, offset, length);
    const auto byte = codepoint ? unicode_to_byte(*codepoint) : std::nullopt;
    if (byte) {
      out += static_cast<char>(*byte);
    } else {
      if (!codepoint) length = 1;
      out.append(text.substr(offset, length));
    }
    offset += length;
  }
  return out;
}

std::string metaspace_encode(std::string_view text) {
  std::string out;
  out.reserve(text.size() + 8);
  for (char c : text) {
    if (c == ' ') {
      out += kMetaspace;
    } else {
      out += c;
    }
  }
  return out;
}

std::string metaspace_decode(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size();) {
    if (text.compare(i, kMetaspace.size(), kMetaspace) == 0) {
      out += ' ';
      i += kMetaspace.size();
    } else {
      out += text[i++];
    }
  }
  return out;
}

}  // namespace mmgen::text
