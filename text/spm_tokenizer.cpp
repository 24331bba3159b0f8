#include "text/spm_tokenizer.h"

#include <algorithm>
#include <queue>
#include <unordered_map>
#include <utility>

#include "core/error.h"
#include "text/unicode.h"

namespace mmgen::text {

namespace {

// A run of the text; merged symbols grow to the right, emptied ones have n == 0.
struct Symbol {
  int prev = -1;
  int next = -1;
  size_t offset = 0;
  size_t n = 0;
};

struct Bigram {
  int left = 0;
  int right = 0;
  float score = 0;
  size_t size = 0;
};

// Highest score first; on equal scores the leftmost pair.
struct BigramOrder {
  bool operator()(const Bigram& a, const Bigram& b) const {
    return a.score < b.score || (a.score == b.score && a.left > b.left);
  }
};

}  // namespace

SpmTokenizer::SpmTokenizer(Vocabulary vocab, std::string source, bool add_space_prefix)
    : Tokenizer(std::move(vocab), std::move(source),
                add_space_prefix ? SpacePrefix::kAlways : SpacePrefix::kNever) {
  MMGEN_CHECK(vocab_.scores.size() == vocab_.tokens.size(), source_,
              ": a SentencePiece vocabulary needs one score per token (", vocab_.scores.size(),
              " scores for ", vocab_.tokens.size(), " tokens)");
}

void SpmTokenizer::encode_text(std::string_view raw, bool prefix, std::vector<int32_t>& out) const {
  std::string spaced;
  spaced.reserve(raw.size() + 1);
  if (prefix) spaced += ' ';
  spaced.append(raw);
  const std::string text = metaspace_encode(spaced);

  std::vector<Symbol> symbols;
  for (size_t offset = 0; offset < text.size();) {
    Symbol symbol;
    symbol.offset = offset;
    symbol.n =
        std::min(utf8_sequence_length(static_cast<uint8_t>(text[offset])), text.size() - offset);
    offset += symbol.n;
    symbol.prev = static_cast<int>(symbols.size()) - 1;
    symbol.next = offset == text.size() ? -1 : static_cast<int>(symbols.size()) + 1;
    symbols.push_back(symbol);
  }

  std::priority_queue<Bigram, std::vector<Bigram>, BigramOrder> queue;
  // Which two symbols last formed a given text, to re-split pieces that are no token.
  std::unordered_map<std::string, std::pair<int, int>> formed_from;
  const auto try_add = [&](int left, int right) {
    if (left < 0 || right < 0) return;
    const std::string_view joined =
        std::string_view(text).substr(symbols[left].offset, symbols[left].n + symbols[right].n);
    const auto id = token_id(joined);
    if (!id) return;
    queue.push({left, right, vocab_.scores[*id], joined.size()});
    formed_from[std::string(joined)] = {left, right};
  };
  for (int i = 1; i < static_cast<int>(symbols.size()); ++i) try_add(i - 1, i);

  while (!queue.empty()) {
    const Bigram bigram = queue.top();
    queue.pop();
    Symbol& left = symbols[bigram.left];
    Symbol& right = symbols[bigram.right];
    // Stale: one side was merged away or has grown since the pair was queued.
    if (left.n == 0 || right.n == 0 || left.n + right.n != bigram.size) continue;
    left.n += right.n;
    right.n = 0;
    left.next = right.next;
    if (right.next >= 0) symbols[right.next].prev = bigram.left;
    try_add(left.prev, bigram.left);
    try_add(bigram.left, left.next);
  }

  // Emits a symbol's token, or re-splits it along the merge that formed it, or
  // falls back to byte tokens.
  const auto emit = [&](auto&& self, size_t offset, size_t n) -> void {
    const std::string_view piece = std::string_view(text).substr(offset, n);
    if (const auto id = token_id(piece)) {
      out.push_back(*id);
      return;
    }
    // A piece that is no token is cut where the pair that formed its text was
    // cut (the right symbol's start never moves: merging grows the left one).
    const auto formed = formed_from.find(std::string(piece));
    if (formed != formed_from.end()) {
      const size_t split =
          symbols[formed->second.second].offset - symbols[formed->second.first].offset;
      if (split > 0 && split < n) {
        self(self, offset, split);
        self(self, offset + split, n - split);
        return;
      }
    }
    for (char c : piece) {
      const auto byte = static_cast<uint8_t>(c);
      auto id = byte_token(byte);
      if (!id) id = token_id(std::string_view(&c, 1));
      if (!id) id = vocab_.unk_id;
      MMGEN_CHECK(id.has_value(), source_, ": no token for byte ", static_cast<unsigned>(byte),
                  " (no <0xXX> byte token and no unknown token)");
      out.push_back(*id);
    }
  };
  if (symbols.empty()) return;
  for (int i = 0; i != -1; i = symbols[i].next) emit(emit, symbols[i].offset, symbols[i].n);
}

std::string SpmTokenizer::normal_piece(int32_t id) const {
  return metaspace_decode(vocab_.tokens[id]);
}

}  // namespace mmgen::text
