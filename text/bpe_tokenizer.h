// BPE tokenizer by merge rank. Two flavours share the merge loop:
//  - byte-level (GPT-2, LLaMA 3, Qwen2; GGUF tokenizer.ggml.model "gpt2"): the text
//    is cut into words by the pre-tokenizer's patterns, each byte of a word is
//    mapped to GPT-2's printable alphabet, and the characters are merged;
//  - SentencePiece-style (Hugging Face tokenizer.json of LLaMA 2): spaces become
//    U+2581, the characters are merged, and characters without a token fall
//    back to <0xXX> byte tokens.
// Merging repeatedly joins the adjacent pair with the lowest merge rank (the
// leftmost pair on ties) until no listed pair is left.
#pragma once

#include <memory>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "text/pre_tokenizer.h"
#include "text/tokenizer.h"

namespace mmgen::text {

struct BpeOptions {
  // Merges in rank order (rank = index); a repeated pair keeps its first rank.
  std::vector<std::pair<std::string, std::string>> merges;
  std::string pre_name;                     // the pre-tokenizer's name, for messages
  std::vector<std::string> split_patterns;  // the pre-tokenizer chain (may be empty)
  bool byte_level = true;                   // GPT-2 byte alphabet
  bool metaspace = false;                   // spaces -> U+2581 before merging
  // Where a space prefix goes: U+2581 with metaspace, ' ' with byte_level.
  SpacePrefix space_prefix = SpacePrefix::kNever;
  bool byte_fallback = false;  // characters without a token -> <0xXX> tokens
  bool ignore_merges = false;  // a word that is a token is taken whole
  bool fuse_unk = false;       // consecutive unknown characters give one unknown token
};

class BpeTokenizer : public Tokenizer {
 public:
  // Throws Error naming `source` when a merge names a text that is no token
  // (either side, or the two joined).
  BpeTokenizer(Vocabulary vocab, std::string source, BpeOptions options);

  std::string_view kind() const override { return "bpe"; }
  const BpeOptions& options() const { return options_; }
  size_t merge_count() const { return ranks_.size(); }

 protected:
  void encode_text(std::string_view text, bool prefix, std::vector<int32_t>& out) const override;
  std::string normal_piece(int32_t id) const override;

 private:
  struct Merge {
    int32_t rank;
    int32_t result;  // the id of the joined token
  };
  void encode_word(const std::string& word, std::vector<int32_t>& out) const;
  void emit_unknown(std::string_view text, std::vector<int32_t>& out) const;

  BpeOptions options_;
  std::unique_ptr<RegexSplitter> splitter_;    // null without patterns
  std::unordered_map<uint64_t, Merge> ranks_;  // (left id << 32 | right id) -> merge
};

}  // namespace mmgen::text
