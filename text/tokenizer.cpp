#include "text/tokenizer.h"

#include <algorithm>
#include <cstdio>

#include "core/error.h"
#include "text/unicode.h"

namespace mmgen::text {

namespace {

bool is_control_or_unknown(TokenType type) {
  return type == TokenType::kControl || type == TokenType::kUnknown;
}

// "<0xXX>" -> the byte, for byte-fallback tokens.
std::optional<uint8_t> parse_byte_token(const std::string& text) {
  if (text.size() != 6 || text.compare(0, 3, "<0x") != 0 || text[5] != '>') return std::nullopt;
  unsigned value = 0;
  for (size_t i = 3; i < 5; ++i) {
    const char c = text[i];
    unsigned digit;
    if (c >= '0' && c <= '9') {
      digit = static_cast<unsigned>(c - '0');
    } else if (c >= 'A' && c <= 'F') {
      digit = static_cast<unsigned>(c - 'A' + 10);
    } else if (c >= 'a' && c <= 'f') {
      digit = static_cast<unsigned>(c - 'a' + 10);
    } else {
      return std::nullopt;
    }
    value = value * 16 + digit;
  }
  return static_cast<uint8_t>(value);
}

// A piece of the input: plain text [begin, begin + length) or one token.
struct Fragment {
  bool is_token = false;
  int32_t id = -1;
  size_t begin = 0;
  size_t length = 0;
};

}  // namespace

Tokenizer::Tokenizer(Vocabulary vocab, std::string source, SpacePrefix space_prefix)
    : vocab_(std::move(vocab)), source_(std::move(source)), space_prefix_(space_prefix) {
  const size_t n = vocab_.tokens.size();
  MMGEN_CHECK(n > 0, source_, ": the vocabulary is empty");
  MMGEN_CHECK(n <= static_cast<size_t>(INT32_MAX), source_, ": the vocabulary has ", n,
              " tokens, more than token ids can address");
  MMGEN_CHECK(vocab_.types.size() == n, source_, ": ", vocab_.types.size(), " token types for ", n,
              " tokens");
  MMGEN_CHECK(vocab_.scores.empty() || vocab_.scores.size() == n, source_, ": ",
              vocab_.scores.size(), " token scores for ", n, " tokens");
  const auto check_special = [&](const std::optional<int32_t>& id, const char* what) {
    MMGEN_CHECK(!id || (*id >= 0 && static_cast<size_t>(*id) < n), source_, ": ", what, " id ",
                id.value_or(0), " is outside the vocabulary of ", n, " tokens");
  };
  check_special(vocab_.bos_id, "BOS");
  check_special(vocab_.eos_id, "EOS");
  check_special(vocab_.unk_id, "UNK");
  check_special(vocab_.pad_id, "PAD");
  MMGEN_CHECK(!vocab_.add_bos || vocab_.bos_id, source_, ": add_bos is set but there is no BOS id");
  MMGEN_CHECK(!vocab_.add_eos || vocab_.eos_id, source_, ": add_eos is set but there is no EOS id");

  ids_.reserve(n);
  for (size_t id = 0; id < n; ++id) {
    ids_[vocab_.tokens[id]] = static_cast<int32_t>(id);
    const TokenType type = vocab_.types[id];
    const bool split = type == TokenType::kControl || type == TokenType::kUserDefined ||
                       type == TokenType::kUnknown;
    if (split && !vocab_.tokens[id].empty()) split_tokens_.push_back(static_cast<int32_t>(id));
  }
  // Longest first, so that a token containing another one wins.
  std::stable_sort(split_tokens_.begin(), split_tokens_.end(), [&](int32_t a, int32_t b) {
    return vocab_.tokens[a].size() > vocab_.tokens[b].size();
  });
}

std::vector<int32_t> Tokenizer::encode(std::string_view text, bool add_special,
                                       bool parse_special) const {
  std::vector<Fragment> fragments;
  if (!text.empty()) fragments.push_back({false, -1, 0, text.size()});
  for (const int32_t id : split_tokens_) {
    if (!parse_special && is_control_or_unknown(vocab_.types[id])) continue;
    const std::string& token = vocab_.tokens[id];
    std::vector<Fragment> next;
    next.reserve(fragments.size());
    for (const auto& fragment : fragments) {
      if (fragment.is_token) {
        next.push_back(fragment);
        continue;
      }
      const std::string_view raw = text.substr(fragment.begin, fragment.length);
      size_t kept = 0;
      for (size_t at = raw.find(token); at != std::string_view::npos; at = raw.find(token, kept)) {
        if (at > kept) next.push_back({false, -1, fragment.begin + kept, at - kept});
        next.push_back({true, id, 0, 0});
        kept = at + token.size();
      }
      if (kept < raw.size()) next.push_back({false, -1, fragment.begin + kept, raw.size() - kept});
    }
    fragments = std::move(next);
  }

  std::vector<int32_t> out;
  if (add_special && vocab_.add_bos) out.push_back(*vocab_.bos_id);
  bool after_special = true;  // the start of the input counts as following a special token
  for (const auto& fragment : fragments) {
    if (fragment.is_token) {
      out.push_back(fragment.id);
      after_special = true;
      continue;
    }
    const bool prefix = (space_prefix_ == SpacePrefix::kAlways && after_special) ||
                        (space_prefix_ == SpacePrefix::kFirst && fragment.begin == 0);
    encode_text(text.substr(fragment.begin, fragment.length), prefix, out);
    after_special = false;
  }
  if (add_special && vocab_.add_eos) out.push_back(*vocab_.eos_id);
  return out;
}

std::string Tokenizer::decode(std::span<const int32_t> ids, bool skip_special) const {
  StreamingDecoder decoder(*this, skip_special, true);
  std::string out;
  for (const int32_t id : ids) out += decoder.push(id);
  out += decoder.finish();
  return out;
}

std::string Tokenizer::token_to_piece(int32_t id) const {
  check_id(id);
  const TokenType type = vocab_.types[id];
  if (is_control_or_unknown(type) || type == TokenType::kUserDefined) return vocab_.tokens[id];
  if (type == TokenType::kByte) {
    if (const auto byte = parse_byte_token(vocab_.tokens[id])) {
      return std::string(1, static_cast<char>(*byte));
    }
  }
  return normal_piece(id);
}

const std::string& Tokenizer::token_text(int32_t id) const {
  check_id(id);
  return vocab_.tokens[id];
}

TokenType Tokenizer::token_type(int32_t id) const {
  check_id(id);
  return vocab_.types[id];
}

std::optional<int32_t> Tokenizer::token_id(std::string_view text) const {
  const auto it = ids_.find(text);
  if (it == ids_.end()) return std::nullopt;
  return it->second;
}

bool Tokenizer::is_special(int32_t id) const { return is_control_or_unknown(token_type(id)); }

void Tokenizer::check_id(int32_t id) const {
  MMGEN_CHECK(id >= 0 && id < vocab_size(), source_, ": token id ", id,
              " is outside the vocabulary of ", vocab_size(), " tokens");
}

std::optional<int32_t> Tokenizer::byte_token(uint8_t byte) const {
  char name[8];
  std::snprintf(name, sizeof(name), "<0x%02X>", static_cast<unsigned>(byte));
  return token_id(name);
}

StreamingDecoder::StreamingDecoder(const Tokenizer& tokenizer, bool skip_special,
                                   bool at_text_start)
    : tokenizer_(tokenizer), skip_special_(skip_special), strip_space_(at_text_start) {}

std::string StreamingDecoder::push(int32_t id) {
  const TokenType type = tokenizer_.token_type(id);  // checks the id
  const bool special = is_control_or_unknown(type) || type == TokenType::kUserDefined;
  std::string piece;
  if (special) {
    if (!(skip_special_ && is_control_or_unknown(type))) piece = tokenizer_.token_text(id);
    // The encoder puts a space prefix after every special token in this mode.
    strip_space_ = tokenizer_.space_prefix_ == SpacePrefix::kAlways;
  } else {
    piece = tokenizer_.token_to_piece(id);
    if (strip_space_ && tokenizer_.space_prefix_ != SpacePrefix::kNever && !piece.empty() &&
        piece.front() == ' ') {
      piece.erase(0, 1);
    }
    strip_space_ = false;
  }
  held_ += piece;
  const size_t tail = utf8_incomplete_tail(held_);
  std::string ready = held_.substr(0, held_.size() - tail);
  held_.erase(0, held_.size() - tail);
  return ready;
}

std::string StreamingDecoder::finish() {
  std::string rest;
  rest.swap(held_);
  return rest;
}

}  // namespace mmgen::text
