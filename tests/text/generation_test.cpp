// The generation loop on the tiny golden models: greedy output equal to the
// fixtures, stop conditions, streamed text, and the stop-string filter.
#include "text/generation.h"

#include <catch2/catch.hpp>

#include "core/error.h"
#include "core/model_file.h"
#include "tests/support/test_support.h"

namespace mmgen::text {
namespace {

using Catch::Matchers::Contains;

std::vector<int32_t> fixture_ids(const std::string& model, const std::string& key) {
  const auto file = ModelFile::open(test::golden_file("llm/cases/" + model + ".safetensors"));
  std::vector<int32_t> ids;
  for (const int64_t id : file->tensor(key).to_i64_vector())
    ids.push_back(static_cast<int32_t>(id));
  return ids;
}

SamplingParams greedy() {
  SamplingParams p;
  p.temperature = 0;
  return p;
}

const TextModel& llama() {
  static const TextModel model = load_text_model(test::golden_file("llm/llama_tiny.gguf"));
  return model;
}

}  // namespace

TEST_CASE("the stop-string filter holds back possible starts of a stop string", "[generation]") {
  StopStringFilter filter({"\nUser:", "END"});
  CHECK(filter.push("Hello") == "Hello");
  CHECK(filter.push(" E") == " ");  // "E" may start END
  CHECK(filter.push("x") == "Ex");
  CHECK(filter.push("\nUs") == "");
  CHECK(filter.push("ually") == "\nUsually");
  CHECK(filter.push(" done\nUse") == " done");
  CHECK(filter.push("r: next") == "");
  CHECK(filter.stopped());
  CHECK(filter.push("more") == "");

  StopStringFilter two({"ab", "b"});
  CHECK(two.push("xab") == "x");  // the earliest stop string wins
  StopStringFilter held({"abc"});
  CHECK(held.push("xab") == "x");
  CHECK(held.finish() == "ab");
  StopStringFilter none({});
  CHECK(none.push("abc") == "abc");
}

TEST_CASE("greedy generation reproduces the golden continuations", "[generation]") {
  const std::pair<const char*, const char*> cases[] = {
      {"llama_tiny", "The capital of France is Paris."},
      {"qwen2_tiny", "Hello, my name is Alice and I like tea."},
      {"gpt2_tiny", "In a hole in the ground there lived a hobbit."}};
  for (const auto& [name, text] : cases) {
    INFO(name);
    const TextModel tm = load_text_model(test::golden_file(std::string("llm/") + name + ".gguf"));
    const std::vector<int32_t> prompt = tm.tokenizer->encode(text, true);
    CHECK(prompt == fixture_ids(name, "en.ids"));
    KvCache cache = tm.model->make_cache();
    Sampler sampler(greedy());
    GenerationOptions options;
    options.max_tokens = 16;
    std::string streamed;
    int tokens = 0;
    const GenerationResult result = Generator(*tm.model, *tm.tokenizer)
                                        .generate(
                                            prompt, cache, sampler, options,
                                            [&](std::string_view piece) {
                                              streamed += piece;
                                              return true;
                                            },
                                            [&](int32_t) { return ++tokens, true; });
    CHECK(result.ids == fixture_ids(name, "en.greedy_ids"));
    CHECK(result.reason == StopReason::kMaxTokens);
    CHECK(tokens == 16);
    CHECK(streamed == result.text);
    // The streamed text continues the prompt's text.
    std::vector<int32_t> all = prompt;
    all.insert(all.end(), result.ids.begin(), result.ids.end());
    const std::string prompt_text = tm.tokenizer->decode(prompt, true);
    CHECK(result.text == tm.tokenizer->decode(all, true).substr(prompt_text.size()));
    CHECK(result.stats.prompt_tokens == static_cast<int64_t>(prompt.size()));
    CHECK(result.stats.decode_tokens == 15);
    CHECK(result.unfed == std::vector<int32_t>{result.ids.back()});
    CHECK(cache.length() == static_cast<int64_t>(prompt.size()) + 15);
  }
}

TEST_CASE("generation stops at a stop id, a stop string and the context limit", "[generation]") {
  const TextModel& tm = llama();
  const std::vector<int32_t> prompt = tm.tokenizer->encode("The capital of France is Paris.");
  const std::vector<int32_t> expected = fixture_ids("llama_tiny", "en.greedy_ids");
  const Generator generator(*tm.model, *tm.tokenizer);

  SECTION("stop id") {
    KvCache cache = tm.model->make_cache();
    Sampler sampler(greedy());
    GenerationOptions options;
    options.stop_ids = {expected[3]};
    const auto result = generator.generate(prompt, cache, sampler, options);
    CHECK(result.reason == StopReason::kEndOfSequence);
    CHECK(result.ids == std::vector<int32_t>(expected.begin(), expected.begin() + 3));
    CHECK(result.unfed.empty());  // everything before the stop id went through the model
    CHECK(cache.length() == static_cast<int64_t>(prompt.size()) + 3);
  }
  SECTION("stop string") {
    // The text of the first five tokens; stop at the fourth token's piece.
    const std::string piece = tm.tokenizer->token_to_piece(expected[3]);
    KvCache cache = tm.model->make_cache();
    Sampler sampler(greedy());
    GenerationOptions options;
    options.stop_strings = {piece};
    std::string streamed;
    const auto result = generator.generate(prompt, cache, sampler, options, [&](auto text) {
      streamed += text;
      return true;
    });
    CHECK(result.reason == StopReason::kStopString);
    CHECK(result.ids.size() == 4);
    CHECK(streamed == result.text);
    CHECK(result.text.find(piece) == std::string::npos);
  }
  SECTION("context limit") {
    KvCache cache = tm.model->make_cache(static_cast<int64_t>(prompt.size()) + 4);
    Sampler sampler(greedy());
    GenerationOptions options;
    options.max_tokens = 100;
    const auto result = generator.generate(prompt, cache, sampler, options);
    CHECK(result.reason == StopReason::kContextFull);
    CHECK(result.ids == std::vector<int32_t>(expected.begin(), expected.begin() + 5));
  }
  SECTION("cancel") {
    KvCache cache = tm.model->make_cache();
    Sampler sampler(greedy());
    int calls = 0;
    const auto result = generator.generate(prompt, cache, sampler, GenerationOptions{}, {},
                                           [&](int32_t) { return ++calls < 2; });
    CHECK(result.reason == StopReason::kCancelled);
    CHECK(result.ids.size() == 2);
  }
  SECTION("bad requests") {
    KvCache cache = tm.model->make_cache();
    Sampler sampler(greedy());
    GenerationOptions options;
    CHECK_THROWS_WITH(generator.generate({}, cache, sampler, options), Contains("prompt"));
    options.max_tokens = 0;
    CHECK_THROWS_WITH(generator.generate(prompt, cache, sampler, options), Contains("> 0"));
  }
}

TEST_CASE("seeded sampling replays the same tokens", "[generation]") {
  const TextModel& tm = llama();
  const std::vector<int32_t> prompt = tm.tokenizer->encode("Once upon a time");
  const auto run = [&](uint64_t seed) {
    SamplingParams p;
    p.seed = seed;
    p.temperature = 1.5f;
    p.top_k = 0;
    p.min_p = 0;
    p.top_p = 1;
    KvCache cache = tm.model->make_cache();
    Sampler sampler(p);
    GenerationOptions options;
    options.max_tokens = 12;
    return Generator(*tm.model, *tm.tokenizer).generate(prompt, cache, sampler, options).ids;
  };
  const auto a = run(5);
  CHECK(a.size() == 12);
  CHECK(run(5) == a);
  CHECK(run(6) != a);
}

TEST_CASE("text models load from GGUF, and a folder without tokenizer.json says so",
          "[generation]") {
  CHECK(llama().tokenizer->vocab_size() == 32000);
  CHECK_THROWS_WITH(load_text_model(test::golden_file("llm/llama_tiny")),
                    Contains("the folder has no tokenizer"));
  CHECK_THROWS_WITH(load_text_model("/no/such/model.gguf"), Contains("no such file"));
}

}  // namespace mmgen::text

namespace mmgen::text {

TEST_CASE("a tokenizer larger than the model's vocabulary is refused", "[generation]") {
  const TextModel gpt2 = load_text_model(test::golden_file("llm/gpt2_tiny.gguf"));
  REQUIRE(gpt2.tokenizer->vocab_size() > llama().model->config().vocab_size);
  CHECK_THROWS_WITH(Generator(*llama().model, *gpt2.tokenizer),
                    Contains("tokens but the model") && Contains("llama_tiny.gguf"));
  CHECK_NOTHROW(Generator(*llama().model, *llama().tokenizer));
}

}  // namespace mmgen::text
