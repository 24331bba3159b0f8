// The tokenizer interface of the text models: text -> token ids -> text.
// Implementations: SentencePiece-style (spm_tokenizer.h) and BPE, byte-level or
// SentencePiece-style with byte fallback (bpe_tokenizer.h). Loaders from GGUF
// metadata and Hugging Face tokenizer.json live in tokenizer_loader.h.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace mmgen::text {

// Token types, numbered as GGUF's tokenizer.ggml.token_type stores them.
enum class TokenType : int32_t {
  kUndefined = 0,
  kNormal = 1,
  kUnknown = 2,
  kControl = 3,      // special tokens such as <s>, <|endoftext|>
  kUserDefined = 4,  // added tokens that are not special
  kUnused = 5,
  kByte = 6,  // <0xXX> byte-fallback tokens
};

// A vocabulary as the loaders read it.
struct Vocabulary {
  std::vector<std::string> tokens;  // id -> text (the exact bytes)
  std::vector<TokenType> types;     // one per token
  std::vector<float> scores;        // one per token (SentencePiece), or empty
  std::optional<int32_t> bos_id, eos_id, unk_id, pad_id;
  bool add_bos = false;  // encode(add_special = true) prepends BOS
  bool add_eos = false;  // ... and appends EOS
};

// Where the space prefix (U+2581 / ' ') is added to a piece of plain text.
enum class SpacePrefix {
  kNever,
  kFirst,  // only before the text at the very start of the input
  kAlways  // at the start of the input and after every special token
};

class Tokenizer {
 public:
  virtual ~Tokenizer() = default;
  Tokenizer(const Tokenizer&) = delete;
  Tokenizer& operator=(const Tokenizer&) = delete;

  // Text (any bytes; malformed UTF-8 is read as U+FFFD where the algorithm needs
  // characters) to ids. add_special adds BOS/EOS as the vocabulary asks.
  // Special-token text (control and unknown tokens, e.g. "<s>") becomes its id
  // only when parse_special; user-defined tokens are always split out first.
  std::vector<int32_t> encode(std::string_view text, bool add_special = true,
                              bool parse_special = false) const;

  // Ids to text: the concatenation of the pieces, without the space prefix that
  // encode adds. Special tokens appear as their text unless skip_special.
  // Throws Error for an id outside the vocabulary.
  std::string decode(std::span<const int32_t> ids, bool skip_special = false) const;

  // The bytes one token stands for (special tokens as their text). A byte token
  // gives one byte, which may be part of a multi-byte character.
  std::string token_to_piece(int32_t id) const;

  int32_t vocab_size() const { return static_cast<int32_t>(vocab_.tokens.size()); }
  const std::string& token_text(int32_t id) const;  // as stored in the vocabulary
  TokenType token_type(int32_t id) const;
  std::optional<int32_t> token_id(std::string_view text) const;  // exact text lookup
  std::optional<int32_t> bos_id() const { return vocab_.bos_id; }
  std::optional<int32_t> eos_id() const { return vocab_.eos_id; }
  std::optional<int32_t> pad_id() const { return vocab_.pad_id; }
  std::optional<int32_t> unk_id() const { return vocab_.unk_id; }
  bool add_bos() const { return vocab_.add_bos; }
  bool add_eos() const { return vocab_.add_eos; }
  // Control or unknown tokens (what decode skips with skip_special).
  bool is_special(int32_t id) const;
  // "spm" or "bpe".
  virtual std::string_view kind() const = 0;
  // The file the tokenizer came from (for messages).
  const std::string& source() const { return source_; }

 protected:
  Tokenizer(Vocabulary vocab, std::string source, SpacePrefix space_prefix);

  // Encodes one run of plain text (never empty, no special tokens inside).
  // `prefix` says whether the space prefix goes in front of it.
  virtual void encode_text(std::string_view text, bool prefix, std::vector<int32_t>& out) const = 0;
  // The bytes of a token that is not control/unknown/user-defined.
  virtual std::string normal_piece(int32_t id) const = 0;

  void check_id(int32_t id) const;  // throws for ids outside the vocabulary
  // The <0xXX> token of a byte, if the vocabulary has one.
  std::optional<int32_t> byte_token(uint8_t byte) const;

  Vocabulary vocab_;
  std::string source_;
  SpacePrefix space_prefix_;

 private:
  friend class StreamingDecoder;
  struct TextHash {
    using is_transparent = void;
    size_t operator()(std::string_view text) const { return std::hash<std::string_view>{}(text); }
  };
  // text -> id (a later duplicate wins)
  std::unordered_map<std::string, int32_t, TextHash, std::equal_to<>> ids_;
  std::vector<int32_t> split_tokens_;  // tokens split out before encoding, longest first
};

// Decodes ids one at a time for streaming output: push() returns only complete
// UTF-8 characters and holds back the bytes of a character split across tokens
// (Chinese characters and emoji often are) until the rest arrives. The
// concatenation of every push() and finish() equals Tokenizer::decode on the
// same ids when `at_text_start` (the default strips the encoder's space prefix
// from the first piece; pass false when the ids continue an earlier text).
class StreamingDecoder {
 public:
  explicit StreamingDecoder(const Tokenizer& tokenizer, bool skip_special = false,
                            bool at_text_start = true);
  std::string push(int32_t id);
  // The bytes still held back (an incomplete character at the end); resets the hold.
  std::string finish();

 private:
  const Tokenizer& tokenizer_;
  bool skip_special_;
  bool strip_space_;  // the next piece follows the start or a special token
  std::string held_;
};

}  // namespace mmgen::text
