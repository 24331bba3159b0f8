// SentencePiece-style tokenizer (LLaMA 1/2, GGUF tokenizer.ggml.model "llama"):
// spaces become U+2581, an optional space prefix goes in front, and adjacent
// pieces are merged greedily by the score of the token they form (highest
// first, leftmost on ties). A piece that is no token is re-split along the
// merges that built it, and what is left falls back to <0xXX> byte tokens.
#pragma once

#include "text/tokenizer.h"

namespace mmgen::text {

class SpmTokenizer : public Tokenizer {
 public:
  // `vocab.scores` must hold one score per token. add_space_prefix: put U+2581
  // in front of the input and of the text after every special token.
  SpmTokenizer(Vocabulary vocab, std::string source, bool add_space_prefix);

  std::string_view kind() const override { return "spm"; }
  bool add_space_prefix() const { return space_prefix_ != SpacePrefix::kNever; }

 protected:
  void encode_text(std::string_view text, bool prefix, std::vector<int32_t>& out) const override;
  std::string normal_piece(int32_t id) const override;
};

}  // namespace mmgen::text
