// The committed default text model, models/fortune-llama: mmgen's perplexity on the
// held-out fixture lines matches the value the training script recorded in the model
// card, and greedy generation writes printable text.
#include <catch2/catch.hpp>
#include <cmath>
#include <fstream>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "tests/support/test_support.h"
#include "text/llm.h"
#include "text/tokenizer.h"
#include "text/tokenizer_loader.h"

namespace mmgen::text {
namespace {

const std::filesystem::path& model_dir() {
  static const std::filesystem::path dir =
      test::test_data_dir() / ".." / ".." / "models" / "fortune-llama";
  return dir;
}

std::string read_text(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  REQUIRE(in.good());
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// The card records "Fixture perplexity (heldout.txt): <value>".
double card_fixture_perplexity() {
  const std::string card = read_text(model_dir() / "MODEL_CARD.md");
  std::smatch m;
  REQUIRE(
      std::regex_search(card, m, std::regex(R"(Fixture perplexity \(heldout\.txt\): ([0-9.]+))")));
  return std::stod(m[1].str());
}

double log_softmax_at(const float* row, int64_t n, int32_t target) {
  double mx = row[0];
  for (int64_t i = 1; i < n; ++i) mx = std::max<double>(mx, row[i]);
  double sum = 0;
  for (int64_t i = 0; i < n; ++i) sum += std::exp(row[i] - mx);
  return row[target] - mx - std::log(sum);
}

TEST_CASE("fortune-llama perplexity on held-out lines matches its card", "[text][default_model]") {
  const auto gguf = model_dir() / "fortune-llama.gguf";
  const auto model = load_llm(gguf);
  const auto tokenizer = load_tokenizer(gguf);
  const int64_t vocab = model->config().vocab_size;

  std::istringstream lines(read_text(model_dir() / "heldout.txt"));
  std::string line;
  double nll = 0;
  int64_t count = 0;
  while (std::getline(lines, line)) {
    if (line.empty()) continue;
    // As in training: <|endoftext|> then the fortune's tokens.
    std::vector<int32_t> ids = tokenizer->encode(line, /*add_special=*/true);
    REQUIRE(ids.front() == *tokenizer->bos_id());
    KvCache cache = model->make_cache();
    const Tensor logits =
        model->forward(std::vector<int32_t>(ids.begin(), ids.end() - 1), cache).contiguous();
    const float* data = logits.typed_data<float>();
    for (size_t i = 0; i + 1 < ids.size(); ++i)
      nll -= log_softmax_at(data + i * vocab, vocab, ids[i + 1]);
    count += static_cast<int64_t>(ids.size()) - 1;
  }
  REQUIRE(count > 50);
  const double perplexity = std::exp(nll / static_cast<double>(count));
  const double expected = card_fixture_perplexity();
  INFO("mmgen perplexity " << perplexity << ", card " << expected);
  CHECK(std::abs(perplexity - expected) <= 0.01 * expected);
}

TEST_CASE("fortune-llama greedy generation writes printable text", "[text][default_model]") {
  const auto gguf = model_dir() / "fortune-llama.gguf";
  const auto model = load_llm(gguf);
  const auto tokenizer = load_tokenizer(gguf);
  const std::vector<int32_t> prompt = tokenizer->encode("The", true);
  KvCache cache = model->make_cache();
  const auto ids = model->generate_greedy(prompt, 40, cache);
  REQUIRE(!ids.empty());
  const std::string text = tokenizer->decode(ids, /*skip_special=*/true);
  INFO("generated: " << text);
  REQUIRE(!text.empty());
  for (unsigned char c : text) {
    const bool printable = (c >= 0x20 || c == '\n') && c != 0x7f;  // UTF-8 bytes are >= 0x80
    CHECK(printable);
  }
}

}  // namespace
}  // namespace mmgen::text
