#include "text/clip_tokenizer.h"

#include <zlib.h>

#include <algorithm>
#include <array>
#include <limits>
#include <optional>
#include <utility>

#include "core/error.h"
#include "text/unicode.h"

namespace mmgen::text {

namespace {

// The vocabulary: 256 byte characters, the same with "</w>", one token per
// merge, then the two special tokens; 49408 in all, as CLIP's text model expects.
constexpr int32_t kMergeCount = 49152 - 256 - 2;
constexpr const char* kEndOfWord = "</w>";
constexpr const char* kStartText = "<|startoftext|>";
constexpr const char* kEndText = "<|endoftext|>";
constexpr size_t kCacheLimit = 1 << 16;

// The reference's word pattern; it is matched case-insensitively.
constexpr const char* kClipPattern =
    R"((?i)<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+)";

// ---- UTF-8 ------------------------------------------------------------------------

// Code points of valid UTF-8 (the text has been through sanitize_utf8).
std::vector<uint32_t> decode_utf8(std::string_view text) {
  std::vector<uint32_t> out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size();) {
    const auto lead = static_cast<uint8_t>(text[i]);
    const size_t length = std::min(utf8_sequence_length(lead), text.size() - i);
    uint32_t cp = length == 1 ? lead : (lead & (0x7Fu >> length));
    for (size_t k = 1; k < length; ++k) cp = (cp << 6) | (static_cast<uint8_t>(text[i + k]) & 0x3F);
    out.push_back(cp);
    i += length;
  }
  return out;
}

std::string encode_utf8(const std::vector<uint32_t>& cps) {
  std::string out;
  out.reserve(cps.size());
  for (uint32_t cp : cps) out += utf8_encode(cp);
  return out;
}

// The characters Python's str.isspace() (and so `re`'s \s and str.strip()) accepts.
bool is_space(uint32_t cp) {
  return (cp >= 0x09 && cp <= 0x0D) || (cp >= 0x1C && cp <= 0x20) || cp == 0x85 || cp == 0xA0 ||
         cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 ||
         cp == 0x202F || cp == 0x205F || cp == 0x3000;
}

// ---- lower case -----------------------------------------------------------------

// Capitals whose small letter is not at a fixed offset (Latin Extended-B, Greek Extended).
constexpr std::pair<uint32_t, uint32_t> kIrregularLower[] = {
    {0x181, 0x253},   {0x186, 0x254},   {0x189, 0x256},   {0x18A, 0x257},   {0x18E, 0x1DD},
    {0x18F, 0x259},   {0x190, 0x25B},   {0x193, 0x260},   {0x194, 0x263},   {0x196, 0x269},
    {0x197, 0x268},   {0x19C, 0x26F},   {0x19D, 0x272},   {0x19F, 0x275},   {0x1A6, 0x280},
    {0x1A9, 0x283},   {0x1AE, 0x288},   {0x1B1, 0x28A},   {0x1B2, 0x28B},   {0x1B7, 0x292},
    {0x1C4, 0x1C6},   {0x1C5, 0x1C6},   {0x1C7, 0x1C9},   {0x1C8, 0x1C9},   {0x1CA, 0x1CC},
    {0x1CB, 0x1CC},   {0x1F1, 0x1F3},   {0x1F2, 0x1F3},   {0x1F4, 0x1F5},   {0x1F6, 0x195},
    {0x1F7, 0x1BF},   {0x220, 0x19E},   {0x23A, 0x2C65},  {0x23D, 0x19A},   {0x23E, 0x2C66},
    {0x243, 0x180},   {0x244, 0x289},   {0x245, 0x28C},   {0x1FB8, 0x1FB0}, {0x1FB9, 0x1FB1},
    {0x1FBA, 0x1F70}, {0x1FBB, 0x1F71}, {0x1FBC, 0x1FB3}, {0x1FC8, 0x1F72}, {0x1FC9, 0x1F73},
    {0x1FCA, 0x1F74}, {0x1FCB, 0x1F75}, {0x1FCC, 0x1FC3}, {0x1FD8, 0x1FD0}, {0x1FD9, 0x1FD1},
    {0x1FDA, 0x1F76}, {0x1FDB, 0x1F77}, {0x1FE8, 0x1FE0}, {0x1FE9, 0x1FE1}, {0x1FEA, 0x1F7A},
    {0x1FEB, 0x1F7B}, {0x1FEC, 0x1FE5}, {0x1FF8, 0x1F78}, {0x1FF9, 0x1F79}, {0x1FFA, 0x1F7C},
    {0x1FFB, 0x1F7D}, {0x1FFC, 0x1FF3}};

uint32_t irregular_lower(uint32_t cp) {
  for (const auto& [upper, lower] : kIrregularLower)
    if (upper == cp) return lower;
  return 0;
}

// Greek Extended (polytonic): capitals sit 8 above their small letters, except
// the letters with a plain accent, which map into U+1F70-U+1F7D.
uint32_t greek_extended_lower(uint32_t cp) {
  const uint32_t row = cp & 0xFFF0, col = cp & 0xF;
  if (cp < 0x1F70) {
    if (col < 8) return 0;
    if (row == 0x1F10 || row == 0x1F40) return col <= 0xD ? cp - 8 : 0;
    if (row == 0x1F50) return (col % 2 == 1) ? cp - 8 : 0;
    return cp - 8;
  }
  if (cp >= 0x1F88 && cp <= 0x1FAF) return col >= 8 ? cp - 8 : 0;
  return irregular_lower(cp);
}

// Lower case of one code point (0 when it has none in the covered scripts).
uint32_t lower_of(uint32_t cp) {
  const bool even = (cp % 2) == 0;
  if (cp >= 'A' && cp <= 'Z') return cp + 0x20;
  if (cp < 0xC0) return 0;
  if (cp <= 0xDE) return cp == 0xD7 ? 0 : cp + 0x20;
  if (cp < 0x100) return 0;
  if (cp <= 0x17F) {            // Latin Extended-A
    if (cp == 0x130) return 0;  // handled by the caller (two code points)
    if (cp == 0x178) return 0xFF;
    if ((cp <= 0x137) || (cp >= 0x14A && cp <= 0x177)) return even ? cp + 1 : 0;
    if ((cp >= 0x139 && cp <= 0x148) || (cp >= 0x179 && cp <= 0x17E)) return even ? 0 : cp + 1;
    return 0;
  }
  if (cp <= 0x24F) {  // Latin Extended-B: the regular pairs and the digraphs
    if (const uint32_t lower = irregular_lower(cp)) return lower;
    if (cp == 0x182 || cp == 0x184 || cp == 0x187 || cp == 0x18B || cp == 0x191 || cp == 0x198 ||
        cp == 0x1A0 || cp == 0x1A2 || cp == 0x1A4 || cp == 0x1A7 || cp == 0x1AC || cp == 0x1AF ||
        cp == 0x1B3 || cp == 0x1B5 || cp == 0x1B8 || cp == 0x1BC || cp == 0x23B || cp == 0x241)
      return cp + 1;
    if (cp >= 0x1CD && cp <= 0x1DC) return even ? 0 : cp + 1;
    if ((cp >= 0x1DE && cp <= 0x1EF) || (cp >= 0x1F8 && cp <= 0x21F) ||
        (cp >= 0x222 && cp <= 0x233) || (cp >= 0x246 && cp <= 0x24F))
      return even ? cp + 1 : 0;
    return 0;
  }
  if (cp >= 0x370 && cp <= 0x3FF) {  // Greek
    if ((cp >= 0x391 && cp <= 0x3A1) || (cp >= 0x3A3 && cp <= 0x3AB)) return cp + 0x20;
    if (cp == 0x386) return 0x3AC;
    if (cp >= 0x388 && cp <= 0x38A) return cp + 37;
    if (cp == 0x38C) return 0x3CC;
    if (cp == 0x38E || cp == 0x38F) return cp + 63;
    if (cp == 0x370 || cp == 0x372 || cp == 0x376 || (cp >= 0x3D8 && cp <= 0x3EF))
      return even ? cp + 1 : 0;
    if (cp == 0x37F) return 0x3F3;
    if (cp == 0x3CF) return 0x3D7;
    if (cp == 0x3F4) return 0x3B8;
    if (cp == 0x3F7 || cp == 0x3FA) return cp + 1;
    if (cp == 0x3F9) return 0x3F2;
    if (cp >= 0x3FD) return cp - 130;
    return 0;
  }
  if (cp >= 0x400 && cp <= 0x52F) {  // Cyrillic and its supplement
    if (cp <= 0x40F) return cp + 0x50;
    if (cp <= 0x42F) return cp + 0x20;
    if ((cp >= 0x460 && cp <= 0x481) || (cp >= 0x48A && cp <= 0x4BF) || cp >= 0x4D0)
      return even ? cp + 1 : 0;
    if (cp == 0x4C0) return 0x4CF;
    if (cp >= 0x4C1 && cp <= 0x4CE) return even ? 0 : cp + 1;
    return 0;
  }
  if (cp >= 0x531 && cp <= 0x556) return cp + 0x30;  // Armenian
  if (cp >= 0x1E00 && cp <= 0x1EFF) {                // Latin Extended Additional
    if (cp == 0x1E9E) return 0xDF;
    if (cp <= 0x1E95 || cp >= 0x1EA0) return even ? cp + 1 : 0;
    return 0;
  }
  if (cp >= 0x1F00 && cp <= 0x1FFF) return greek_extended_lower(cp);
  if (cp >= 0x2160 && cp <= 0x216F) return cp + 0x10;  // Roman numerals
  if (cp >= 0x24B6 && cp <= 0x24CF) return cp + 26;    // circled letters
  if (cp >= 0xFF21 && cp <= 0xFF3A) return cp + 0x20;  // fullwidth Latin
  return 0;
}

// Letters that have case, for the final-sigma rule.
bool is_cased(uint32_t cp) {
  return (cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z') ||
         (cp >= 0xC0 && cp <= 0x24F && cp != 0xD7 && cp != 0xF7) || (cp >= 0x370 && cp <= 0x3FF) ||
         (cp >= 0x400 && cp <= 0x52F) || (cp >= 0x531 && cp <= 0x587) ||
         (cp >= 0x1E00 && cp <= 0x1EFF);
}

// Marks that the final-sigma rule looks through (combining marks and apostrophes).
bool is_case_ignorable(uint32_t cp) {
  return (cp >= 0x300 && cp <= 0x36F) || cp == '\'' || cp == 0x2019 || cp == '.' || cp == ':';
}

// ---- HTML character references ----------------------------------------------------

struct NamedEntity {
  const char* name;
  uint32_t codepoint;
};

// The Latin-1 entities (U+00A0-U+00FF) and amp/lt/gt/quot: HTML5 also accepts
// these without the closing ';'.
constexpr NamedEntity kLegacyEntities[] = {
    {"amp", '&'},     {"lt", '<'},      {"gt", '>'},      {"quot", '"'},    {"AMP", '&'},
    {"LT", '<'},      {"GT", '>'},      {"QUOT", '"'},    {"COPY", 0xA9},   {"REG", 0xAE},
    {"nbsp", 0xA0},   {"iexcl", 0xA1},  {"cent", 0xA2},   {"pound", 0xA3},  {"curren", 0xA4},
    {"yen", 0xA5},    {"brvbar", 0xA6}, {"sect", 0xA7},   {"uml", 0xA8},    {"copy", 0xA9},
    {"ordf", 0xAA},   {"laquo", 0xAB},  {"not", 0xAC},    {"shy", 0xAD},    {"reg", 0xAE},
    {"macr", 0xAF},   {"deg", 0xB0},    {"plusmn", 0xB1}, {"sup2", 0xB2},   {"sup3", 0xB3},
    {"acute", 0xB4},  {"micro", 0xB5},  {"para", 0xB6},   {"middot", 0xB7}, {"cedil", 0xB8},
    {"sup1", 0xB9},   {"ordm", 0xBA},   {"raquo", 0xBB},  {"frac14", 0xBC}, {"frac12", 0xBD},
    {"frac34", 0xBE}, {"iquest", 0xBF}, {"Agrave", 0xC0}, {"Aacute", 0xC1}, {"Acirc", 0xC2},
    {"Atilde", 0xC3}, {"Auml", 0xC4},   {"Aring", 0xC5},  {"AElig", 0xC6},  {"Ccedil", 0xC7},
    {"Egrave", 0xC8}, {"Eacute", 0xC9}, {"Ecirc", 0xCA},  {"Euml", 0xCB},   {"Igrave", 0xCC},
    {"Iacute", 0xCD}, {"Icirc", 0xCE},  {"Iuml", 0xCF},   {"ETH", 0xD0},    {"Ntilde", 0xD1},
    {"Ograve", 0xD2}, {"Oacute", 0xD3}, {"Ocirc", 0xD4},  {"Otilde", 0xD5}, {"Ouml", 0xD6},
    {"times", 0xD7},  {"Oslash", 0xD8}, {"Ugrave", 0xD9}, {"Uacute", 0xDA}, {"Ucirc", 0xDB},
    {"Uuml", 0xDC},   {"Yacute", 0xDD}, {"THORN", 0xDE},  {"szlig", 0xDF},  {"agrave", 0xE0},
    {"aacute", 0xE1}, {"acirc", 0xE2},  {"atilde", 0xE3}, {"auml", 0xE4},   {"aring", 0xE5},
    {"aelig", 0xE6},  {"ccedil", 0xE7}, {"egrave", 0xE8}, {"eacute", 0xE9}, {"ecirc", 0xEA},
    {"euml", 0xEB},   {"igrave", 0xEC}, {"iacute", 0xED}, {"icirc", 0xEE},  {"iuml", 0xEF},
    {"eth", 0xF0},    {"ntilde", 0xF1}, {"ograve", 0xF2}, {"oacute", 0xF3}, {"ocirc", 0xF4},
    {"otilde", 0xF5}, {"ouml", 0xF6},   {"divide", 0xF7}, {"oslash", 0xF8}, {"ugrave", 0xF9},
    {"uacute", 0xFA}, {"ucirc", 0xFB},  {"uuml", 0xFC},   {"yacute", 0xFD}, {"thorn", 0xFE},
    {"yuml", 0xFF},
};

// Common entities that need the closing ';'.
constexpr NamedEntity kEntities[] = {
    {"apos", '\''},     {"OElig", 0x152},   {"oelig", 0x153},   {"Scaron", 0x160},
    {"scaron", 0x161},  {"Yuml", 0x178},    {"fnof", 0x192},    {"circ", 0x2C6},
    {"tilde", 0x2DC},   {"ensp", 0x2002},   {"emsp", 0x2003},   {"thinsp", 0x2009},
    {"zwnj", 0x200C},   {"zwj", 0x200D},    {"lrm", 0x200E},    {"rlm", 0x200F},
    {"ndash", 0x2013},  {"mdash", 0x2014},  {"lsquo", 0x2018},  {"rsquo", 0x2019},
    {"sbquo", 0x201A},  {"ldquo", 0x201C},  {"rdquo", 0x201D},  {"bdquo", 0x201E},
    {"dagger", 0x2020}, {"Dagger", 0x2021}, {"bull", 0x2022},   {"hellip", 0x2026},
    {"permil", 0x2030}, {"prime", 0x2032},  {"Prime", 0x2033},  {"lsaquo", 0x2039},
    {"rsaquo", 0x203A}, {"oline", 0x203E},  {"frasl", 0x2044},  {"euro", 0x20AC},
    {"trade", 0x2122},  {"larr", 0x2190},   {"uarr", 0x2191},   {"rarr", 0x2192},
    {"darr", 0x2193},   {"harr", 0x2194},   {"forall", 0x2200}, {"part", 0x2202},
    {"exist", 0x2203},  {"empty", 0x2205},  {"nabla", 0x2207},  {"isin", 0x2208},
    {"sum", 0x2211},    {"minus", 0x2212},  {"radic", 0x221A},  {"infin", 0x221E},
    {"ne", 0x2260},     {"le", 0x2264},     {"ge", 0x2265},     {"asymp", 0x2248},
    {"loz", 0x25CA},    {"spades", 0x2660}, {"clubs", 0x2663},  {"hearts", 0x2665},
    {"diams", 0x2666},  {"Alpha", 0x391},   {"Beta", 0x392},    {"Gamma", 0x393},
    {"Delta", 0x394},   {"Epsilon", 0x395}, {"Zeta", 0x396},    {"Eta", 0x397},
    {"Theta", 0x398},   {"Iota", 0x399},    {"Kappa", 0x39A},   {"Lambda", 0x39B},
    {"Mu", 0x39C},      {"Nu", 0x39D},      {"Xi", 0x39E},      {"Omicron", 0x39F},
    {"Pi", 0x3A0},      {"Rho", 0x3A1},     {"Sigma", 0x3A3},   {"Tau", 0x3A4},
    {"Upsilon", 0x3A5}, {"Phi", 0x3A6},     {"Chi", 0x3A7},     {"Psi", 0x3A8},
    {"Omega", 0x3A9},   {"alpha", 0x3B1},   {"beta", 0x3B2},    {"gamma", 0x3B3},
    {"delta", 0x3B4},   {"epsilon", 0x3B5}, {"zeta", 0x3B6},    {"eta", 0x3B7},
    {"theta", 0x3B8},   {"iota", 0x3B9},    {"kappa", 0x3BA},   {"lambda", 0x3BB},
    {"mu", 0x3BC},      {"nu", 0x3BD},      {"xi", 0x3BE},      {"omicron", 0x3BF},
    {"pi", 0x3C0},      {"rho", 0x3C1},     {"sigmaf", 0x3C2},  {"sigma", 0x3C3},
    {"tau", 0x3C4},     {"upsilon", 0x3C5}, {"phi", 0x3C6},     {"chi", 0x3C7},
    {"psi", 0x3C8},     {"omega", 0x3C9},
};

std::optional<uint32_t> find_entity(std::string_view name, bool with_semicolon) {
  for (const auto& entity : kLegacyEntities)
    if (name == entity.name) return entity.codepoint;
  if (with_semicolon)
    for (const auto& entity : kEntities)
      if (name == entity.name) return entity.codepoint;
  return std::nullopt;
}

// HTML5's replacements for references to C1 controls and NUL/CR.
std::optional<uint32_t> charref_replacement(uint64_t n) {
  static constexpr uint32_t kC1[32] = {
      0x20AC, 0x81,   0x201A, 0x192,  0x201E, 0x2026, 0x2020, 0x2021, 0x2C6,  0x2030, 0x160,
      0x2039, 0x152,  0x8D,   0x17D,  0x8F,   0x90,   0x2018, 0x2019, 0x201C, 0x201D, 0x2022,
      0x2013, 0x2014, 0x2DC,  0x2122, 0x161,  0x203A, 0x153,  0x9D,   0x17E,  0x178};
  if (n == 0) return 0xFFFD;
  if (n == 0x0D) return 0x0D;
  if (n >= 0x80 && n <= 0x9F) return kC1[n - 0x80];
  return std::nullopt;
}

// The text a numeric reference stands for ("" for code points HTML5 drops).
std::string numeric_reference(uint64_t n) {
  if (auto replacement = charref_replacement(n)) return utf8_encode(*replacement);
  if ((n >= 0xD800 && n <= 0xDFFF) || n > 0x10FFFF) return utf8_encode(0xFFFD);
  if ((n >= 0x1 && n <= 0x8) || n == 0xB || (n >= 0xE && n <= 0x1F) || (n >= 0x7F && n <= 0x9F) ||
      (n >= 0xFDD0 && n <= 0xFDEF) || (n & 0xFFFE) == 0xFFFE)
    return "";
  return utf8_encode(static_cast<uint32_t>(n));
}

bool is_name_char(char c) {
  return c != '\t' && c != '\n' && c != '\f' && c != ' ' && c != '<' && c != '&' && c != '#' &&
         c != ';';
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// One reference at text[at] == '&': appends its replacement and returns the
// bytes consumed, or 0 when nothing there is a reference.
size_t unescape_at(std::string_view text, size_t at, std::string& out) {
  size_t i = at + 1;
  if (i < text.size() && text[i] == '#') {
    ++i;
    const bool hex = i < text.size() && (text[i] == 'x' || text[i] == 'X');
    if (hex) ++i;
    const size_t digits_start = i;
    uint64_t value = 0;
    const int base = hex ? 16 : 10;
    while (i < text.size()) {
      const int digit =
          hex ? hex_value(text[i]) : (text[i] >= '0' && text[i] <= '9' ? text[i] - '0' : -1);
      if (digit < 0) break;
      value = std::min<uint64_t>(value * base + static_cast<uint64_t>(digit), 0x7FFFFFFF);
      ++i;
    }
    if (i == digits_start) return 0;
    if (i < text.size() && text[i] == ';') ++i;
    out += numeric_reference(value);
    return i - at;
  }
  // A name: up to 32 name characters, then an optional ';'.
  size_t end = i;
  while (end < text.size() && end - i < 32 && is_name_char(text[end])) ++end;
  if (end == i) return 0;
  const bool semicolon = end < text.size() && text[end] == ';';
  const std::string_view name = text.substr(i, end - i);
  if (semicolon) {
    if (auto cp = find_entity(name, true)) {
      out += utf8_encode(*cp);
      return end + 1 - at;
    }
  } else if (auto cp = find_entity(name, false)) {
    out += utf8_encode(*cp);
    return end - at;
  }
  // The longest legacy entity that is a proper prefix (of the name and ';').
  const size_t matched = name.size() + (semicolon ? 1 : 0);
  for (size_t length = matched - 1; length >= 2; --length) {
    if (length > name.size()) continue;
    if (auto cp = find_entity(name.substr(0, length), false)) {
      out += utf8_encode(*cp);
      return 1 + length;
    }
  }
  out += '&';
  out.append(text.substr(i, matched));
  return 1 + matched;
}

std::string strip_spaces(const std::vector<uint32_t>& cps, bool collapse) {
  std::vector<uint32_t> out;
  out.reserve(cps.size());
  bool pending_space = false;
  for (uint32_t cp : cps) {
    if (collapse && is_space(cp)) {
      pending_space = true;
      continue;
    }
    if (pending_space && !out.empty()) out.push_back(' ');
    pending_space = false;
    out.push_back(cp);
  }
  if (!collapse) {  // strip only
    size_t begin = 0, end = cps.size();
    while (begin < end && is_space(cps[begin])) ++begin;
    while (end > begin && is_space(cps[end - 1])) --end;
    return encode_utf8(std::vector<uint32_t>(cps.begin() + begin, cps.begin() + end));
  }
  return encode_utf8(out);
}

std::string read_merges_file(const std::filesystem::path& path) {
  gzFile file = gzopen(path.string().c_str(), "rb");
  MMGEN_CHECK(file != nullptr, path.string(), ": cannot be opened");
  std::string text;
  std::array<char, 1 << 16> buffer;
  for (;;) {
    const int n = gzread(file, buffer.data(), static_cast<unsigned>(buffer.size()));
    if (n < 0) {
      int code = 0;
      const std::string message = gzerror(file, &code);
      gzclose(file);
      fail(path.string(), ": cannot be decompressed (", message, ")");
    }
    if (n == 0) break;
    text.append(buffer.data(), static_cast<size_t>(n));
  }
  gzclose(file);
  return text;
}

std::vector<std::string> split_characters(std::string_view text) {
  std::vector<std::string> out;
  for (size_t i = 0; i < text.size();) {
    const size_t length =
        std::min(utf8_sequence_length(static_cast<uint8_t>(text[i])), text.size() - i);
    out.emplace_back(text.substr(i, length));
    i += length;
  }
  return out;
}

}  // namespace

// ---- text cleaning ------------------------------------------------------------------

std::string html_unescape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size();) {
    if (text[i] == '&') {
      const size_t consumed = unescape_at(text, i, out);
      if (consumed > 0) {
        i += consumed;
        continue;
      }
    }
    out += text[i++];
  }
  return out;
}

