#include "text/prompt_weighting.h"

#include <cstdlib>

#include "core/error.h"

namespace mmgen::text {
namespace {

constexpr double kRoundFactor = 1.1;
constexpr double kSquareFactor = 1.0 / 1.1;

bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}
bool is_digit(char c) { return c >= '0' && c <= '9'; }
// Word characters for the BREAK keyword's boundaries; any non-ASCII byte counts
// as a letter (Unicode letters are word characters).
bool is_word(char c) {
  const auto u = static_cast<unsigned char>(c);
  return u >= 0x80 || is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

// ":" spaces number spaces ")" at `pos`: its length and the number, or 0.
size_t match_weight(std::string_view s, size_t pos, double& weight) {
  size_t i = pos;
  if (i >= s.size() || s[i] != ':') return 0;
  ++i;
  while (i < s.size() && is_space(s[i])) ++i;
  const size_t number_begin = i;
  if (i < s.size() && (s[i] == '+' || s[i] == '-')) ++i;
  const size_t body = i;
  while (i < s.size() && (is_digit(s[i]) || s[i] == '.')) ++i;
  if (i == body) return 0;
  const std::string number(s.substr(number_begin, i - number_begin));
  while (i < s.size() && is_space(s[i])) ++i;
  if (i >= s.size() || s[i] != ')') return 0;
  // The number must be a whole decimal ("1.2.3" and "." are not).
  char* end = nullptr;
  const double value = std::strtod(number.c_str(), &end);
  bool has_digit = false;
  for (char c : number) has_digit = has_digit || is_digit(c);
  if (!has_digit || end != number.c_str() + number.size()) return 0;
  weight = value;
  return i + 1 - pos;
}

// Splits literal text at BREAK keywords (whole words, with the spaces around them).
std::vector<std::string> split_breaks(std::string_view text) {
  std::vector<std::string> parts;
  size_t part_begin = 0;
  size_t search = 0;
  while (true) {
    const size_t at = text.find("BREAK", search);
    if (at == std::string_view::npos) break;
    const size_t after = at + 5;
    const bool left_ok = at == 0 || !is_word(text[at - 1]);
    const bool right_ok = after == text.size() || !is_word(text[after]);
    if (!left_ok || !right_ok) {
      search = at + 1;
      continue;
    }
    size_t begin = at;
    while (begin > part_begin && is_space(text[begin - 1])) --begin;
    size_t end = after;
    while (end < text.size() && is_space(text[end])) ++end;
    parts.emplace_back(text.substr(part_begin, begin - part_begin));
    part_begin = end;
    search = end;
  }
  parts.emplace_back(text.substr(part_begin));
  return parts;
}

}  // namespace

std::vector<WeightedText> parse_prompt_attention(std::string_view s) {
  std::vector<WeightedText> res;
  std::vector<size_t> round, square;
  const auto multiply_range = [&](size_t start, double factor) {
    for (size_t p = start; p < res.size(); ++p) res[p].weight *= factor;
  };
  const auto add_literal = [&](std::string_view text) {
    const std::vector<std::string> parts = split_breaks(text);
    for (size_t i = 0; i < parts.size(); ++i) {
      if (i > 0) res.push_back({"BREAK", -1.0, true});
      res.push_back({parts[i], 1.0, false});
    }
  };
  size_t pos = 0;
  while (pos < s.size()) {
    const char c = s[pos];
    double weight = 0;
    if (c == '\\') {
      // \( \) \[ \] \\ are the character itself; a lone backslash is dropped.
      const bool escape =
          pos + 1 < s.size() && (s[pos + 1] == '(' || s[pos + 1] == ')' || s[pos + 1] == '[' ||
                                 s[pos + 1] == ']' || s[pos + 1] == '\\');
      res.push_back({escape ? std::string(1, s[pos + 1]) : std::string(), 1.0, false});
      pos += escape ? 2 : 1;
    } else if (c == '(') {
      round.push_back(res.size());
      ++pos;
    } else if (c == '[') {
      square.push_back(res.size());
      ++pos;
    } else if (const size_t length = match_weight(s, pos, weight); length > 0) {
      if (!round.empty()) {
        multiply_range(round.back(), weight);
        round.pop_back();
      } else {
        add_literal(s.substr(pos, length));
      }
      pos += length;
    } else if (c == ')' || c == ']' || c == ':') {
      std::vector<size_t>& open = c == ')' ? round : square;
      if (c != ':' && !open.empty()) {
        multiply_range(open.back(), c == ')' ? kRoundFactor : kSquareFactor);
        open.pop_back();
      } else {
        add_literal(s.substr(pos, 1));
      }
      ++pos;
    } else {
      size_t end = pos;
      while (end < s.size() && s[end] != '\\' && s[end] != '(' && s[end] != ')' && s[end] != '[' &&
             s[end] != ']' && s[end] != ':')
        ++end;
      add_literal(s.substr(pos, end - pos));
      pos = end;
    }
  }
  // Unclosed brackets weigh everything after them.
  for (size_t p : round) multiply_range(p, kRoundFactor);
  for (size_t p : square) multiply_range(p, kSquareFactor);
  if (res.empty()) res.push_back({"", 1.0, false});

  // Neighbouring runs of the same weight merge (a BREAK marker merges only
  // with another marker, which never neighbours it).
  std::vector<WeightedText> merged;
  for (WeightedText& run : res) {
    if (!merged.empty() && merged.back().weight == run.weight) {
      merged.back().text += run.text;
    } else {
      merged.push_back(std::move(run));
    }
  }
  // A marker inside brackets has had its weight multiplied: it is plain text then.
  for (WeightedText& run : merged) run.is_break = run.text == "BREAK" && run.weight == -1.0;
  return merged;
}

bool PromptChunk::all_weights_one() const {
  for (float w : weights)
    if (w != 1.0f) return false;
  return true;
}

PromptChunk empty_prompt_chunk(const ClipTokenizer& tokenizer, int chunk_length) {
  PromptChunk chunk;
  chunk.ids.assign(static_cast<size_t>(chunk_length) + 2, tokenizer.end_id());
  chunk.ids.front() = tokenizer.start_id();
  chunk.weights.assign(chunk.ids.size(), 1.0f);
  return chunk;
}

std::vector<PromptChunk> chunk_weighted_prompt(const ClipTokenizer& tokenizer,
                                               std::string_view prompt,
                                               const PromptChunking& chunking) {
  MMGEN_CHECK(chunking.chunk_length >= 1, "prompt chunking: chunk length must be positive, got ",
              chunking.chunk_length);
  const auto length = static_cast<size_t>(chunking.chunk_length);
  const int32_t comma = tokenizer.token_id(",</w>");
  std::vector<PromptChunk> chunks;
  PromptChunk chunk;
  int64_t last_comma = -1;
  // Frames the current chunk (start, ids, end padding, end) and starts a new one.
  const auto next_chunk = [&]() {
    chunk.ids.resize(length, tokenizer.end_id());
    chunk.weights.resize(length, 1.0f);
    chunk.ids.insert(chunk.ids.begin(), tokenizer.start_id());
    chunk.weights.insert(chunk.weights.begin(), 1.0f);
    chunk.ids.push_back(tokenizer.end_id());
    chunk.weights.push_back(1.0f);
    chunks.push_back(std::move(chunk));
    chunk = PromptChunk();
    last_comma = -1;
  };
  for (const WeightedText& run : parse_prompt_attention(prompt)) {
    if (run.is_break) {
      next_chunk();
      continue;
    }
    const auto weight = static_cast<float>(run.weight);
    for (int32_t id : tokenizer.encode(run.text)) {
      if (id == comma) {
        last_comma = static_cast<int64_t>(chunk.ids.size());
      } else if (chunking.comma_backtrack > 0 && chunk.ids.size() == length && last_comma != -1 &&
                 static_cast<int64_t>(chunk.ids.size()) - last_comma <= chunking.comma_backtrack) {
        // The tokens after the comma move to the next chunk.
        const auto cut = static_cast<size_t>(last_comma + 1);
        std::vector<int32_t> moved_ids(chunk.ids.begin() + cut, chunk.ids.end());
        std::vector<float> moved_weights(chunk.weights.begin() + cut, chunk.weights.end());
        chunk.ids.resize(cut);
        chunk.weights.resize(cut);
        next_chunk();
        chunk.ids = std::move(moved_ids);
        chunk.weights = std::move(moved_weights);
      }
      if (chunk.ids.size() == length) next_chunk();
      chunk.ids.push_back(id);
      chunk.weights.push_back(weight);
    }
  }
  if (!chunk.ids.empty() || chunks.empty()) next_chunk();
  return chunks;
}

}  // namespace mmgen::text
