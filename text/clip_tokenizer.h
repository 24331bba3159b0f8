// The CLIP text tokenizer (byte-level BPE with end-of-word markers) and the
// prompt framing of Stable Diffusion 1.x: [start] + ids + [end], padded to 77.
// The vocabulary is the gzip'd merges file bpe_simple_vocab_16e6.txt.gz
// (data/clip/); docs/clip.md describes the rules this reproduces.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "text/pre_tokenizer.h"

namespace mmgen::text {

// How encoded prompts are framed into fixed-length rows.
struct ClipFraming {
  int context_length = 77;  // ids per row, start and end included
  // The id that fills a row after the end id: the end id itself for SD1.x (as
  // the Hugging Face tokenizer of clip-vit-large-patch14 pads); 0 for openai's
  // clip.tokenize. Negative means "the end id".
  int32_t pad_id = -1;
};

class ClipTokenizer {
 public:
  // The merges text as stored in the vocabulary file (a header line, then one
  // "left right" merge per line). `source` names it in errors. Throws Error
  // when there are fewer merges than the vocabulary needs.
  ClipTokenizer(std::string_view merges_text, std::string source);

  // Reads a gzip'd (or plain) merges file. Throws Error naming the file.
  static std::unique_ptr<ClipTokenizer> load(const std::filesystem::path& path);

  // Text to BPE ids, without start/end ids: cleaned (html unescape, whitespace
  // collapse, lower case), split into words, each word merged.
  std::vector<int32_t> encode(std::string_view text) const;

  // One row: [start] + encode(text)[:context_length - 2] + [end], padded.
  std::vector<int32_t> encode_framed(std::string_view text, const ClipFraming& framing = {}) const;

  // Rows for prompts of any length: the ids are cut into chunks of
  // context_length - 2 and each chunk is framed and padded like encode_framed.
  // An empty prompt gives one row.
  std::vector<std::vector<int32_t>> encode_chunked(std::string_view text,
                                                   const ClipFraming& framing = {}) const;

  // Ids to text: the tokens joined, end-of-word markers as spaces, bytes
  // restored. Throws Error for an id outside the vocabulary.
  std::string decode(const std::vector<int32_t>& ids) const;

  int32_t vocab_size() const { return static_cast<int32_t>(tokens_.size()); }
  int32_t start_id() const { return start_id_; }
  int32_t end_id() const { return end_id_; }
  const std::string& token_text(int32_t id) const;
  // The id of a token's exact text (e.g. "cat</w>"), or -1.
  int32_t token_id(std::string_view text) const;
  const std::string& source() const { return source_; }

 private:
  std::vector<int32_t> bpe(const std::string& word) const;  // word in the byte alphabet

  std::string source_;
  std::vector<std::string> tokens_;
  std::unordered_map<std::string, int32_t> ids_;
  std::unordered_map<std::string, int32_t> ranks_;  // "left right" -> merge rank
  int32_t start_id_ = 0;
  int32_t end_id_ = 0;
  RegexSplitter splitter_;
  mutable std::mutex cache_mutex_;
  mutable std::unordered_map<std::string, std::vector<int32_t>> cache_;
};

// The reference's text cleaning: html unescape twice, whitespace runs to one
// space, strip, lower case.
std::string clip_clean_text(std::string_view text);

// HTML character references: numeric (&#39; &#x27;, with the HTML5 rules for
// invalid code points) and the common named entities (docs/clip.md).
std::string html_unescape(std::string_view text);

// Unicode lower case for Latin (Basic, Latin-1, Extended-A/B, Additional),
// Greek and polytonic Greek (final sigma included), Cyrillic, Armenian, Roman
// numerals, circled and fullwidth Latin, as Python's str.lower().
std::string unicode_lower(std::string_view text);

}  // namespace mmgen::text