std::string unicode_lower(std::string_view text) {
  const auto cps = decode_utf8(sanitize_utf8(text));
  std::vector<uint32_t> out;
  out.reserve(cps.size());
  for (size_t i = 0; i < cps.size(); ++i) {
    const uint32_t cp = cps[i];
    if (cp == 0x130) {  // capital I with dot above: "i" + combining dot
      out.push_back('i');
      out.push_back(0x307);
      continue;
    }
    if (cp == 0x3A3) {  // final sigma: after a cased letter, not before one
      auto before = std::find_if_not(cps.rbegin() + static_cast<ptrdiff_t>(cps.size() - i),
                                     cps.rend(), is_case_ignorable);
      auto after = std::find_if_not(cps.begin() + static_cast<ptrdiff_t>(i + 1), cps.end(),
                                    is_case_ignorable);
      const bool final_sigma =
          before != cps.rend() && is_cased(*before) && (after == cps.end() || !is_cased(*after));
      out.push_back(final_sigma ? 0x3C2 : 0x3C3);
      continue;
    }
    const uint32_t lower = lower_of(cp);
    out.push_back(lower != 0 ? lower : cp);
  }
  return encode_utf8(out);
}

std::string clip_clean_text(std::string_view text) {
  std::string s = sanitize_utf8(text);
  s = html_unescape(html_unescape(s));
  s = strip_spaces(decode_utf8(s), false);
  s = strip_spaces(decode_utf8(s), true);
  return unicode_lower(s);
}

