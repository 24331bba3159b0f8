#include "audio/unicode.h"

#include <algorithm>
#include <cstdint>
#include <iterator>

namespace mmgen::audio {

namespace {

struct CanonicalDecomposition {
  char32_t codepoint;
  char32_t first;
  char32_t second;  // 0 for a singleton decomposition
};

struct CombiningClassRange {
  char32_t first;
  char32_t last;
  uint8_t combining_class;
};

#include "audio/unicode_nfd_table.inc"

constexpr char32_t kReplacement = 0xFFFD;

// Hangul syllables decompose algorithmically (Unicode section 3.12).
constexpr char32_t kHangulBase = 0xAC00, kLeadBase = 0x1100, kVowelBase = 0x1161,
                   kTrailBase = 0x11A7;
constexpr char32_t kVowelCount = 21, kTrailCount = 28, kSyllableCount = 11172;

int combining_class(char32_t codepoint) {
  auto it = std::upper_bound(
      std::begin(kCombiningClasses), std::end(kCombiningClasses), codepoint,
      [](char32_t value, const CombiningClassRange& range) { return value < range.first; });
  if (it == std::begin(kCombiningClasses)) return 0;
  --it;
  return codepoint <= it->last ? it->combining_class : 0;
}

void decompose_into(char32_t codepoint, std::u32string& out) {
  if (codepoint >= kHangulBase && codepoint < kHangulBase + kSyllableCount) {
    const char32_t index = codepoint - kHangulBase;
    out.push_back(kLeadBase + index / (kVowelCount * kTrailCount));
    out.push_back(kVowelBase + (index % (kVowelCount * kTrailCount)) / kTrailCount);
    if (index % kTrailCount != 0) out.push_back(kTrailBase + index % kTrailCount);
    return;
  }
  auto it = std::lower_bound(
      std::begin(kCanonicalDecompositions), std::end(kCanonicalDecompositions), codepoint,
      [](const CanonicalDecomposition& entry, char32_t value) { return entry.codepoint < value; });
  if (it == std::end(kCanonicalDecompositions) || it->codepoint != codepoint) {
    out.push_back(codepoint);
    return;
  }
  decompose_into(it->first, out);
  if (it->second != 0) decompose_into(it->second, out);
}

}  // namespace

std::u32string utf8_to_codepoints(std::string_view text) {
  std::u32string out;
  out.reserve(text.size());
  size_t i = 0;
  while (i < text.size()) {
    const auto lead = static_cast<unsigned char>(text[i]);
    int length = 0;
    char32_t value = 0;
    char32_t minimum = 0;
    if (lead < 0x80) {
      out.push_back(lead);
      ++i;
      continue;
    } else if ((lead & 0xE0) == 0xC0) {
      length = 2, value = lead & 0x1F, minimum = 0x80;
    } else if ((lead & 0xF0) == 0xE0) {
      length = 3, value = lead & 0x0F, minimum = 0x800;
    } else if ((lead & 0xF8) == 0xF0) {
      length = 4, value = lead & 0x07, minimum = 0x10000;
    }
    bool valid = length != 0 && i + length <= text.size();
    for (int k = 1; valid && k < length; ++k) {
      const auto next = static_cast<unsigned char>(text[i + k]);
      valid = (next & 0xC0) == 0x80;
      value = (value << 6) | (next & 0x3F);
    }
    valid = valid && value >= minimum && value <= 0x10FFFF && !(value >= 0xD800 && value <= 0xDFFF);
    if (!valid) {
      out.push_back(kReplacement);
      ++i;
      continue;
    }
    out.push_back(value);
    i += length;
  }
  return out;
}

std::string codepoint_to_utf8(char32_t codepoint) {
  if (codepoint > 0x10FFFF || (codepoint >= 0xD800 && codepoint <= 0xDFFF))
    codepoint = kReplacement;
  std::string out;
  if (codepoint < 0x80) {
    out.push_back(static_cast<char>(codepoint));
  } else if (codepoint < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (codepoint >> 6)));
    out.push_back(static_cast<char>(0x80 | (codepoint & 0x3F)));
  } else if (codepoint < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (codepoint >> 12)));
    out.push_back(static_cast<char>(0x80 | ((codepoint >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (codepoint & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (codepoint >> 18)));
    out.push_back(static_cast<char>(0x80 | ((codepoint >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((codepoint >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (codepoint & 0x3F)));
  }
  return out;
}

std::string codepoints_to_utf8(std::u32string_view codepoints) {
  std::string out;
  for (char32_t codepoint : codepoints) out += codepoint_to_utf8(codepoint);
  return out;
}

std::u32string to_nfd(std::u32string_view codepoints) {
  std::u32string out;
  out.reserve(codepoints.size());
  for (char32_t codepoint : codepoints) decompose_into(codepoint, out);
  // Canonical ordering: a stable sort of each run of non-starters by class.
  size_t i = 0;
  while (i < out.size()) {
    if (combining_class(out[i]) == 0) {
      ++i;
      continue;
    }
    size_t end = i;
    while (end < out.size() && combining_class(out[end]) != 0) ++end;
    std::stable_sort(out.begin() + static_cast<std::ptrdiff_t>(i),
                     out.begin() + static_cast<std::ptrdiff_t>(end), [](char32_t a, char32_t b) {
                       return combining_class(a) < combining_class(b);
                     });
    i = end;
  }
  return out;
}

}  // namespace mmgen::audio
