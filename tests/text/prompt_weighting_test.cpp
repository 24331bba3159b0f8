// The web UI's emphasis syntax ((word), [word], (word:1.3), escapes, BREAK,
// unbalanced brackets) and the split of prompts into 75-token CLIP chunks with
// the comma backtrack; the vocabulary is the project's data/clip copy.
#include "text/prompt_weighting.h"

#include <algorithm>
#include <catch2/catch.hpp>

#include "tests/support/test_support.h"

namespace mmgen::text {
namespace {

const ClipTokenizer& tokenizer() {
  static const std::unique_ptr<ClipTokenizer> instance =
      ClipTokenizer::load(test::test_data_dir().parent_path().parent_path() / "data" / "clip" /
                          "bpe_simple_vocab_16e6.txt.gz");
  return *instance;
}

struct Run {
  std::string text;
  double weight;
};

void check_runs(const std::string& prompt, const std::vector<Run>& expected) {
  INFO("prompt: " << prompt);
  const std::vector<WeightedText> runs = parse_prompt_attention(prompt);
  REQUIRE(runs.size() == expected.size());
  for (size_t i = 0; i < runs.size(); ++i) {
    INFO("run " << i);
    CHECK(runs[i].text == expected[i].text);
    CHECK(runs[i].weight == Approx(expected[i].weight).epsilon(1e-12));
    CHECK_FALSE(runs[i].is_break);
  }
}

std::string repeat(const std::string& word, int times) {
  std::string out;
  for (int i = 0; i < times; ++i) out += (i ? " " : "") + word;
  return out;
}

int32_t id(const std::string& token) { return tokenizer().token_id(token); }

}  // namespace

TEST_CASE("Emphasis runs match the web UI's parser", "[prompt_weighting]") {
  check_runs("normal text", {{"normal text", 1.0}});
  check_runs("an (important) word", {{"an ", 1.0}, {"important", 1.1}, {" word", 1.0}});
  check_runs("(unbalanced", {{"unbalanced", 1.1}});
  check_runs("\\(literal\\]", {{"(literal]", 1.0}});
  check_runs("(unnecessary)(parens)", {{"unnecessaryparens", 1.1}});
  check_runs("a (((house:1.3)) [on] a (hill:0.5), sun, (((sky))).", {{"a ", 1.0},
                                                                     {"house", 1.573},
                                                                     {" ", 1.1},
                                                                     {"on", 1.0},
                                                                     {" a ", 1.1},
                                                                     {"hill", 0.55},
                                                                     {", sun, ", 1.1},
                                                                     {"sky", 1.4641},
                                                                     {".", 1.1}});
  check_runs("((word))", {{"word", 1.21}});
  check_runs("[word]", {{"word", 1.0 / 1.1}});
  check_runs("[[word]]", {{"word", 1.0 / 1.21}});
  check_runs("(word:1.3)", {{"word", 1.3}});
  check_runs("( word : 0.25 )", {{" word ", 0.25}});
}

TEST_CASE("Unbalanced brackets, stray colons and escapes read as the web UI reads them",
          "[prompt_weighting]") {
  check_runs("[unclosed", {{"unclosed", 1.0 / 1.1}});
  check_runs("a ) b ] c", {{"a ) b ] c", 1.0}});
  check_runs("ratio 16:9", {{"ratio 16:9", 1.0}});
  // A weight with no open bracket is literal text.
  check_runs("word:1.3)", {{"word:1.3)", 1.0}});
  // Not a decimal: the colon and the digits stay text inside a x1.1 bracket.
  check_runs("(a:1.2.3)", {{"a:1.2.3", 1.1}});
  check_runs("a\\\\b", {{"a\\b", 1.0}});
  check_runs("a\\b", {{"ab", 1.0}});  // a lone backslash is dropped
  check_runs("", {{"", 1.0}});
  check_runs("()", {{"", 1.0}});
}

TEST_CASE("BREAK outside brackets is a chunk break, inside them it is text", "[prompt_weighting]") {
  const std::vector<WeightedText> runs = parse_prompt_attention("a cat  BREAK\ta dog");
  REQUIRE(runs.size() == 3);
  CHECK(runs[0].text == "a cat");
  CHECK(runs[1].is_break);
  CHECK(runs[2].text == "a dog");
  check_runs("BREAKING news", {{"BREAKING news", 1.0}});
  check_runs("break it", {{"break it", 1.0}});
  const std::vector<WeightedText> inside = parse_prompt_attention("(a BREAK b)");
  REQUIRE(inside.size() == 3);
  CHECK(inside[1].text == "BREAK");
  CHECK(inside[1].weight == Approx(-1.1));
  CHECK_FALSE(inside[1].is_break);
}

TEST_CASE("A short prompt is one chunk framed as encode_framed", "[prompt_weighting]") {
  const std::vector<PromptChunk> plain = chunk_weighted_prompt(tokenizer(), "a cat on a mat");
  REQUIRE(plain.size() == 1);
  CHECK(plain[0].ids == tokenizer().encode_framed("a cat on a mat"));
  CHECK(plain[0].all_weights_one());

  const std::vector<PromptChunk> weighted =
      chunk_weighted_prompt(tokenizer(), "a (cat:1.5) on a [mat]");
  REQUIRE(weighted.size() == 1);
  CHECK(weighted[0].ids == plain[0].ids);
  std::vector<float> expected(77, 1.0f);
  expected[2] = 1.5f;  // start, a, cat
  expected[5] = static_cast<float>(1.0 / 1.1);
  CHECK(weighted[0].weights == expected);

  const PromptChunk empty = empty_prompt_chunk(tokenizer());
  const std::vector<PromptChunk> none = chunk_weighted_prompt(tokenizer(), "");
  REQUIRE(none.size() == 1);
  CHECK(none[0].ids == empty.ids);
  CHECK(empty.ids == tokenizer().encode_framed(""));
}

TEST_CASE("Long prompts are cut into chunks of 75 tokens", "[prompt_weighting]") {
  const int32_t cat = id("cat</w>"), start = tokenizer().start_id(), end = tokenizer().end_id();
  const std::vector<PromptChunk> chunks = chunk_weighted_prompt(tokenizer(), repeat("cat", 160));
  REQUIRE(chunks.size() == 3);
  for (const PromptChunk& c : chunks) {
    REQUIRE(c.ids.size() == 77);
    REQUIRE(c.weights.size() == 77);
    CHECK(c.ids.front() == start);
    CHECK(c.ids.back() == end);
  }
  CHECK(std::count(chunks[0].ids.begin(), chunks[0].ids.end(), cat) == 75);
  CHECK(std::count(chunks[1].ids.begin(), chunks[1].ids.end(), cat) == 75);
  CHECK(std::count(chunks[2].ids.begin(), chunks[2].ids.end(), cat) == 10);
  CHECK(chunks[2].ids[11] == end);
  // Exactly 75 tokens fit one chunk.
  CHECK(chunk_weighted_prompt(tokenizer(), repeat("cat", 75)).size() == 1);
  CHECK(chunk_weighted_prompt(tokenizer(), repeat("cat", 76)).size() == 2);
}

TEST_CASE("A chunk ends at a comma within 20 tokens of its end", "[prompt_weighting]") {
  const int32_t cat = id("cat</w>"), dog = id("dog</w>"), comma = id(",</w>");
  const int32_t end = tokenizer().end_id();
  const std::string prompt = repeat("cat", 70) + ", " + repeat("dog", 10);
  const std::vector<PromptChunk> chunks = chunk_weighted_prompt(tokenizer(), prompt);
  REQUIRE(chunks.size() == 2);
  CHECK(chunks[0].ids[70] == cat);
  CHECK(chunks[0].ids[71] == comma);
  CHECK(chunks[0].ids[72] == end);
  CHECK(std::count(chunks[1].ids.begin(), chunks[1].ids.end(), dog) == 10);
  CHECK(chunks[1].ids[1] == dog);

  PromptChunking no_backtrack;
  no_backtrack.comma_backtrack = 0;
  const std::vector<PromptChunk> plain = chunk_weighted_prompt(tokenizer(), prompt, no_backtrack);
  REQUIRE(plain.size() == 2);
  CHECK(std::count(plain[0].ids.begin(), plain[0].ids.end(), dog) == 4);
  CHECK(std::count(plain[1].ids.begin(), plain[1].ids.end(), dog) == 6);

  // A comma further back than 20 tokens does not move the boundary.
  const std::vector<PromptChunk> far =
      chunk_weighted_prompt(tokenizer(), repeat("cat", 50) + ", " + repeat("dog", 30));
  REQUIRE(far.size() == 2);
  CHECK(std::count(far[0].ids.begin(), far[0].ids.end(), dog) == 24);
}

TEST_CASE("BREAK starts a new chunk and weights follow their tokens", "[prompt_weighting]") {
  const int32_t cat = id("cat</w>"), dog = id("dog</w>"), end = tokenizer().end_id();
  const std::vector<PromptChunk> chunks = chunk_weighted_prompt(tokenizer(), "cat BREAK (dog:0.5)");
  REQUIRE(chunks.size() == 2);
  CHECK(chunks[0].ids[1] == cat);
  CHECK(chunks[0].ids[2] == end);
  CHECK(chunks[1].ids[1] == dog);
  CHECK(chunks[1].weights[1] == 0.5f);
  CHECK(chunks[1].weights[2] == 1.0f);
}

}  // namespace mmgen::text