// ---- the tokenizer -------------------------------------------------------------------

ClipTokenizer::ClipTokenizer(std::string_view merges_text, std::string source)
    : source_(std::move(source)), splitter_({kClipPattern}) {
  // The byte characters in the reference's order: the printable bytes, then the rest.
  std::vector<int> bytes;
  for (int b = 0; b < 256; ++b)
    if ((b >= 33 && b <= 126) || (b >= 161 && b <= 172) || b >= 174) bytes.push_back(b);
  for (int b = 0; b < 256; ++b)
    if (!((b >= 33 && b <= 126) || (b >= 161 && b <= 172) || b >= 174)) bytes.push_back(b);
  for (int b : bytes) tokens_.push_back(byte_to_unicode(static_cast<uint8_t>(b)));
  for (int b : bytes) tokens_.push_back(byte_to_unicode(static_cast<uint8_t>(b)) + kEndOfWord);

  // Line 0 is a header; the next kMergeCount lines are merges.
  size_t line_start = 0;
  int line_index = 0;
  int32_t rank = 0;
  while (rank < kMergeCount && line_start < merges_text.size()) {
    size_t line_end = merges_text.find('\n', line_start);
    if (line_end == std::string_view::npos) line_end = merges_text.size();
    const std::string_view line = merges_text.substr(line_start, line_end - line_start);
    if (line_index > 0) {
      const size_t space = line.find(' ');
      MMGEN_CHECK(space != std::string_view::npos && space > 0 && space + 1 < line.size() &&
                      line.find(' ', space + 1) == std::string_view::npos,
                  source_, ": line ", line_index + 1, " is not a merge 'left right': '", line, "'");
      const std::string left(line.substr(0, space));
      const std::string right(line.substr(space + 1));
      ranks_[left + ' ' + right] = rank++;
      tokens_.push_back(left + right);
    }
    ++line_index;
    line_start = line_end + 1;
  }
  MMGEN_CHECK(rank == kMergeCount, source_, ": has ", rank, " merges; the CLIP vocabulary needs ",
              kMergeCount);
  start_id_ = static_cast<int32_t>(tokens_.size());
  tokens_.emplace_back(kStartText);
  end_id_ = static_cast<int32_t>(tokens_.size());
  tokens_.emplace_back(kEndText);
  for (size_t id = 0; id < tokens_.size(); ++id)
    ids_.insert_or_assign(tokens_[id], static_cast<int32_t>(id));
}

