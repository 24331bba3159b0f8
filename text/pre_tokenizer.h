// Pre-tokenization for byte-level BPE: text is cut into words by a chain of
// regular expressions before merging, and the GGUF `tokenizer.ggml.pre` names
// that select the chain (docs/tokenizers.md lists them).
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace mmgen::text {

// The GPT-2 word pattern (also Hugging Face's ByteLevel pre-tokenizer with use_regex).
inline constexpr std::string_view kGpt2Pattern =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

// Splits text with a chain of patterns (PCRE2, UTF and Unicode properties). Each
// pattern cuts every piece left by the previous one: its matches and the text
// between them both become pieces, and a pattern only sees the piece it cuts
// (so a lookahead stops at the piece's end). `\s` and `\S` follow Unicode's
// White_Space property. The text must be valid UTF-8 (see sanitize_utf8).
class RegexSplitter {
 public:
  // Throws Error naming the pattern and the position when one does not compile.
  explicit RegexSplitter(std::vector<std::string> patterns);
  ~RegexSplitter();
  RegexSplitter(RegexSplitter&&) noexcept;
  RegexSplitter& operator=(RegexSplitter&&) noexcept;

  std::vector<std::string> split(std::string_view text) const;
  const std::vector<std::string>& patterns() const { return patterns_; }

 private:
  struct Compiled;
  std::vector<std::string> patterns_;
  std::vector<std::unique_ptr<Compiled>> compiled_;
};

// What a GGUF `tokenizer.ggml.pre` value selects.
struct PreTokenizerSpec {
  std::string name;                   // the canonical name, e.g. "gpt-2"
  std::vector<std::string> patterns;  // the split chain
  bool ignore_merges = false;         // a word that is itself a token is not merged
  bool add_bos_default = false;       // add_bos when the file has no add_bos_token
};

// The spec of a pre-tokenizer name (aliases included), or nullopt when unknown.
std::optional<PreTokenizerSpec> find_pre_tokenizer(std::string_view name);
// Every accepted name, for error messages and the docs.
std::vector<std::string> pre_tokenizer_names();

}  // namespace mmgen::text
