#define PCRE2_CODE_UNIT_WIDTH 8
#include "text/pre_tokenizer.h"

#include <pcre2.h>

#include <utility>

#include "core/error.h"
#include "text/unicode.h"

namespace mmgen::text {

namespace {

// PCRE2's \s (with UCP) is Unicode's Z categories plus the ASCII controls; the
// White_Space property (and so Hugging Face's and the reference's \s) also holds
// U+0085. Rewrites \s and \S so that both agree.
std::string white_space_pattern(std::string_view pattern) {
  std::string out;
  bool in_class = false;
  for (size_t i = 0; i < pattern.size(); ++i) {
    const char c = pattern[i];
    if (c == '\\' && i + 1 < pattern.size()) {
      const char next = pattern[++i];
      if (next == 's') {
        out += in_class ? R"(\s\x{85})" : R"([\s\x{85}])";
      } else if (next == 'S' && !in_class) {
        out += R"([^\s\x{85}])";
      } else {
        out += c;
        out += next;
      }
      continue;
    }
    if (c == '[' && !in_class) {
      in_class = true;
      out += c;
      // A ']' right after '[' or '[^' is a literal member, not the end.
      if (i + 1 < pattern.size() && pattern[i + 1] == '^') out += pattern[++i];
      if (i + 1 < pattern.size() && pattern[i + 1] == ']') out += pattern[++i];
      continue;
    }
    if (c == ']' && in_class) in_class = false;
    out += c;
  }
  return out;
}

}  // namespace

struct RegexSplitter::Compiled {
  pcre2_code* code = nullptr;
  ~Compiled() { pcre2_code_free(code); }
};

RegexSplitter::RegexSplitter(std::vector<std::string> patterns) : patterns_(std::move(patterns)) {
  for (const auto& pattern : patterns_) {
    const std::string rewritten = white_space_pattern(pattern);
    int error_code = 0;
    PCRE2_SIZE error_offset = 0;
    auto compiled = std::make_unique<Compiled>();
    compiled->code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(rewritten.data()), rewritten.size(),
                                   PCRE2_UTF | PCRE2_UCP, &error_code, &error_offset, nullptr);
    if (compiled->code == nullptr) {
      PCRE2_UCHAR message[256];
      pcre2_get_error_message(error_code, message, sizeof(message));
      fail("pre-tokenizer pattern '", pattern, "' does not compile at offset ", error_offset, ": ",
           reinterpret_cast<const char*>(message));
    }
    pcre2_jit_compile(compiled->code, PCRE2_JIT_COMPLETE);  // a speed-up only; may be absent
    compiled_.push_back(std::move(compiled));
  }
}

RegexSplitter::~RegexSplitter() = default;
RegexSplitter::RegexSplitter(RegexSplitter&&) noexcept = default;
RegexSplitter& RegexSplitter::operator=(RegexSplitter&&) noexcept = default;

std::vector<std::string> RegexSplitter::split(std::string_view text) const {
  std::vector<std::string> pieces;
  if (text.empty()) return pieces;
  MMGEN_CHECK(sanitize_utf8(text) == text, "pre-tokenizer: the text is not valid UTF-8");
  pieces.emplace_back(text);
  for (size_t p = 0; p < compiled_.size(); ++p) {
    pcre2_code* code = compiled_[p]->code;
    std::unique_ptr<pcre2_match_data, decltype(&pcre2_match_data_free)> match(
        pcre2_match_data_create_from_pattern(code, nullptr), &pcre2_match_data_free);
    std::vector<std::string> next;
    for (const auto& piece : pieces) {
      const auto* subject = reinterpret_cast<PCRE2_SPTR>(piece.data());
      size_t start = 0;  // where the next search begins
      size_t kept = 0;   // end of the last piece emitted
      while (start < piece.size()) {
        // The text is valid UTF-8 (the caller's contract), and checking it on
        // every call would make splitting quadratic.
        const int rc = pcre2_match(code, subject, piece.size(), start, PCRE2_NO_UTF_CHECK,
                                   match.get(), nullptr);
        if (rc == PCRE2_ERROR_NOMATCH) break;
        if (rc < 0) {
          PCRE2_UCHAR message[256];
          pcre2_get_error_message(rc, message, sizeof(message));
          fail("pre-tokenizer pattern '", patterns_[p],
               "' failed to match: ", reinterpret_cast<const char*>(message));
        }
        const PCRE2_SIZE* ovector = pcre2_get_ovector_pointer(match.get());
        const size_t begin = ovector[0], end = ovector[1];
        if (end == begin) {  // an empty match cuts nothing; step over one character
          start = begin + utf8_sequence_length(static_cast<uint8_t>(piece[begin]));
          continue;
        }
        if (begin > kept) next.push_back(piece.substr(kept, begin - kept));
        next.push_back(piece.substr(begin, end - begin));
        kept = start = end;
      }
      if (kept < piece.size()) next.push_back(piece.substr(kept));
    }
    pieces = std::move(next);
  }
  return pieces;
}

namespace {

// The patterns, as the reference tokenizer defines them per pre-tokenizer type.
constexpr const char* kLlama3Pattern =
    R"((?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
constexpr const char* kQwen2Pattern =
    R"((?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
constexpr const char* kGpt2NoTrailing =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S))";

struct Entry {
  std::vector<std::string> names;  // the canonical name first
  std::vector<std::string> patterns;
  bool ignore_merges = false;
  bool add_bos_default = false;
};

const std::vector<Entry>& entries() {
  static const std::vector<Entry> table = {
      {{"default"}, {R"([\p{P}\$\+<=>\^~\|]+)", kGpt2NoTrailing, R"(\p{N}+)", "[0-9][0-9][0-9]"}},
      {{"gpt-2", "phi-2", "mpt", "olmo", "jina-es", "jina-de", "jina-v2-es", "jina-v2-de"},
       {kGpt2NoTrailing}},
      {{"llama-bpe", "llama3", "llama-v3", "falcon3", "dbrx", "smaug-bpe"},
       {kLlama3Pattern},
       true,
       true},
      {{"qwen2", "deepseek-r1-qwen", "stablelm2"}, {kQwen2Pattern}},
      {{"starcoder", "refact", "command-r", "smollm", "codeshell"}, {R"(\p{N})", kGpt2NoTrailing}},
      {{"falcon"}, {R"([\p{P}\$\+<=>\^~\|`]+)", kGpt2NoTrailing, "[0-9][0-9][0-9]"}},
  };
  return table;
}

}  // namespace

std::optional<PreTokenizerSpec> find_pre_tokenizer(std::string_view name) {
  for (const auto& entry : entries()) {
    for (const auto& alias : entry.names) {
      if (alias == name) {
        return PreTokenizerSpec{entry.names.front(), entry.patterns, entry.ignore_merges,
                                entry.add_bos_default};
      }
    }
  }
  return std::nullopt;
}

std::vector<std::string> pre_tokenizer_names() {
  std::vector<std::string> names;
  for (const auto& entry : entries())
    names.insert(names.end(), entry.names.begin(), entry.names.end());
  return names;
}

}  // namespace mmgen::text