std::unique_ptr<ClipTokenizer> ClipTokenizer::load(const std::filesystem::path& path) {
  return std::make_unique<ClipTokenizer>(read_merges_file(path), path.string());
}

const std::string& ClipTokenizer::token_text(int32_t id) const {
  MMGEN_CHECK(id >= 0 && id < vocab_size(), source_, ": token id ", id, " is outside [0, ",
              vocab_size(), ")");
  return tokens_[static_cast<size_t>(id)];
}

int32_t ClipTokenizer::token_id(std::string_view text) const {
  const auto it = ids_.find(std::string(text));
  return it == ids_.end() ? -1 : it->second;
}

std::vector<int32_t> ClipTokenizer::bpe(const std::string& word) const {
  if (word == kStartText) return {start_id_};
  if (word == kEndText) return {end_id_};
  {
    std::lock_guard lock(cache_mutex_);
    if (auto it = cache_.find(word); it != cache_.end()) return it->second;
  }
  std::vector<std::string> parts = split_characters(word);
  parts.back() += kEndOfWord;
  // Merge the lowest-ranked pair everywhere it occurs (left to right) until none is left.
  while (parts.size() > 1) {
    int32_t best = std::numeric_limits<int32_t>::max();
    std::string best_left, best_right;
    for (size_t i = 0; i + 1 < parts.size(); ++i) {
      const auto it = ranks_.find(parts[i] + ' ' + parts[i + 1]);
      if (it != ranks_.end() && it->second < best) {
        best = it->second;
        best_left = parts[i];
        best_right = parts[i + 1];
      }
    }
    if (best == std::numeric_limits<int32_t>::max()) break;
    std::vector<std::string> merged;
    merged.reserve(parts.size());
    for (size_t i = 0; i < parts.size();) {
      if (i + 1 < parts.size() && parts[i] == best_left && parts[i + 1] == best_right) {
        merged.push_back(best_left + best_right);
        i += 2;
      } else {
        merged.push_back(parts[i++]);
      }
    }
    parts = std::move(merged);
  }
  std::vector<int32_t> ids;
  ids.reserve(parts.size());
  for (const auto& part : parts) {
    const auto it = ids_.find(part);
    MMGEN_CHECK(it != ids_.end(), source_, ": BPE produced '", part, "', which is no token");
    ids.push_back(it->second);
  }
  std::lock_guard lock(cache_mutex_);
  if (cache_.size() >= kCacheLimit) cache_.clear();
  cache_.emplace(word, ids);
  return ids;
}

