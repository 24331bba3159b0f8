#include "text/bpe_tokenizer.h"

#include <algorithm>
#include <queue>

#include "core/error.h"
#include "text/unicode.h"

namespace mmgen::text {

namespace {

uint64_t pair_key(int32_t left, int32_t right) {
  return (static_cast<uint64_t>(static_cast<uint32_t>(left)) << 32) | static_cast<uint32_t>(right);
}

struct Symbol {
  int prev = -1;
  int next = -1;
  size_t offset = 0;
  size_t n = 0;
  int32_t id = -1;  // the token of the symbol's text, -1 when it is none
};

struct Bigram {
  int left = 0;
  int right = 0;
  int32_t left_id = 0;
  int32_t right_id = 0;
  int32_t rank = 0;
};

// Lowest rank first; on equal ranks the leftmost pair.
struct BigramOrder {
  bool operator()(const Bigram& a, const Bigram& b) const {
    return a.rank > b.rank || (a.rank == b.rank && a.left > b.left);
  }
};

}  // namespace

BpeTokenizer::BpeTokenizer(Vocabulary vocab, std::string source, BpeOptions options)
    : Tokenizer(std::move(vocab), std::move(source), options.space_prefix),
      options_(std::move(options)) {
  MMGEN_CHECK(!(options_.byte_level && options_.metaspace), source_,
              ": a BPE tokenizer is either byte-level or SentencePiece-style, not both");
  if (!options_.split_patterns.empty()) {
    splitter_ = std::make_unique<RegexSplitter>(options_.split_patterns);
  }
  ranks_.reserve(options_.merges.size());
  for (size_t rank = 0; rank < options_.merges.size(); ++rank) {
    const auto& [left, right] = options_.merges[rank];
    const auto describe = [&] {
      return detail::concat("merge ", rank, " ('", left, " ", right, "')");
    };
    const auto left_id = token_id(left);
    MMGEN_CHECK(left_id.has_value(), source_, ": ", describe(), " refers to '", left,
                "', which is not a token of the vocabulary");
    const auto right_id = token_id(right);
    MMGEN_CHECK(right_id.has_value(), source_, ": ", describe(), " refers to '", right,
                "', which is not a token of the vocabulary");
    const auto joined = token_id(left + right);
    MMGEN_CHECK(joined.has_value(), source_, ": ", describe(), " makes '", left + right,
                "', which is not a token of the vocabulary");
    ranks_.emplace(pair_key(*left_id, *right_id), Merge{static_cast<int32_t>(rank), *joined});
  }
}

void BpeTokenizer::encode_text(std::string_view raw, bool prefix, std::vector<int32_t>& out) const {
  std::string text;
  // The space prefix: U+2581 after the replacement below, or ' ' for byte-level
  // text that does not already start with one.
  if (prefix && (options_.metaspace || raw.front() != ' ')) text += ' ';
  text += sanitize_utf8(raw);
  if (options_.metaspace) text = metaspace_encode(text);
  if (!splitter_) {
    encode_word(options_.byte_level ? byte_level_encode(text) : text, out);
    return;
  }
  for (const auto& word : splitter_->split(text)) {
    encode_word(options_.byte_level ? byte_level_encode(word) : word, out);
  }
}

void BpeTokenizer::encode_word(const std::string& word, std::vector<int32_t>& out) const {
  if (word.empty()) return;
  if (options_.ignore_merges) {
    if (const auto id = token_id(word)) {
      out.push_back(*id);
      return;
    }
  }
  std::vector<Symbol> symbols;
  for (size_t offset = 0; offset < word.size();) {
    Symbol symbol;
    symbol.offset = offset;
    symbol.n =
        std::min(utf8_sequence_length(static_cast<uint8_t>(word[offset])), word.size() - offset);
    symbol.id = token_id(std::string_view(word).substr(offset, symbol.n)).value_or(-1);
    offset += symbol.n;
    symbol.prev = static_cast<int>(symbols.size()) - 1;
    symbol.next = offset == word.size() ? -1 : static_cast<int>(symbols.size()) + 1;
    symbols.push_back(symbol);
  }

  std::priority_queue<Bigram, std::vector<Bigram>, BigramOrder> queue;
  const auto try_add = [&](int left, int right) {
    if (left < 0 || right < 0) return;
    const int32_t left_id = symbols[left].id, right_id = symbols[right].id;
    if (left_id < 0 || right_id < 0) return;
    const auto merge = ranks_.find(pair_key(left_id, right_id));
    if (merge == ranks_.end()) return;
    queue.push({left, right, left_id, right_id, merge->second.rank});
  };
  for (int i = 1; i < static_cast<int>(symbols.size()); ++i) try_add(i - 1, i);

  while (!queue.empty()) {
    const Bigram bigram = queue.top();
    queue.pop();
    Symbol& left = symbols[bigram.left];
    Symbol& right = symbols[bigram.right];
    // Stale: a side was merged away, or has changed since the pair was queued.
    if (left.n == 0 || right.n == 0 || left.id != bigram.left_id || right.id != bigram.right_id ||
        left.next != bigram.right) {
      continue;
    }
    left.n += right.n;
    left.id = ranks_.at(pair_key(bigram.left_id, bigram.right_id)).result;
    right.n = 0;
    left.next = right.next;
    if (right.next >= 0) symbols[right.next].prev = bigram.left;
    try_add(left.prev, bigram.left);
    try_add(bigram.left, left.next);
  }

  // Runs of symbols without a token are handed to emit_unknown together, so
  // that fuse_unk can join them.
  std::string unknown;
  for (int i = 0; i != -1; i = symbols[i].next) {
    const Symbol& symbol = symbols[i];
    if (symbol.id >= 0) {
      if (!unknown.empty()) emit_unknown(unknown, out);
      unknown.clear();
      out.push_back(symbol.id);
    } else {
      unknown += word.substr(symbol.offset, symbol.n);
    }
  }
  if (!unknown.empty()) emit_unknown(unknown, out);
}

void BpeTokenizer::emit_unknown(std::string_view text, std::vector<int32_t>& out) const {
  if (options_.byte_fallback) {
    // The bytes themselves (byte-level words were mapped to the alphabet first).
    const std::string bytes = options_.byte_level ? byte_level_decode(text) : std::string(text);
    bool all_bytes = true;
    for (char c : bytes) all_bytes = all_bytes && byte_token(static_cast<uint8_t>(c)).has_value();
    if (all_bytes) {
      for (char c : bytes) out.push_back(*byte_token(static_cast<uint8_t>(c)));
      return;
    }
  }
  MMGEN_CHECK(vocab_.unk_id.has_value(), source_, ": no token for '", text,
              "' and the vocabulary has no unknown token");
  if (options_.fuse_unk) {
    out.push_back(*vocab_.unk_id);
    return;
  }
  for (size_t offset = 0; offset < text.size();) {
    offset +=
        std::min(utf8_sequence_length(static_cast<uint8_t>(text[offset])), text.size() - offset);
    out.push_back(*vocab_.unk_id);
  }
}

std::string BpeTokenizer::normal_piece(int32_t id) const {
  const std::string& text = vocab_.tokens[id];
  if (options_.byte_level) return byte_level_decode(text);
  if (options_.metaspace) return metaspace_decode(text);
  return text;
}

}  // namespace mmgen::text