std::vector<int32_t> ClipTokenizer::encode(std::string_view text) const {
  const std::string cleaned = clip_clean_text(text);
  std::vector<int32_t> ids;
  for (const auto& piece : splitter_.split(cleaned)) {
    // The splitter also returns the text between matches, which is only spaces here.
    const auto cps = decode_utf8(piece);
    if (std::all_of(cps.begin(), cps.end(), is_space)) continue;
    const auto piece_ids = bpe(byte_level_encode(piece));
    ids.insert(ids.end(), piece_ids.begin(), piece_ids.end());
  }
  return ids;
}

std::vector<int32_t> ClipTokenizer::encode_framed(std::string_view text,
                                                  const ClipFraming& framing) const {
  return encode_chunked(text, framing).front();
}

std::vector<std::vector<int32_t>> ClipTokenizer::encode_chunked(std::string_view text,
                                                                const ClipFraming& framing) const {
  MMGEN_CHECK(framing.context_length >= 3, "CLIP framing: context_length ", framing.context_length,
              " leaves no room for tokens (needs >= 3)");
  const auto ids = encode(text);
  const size_t per_chunk = static_cast<size_t>(framing.context_length) - 2;
  const int32_t pad = framing.pad_id < 0 ? end_id_ : framing.pad_id;
  std::vector<std::vector<int32_t>> rows;
  size_t at = 0;
  do {
    const size_t n = std::min(per_chunk, ids.size() - at);
    std::vector<int32_t> row;
    row.reserve(static_cast<size_t>(framing.context_length));
    row.push_back(start_id_);
    row.insert(row.end(), ids.begin() + static_cast<ptrdiff_t>(at),
               ids.begin() + static_cast<ptrdiff_t>(at + n));
    row.push_back(end_id_);
    row.resize(static_cast<size_t>(framing.context_length), pad);
    rows.push_back(std::move(row));
    at += n;
  } while (at < ids.size());
  return rows;
}

std::string ClipTokenizer::decode(const std::vector<int32_t>& ids) const {
  std::string joined;
  for (int32_t id : ids) joined += token_text(id);
  std::string text = sanitize_utf8(byte_level_decode(joined));
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size();) {
    if (text.compare(i, 4, kEndOfWord) == 0) {
      out += ' ';
      i += 4;
    } else {
      out += text[i++];
    }
  }
  return out;
}

}  // namespace mmgen::text
