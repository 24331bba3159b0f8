// Token sampling: parameter checks, the kept sets and probabilities of each
// filter on hand-made logits, the repetition penalty, and seeded draws.
#include "text/sampling.h"

#include <catch2/catch.hpp>
#include <cmath>
#include <vector>

#include "core/error.h"
#include "core/random.h"

namespace mmgen::text {
namespace {

using Catch::Matchers::Contains;

// Probabilities 0.1, 0.4, 0.2, 0.3 at temperature 1 (ids 0..3).
const std::vector<float> kLogits = {std::log(1.0f), std::log(4.0f), std::log(2.0f), std::log(3.0f)};

SamplingParams no_filters() {
  SamplingParams p;
  p.temperature = 1.0f;
  p.top_k = 0;
  p.top_p = 1.0f;
  p.min_p = 0.0f;
  return p;
}

void check_distribution(const std::vector<TokenProbability>& actual,
                        const std::vector<int32_t>& ids, const std::vector<double>& probs) {
  REQUIRE(actual.size() == ids.size());
  for (size_t i = 0; i < ids.size(); ++i) {
    INFO("entry " << i);
    CHECK(actual[i].id == ids[i]);
    CHECK(actual[i].probability == Approx(probs[i]).epsilon(1e-5));
  }
}

}  // namespace

TEST_CASE("sampling parameters out of range are rejected by name", "[sampling]") {
  const auto rejects = [](auto change, const char* what) {
    SamplingParams p;
    change(p);
    CHECK_THROWS_WITH(validate_sampling_params(p), Contains(what));
    CHECK_THROWS_AS(Sampler(p), Error);
  };
  rejects([](SamplingParams& p) { p.temperature = -0.1f; }, "temperature");
  rejects([](SamplingParams& p) { p.temperature = NAN; }, "temperature");
  rejects([](SamplingParams& p) { p.top_k = -1; }, "top-k");
  rejects([](SamplingParams& p) { p.top_p = 0.0f; }, "top-p");
  rejects([](SamplingParams& p) { p.top_p = 1.5f; }, "top-p");
  rejects([](SamplingParams& p) { p.min_p = -0.5f; }, "min-p");
  rejects([](SamplingParams& p) { p.min_p = 1.5f; }, "min-p");
  rejects([](SamplingParams& p) { p.repeat_penalty = 0.0f; }, "repeat penalty");
  rejects([](SamplingParams& p) { p.repeat_last_n = -1; }, "repeat-last-n");
  CHECK_NOTHROW(validate_sampling_params(SamplingParams{}));
  SamplingParams greedy;
  greedy.temperature = 0;
  CHECK_NOTHROW(validate_sampling_params(greedy));
}

TEST_CASE("without filters the distribution is the softmax, most likely first", "[sampling]") {
  check_distribution(sampling_distribution(kLogits, no_filters()), {1, 3, 2, 0},
                     {0.4, 0.3, 0.2, 0.1});
}

TEST_CASE("temperature sharpens and flattens the distribution", "[sampling]") {
  SamplingParams p = no_filters();
  p.temperature = 0.5f;  // p^2: 16, 9, 4, 1 over 30
  check_distribution(sampling_distribution(kLogits, p), {1, 3, 2, 0},
                     {16.0 / 30, 9.0 / 30, 4.0 / 30, 1.0 / 30});
  p.temperature = 2.0f;  // sqrt(p)
  const double s = 1 + 2 + std::sqrt(2.0) + std::sqrt(3.0);
  check_distribution(sampling_distribution(kLogits, p), {1, 3, 2, 0},
                     {2 / s, std::sqrt(3.0) / s, std::sqrt(2.0) / s, 1 / s});
}

TEST_CASE("top-k keeps the k most likely tokens, renormalised", "[sampling]") {
  SamplingParams p = no_filters();
  p.top_k = 2;
  check_distribution(sampling_distribution(kLogits, p), {1, 3}, {4.0 / 7, 3.0 / 7});
  p.top_k = 1;
  check_distribution(sampling_distribution(kLogits, p), {1}, {1.0});
  p.top_k = 10;  // more than the vocabulary: all
  check_distribution(sampling_distribution(kLogits, p), {1, 3, 2, 0}, {0.4, 0.3, 0.2, 0.1});
}

TEST_CASE("top-p keeps the smallest head reaching the mass", "[sampling]") {
  SamplingParams p = no_filters();
  p.top_p = 0.65f;  // 0.4 < 0.65 <= 0.7
  check_distribution(sampling_distribution(kLogits, p), {1, 3}, {4.0 / 7, 3.0 / 7});
  p.top_p = 0.75f;  // 0.7 < 0.75 <= 0.9
  check_distribution(sampling_distribution(kLogits, p), {1, 3, 2}, {4.0 / 9, 3.0 / 9, 2.0 / 9});
  p.top_p = 0.1f;  // the first token alone passes it
  check_distribution(sampling_distribution(kLogits, p), {1}, {1.0});
}

TEST_CASE("top-p applies to what top-k kept, renormalised", "[sampling]") {
  SamplingParams p = no_filters();
  p.top_k = 3;      // 4/9, 3/9, 2/9
  p.top_p = 0.75f;  // 4/9 + 3/9 = 0.78 reaches it (0.4 + 0.3 would not)
  check_distribution(sampling_distribution(kLogits, p), {1, 3}, {4.0 / 7, 3.0 / 7});
}

TEST_CASE("min-p drops tokens below a fraction of the most likely", "[sampling]") {
  SamplingParams p = no_filters();
  p.min_p = 0.6f;  // threshold 0.24
  check_distribution(sampling_distribution(kLogits, p), {1, 3}, {4.0 / 7, 3.0 / 7});
  p.min_p = 0.3f;  // threshold 0.12
  check_distribution(sampling_distribution(kLogits, p), {1, 3, 2}, {4.0 / 9, 3.0 / 9, 2.0 / 9});
  p.min_p = 1.0f;  // only the top token (and its ties)
  check_distribution(sampling_distribution(kLogits, p), {1}, {1.0});
}

TEST_CASE("equal probabilities keep the lower id first", "[sampling]") {
  SamplingParams p = no_filters();
  p.top_k = 2;
  const std::vector<float> flat = {0.5f, 0.5f, 0.5f};
  check_distribution(sampling_distribution(flat, p), {0, 1}, {0.5, 0.5});
  CHECK(argmax(flat) == 0);
}

TEST_CASE("the repetition penalty divides positive and multiplies negative logits", "[sampling]") {
  std::vector<float> logits = {2.0f, -2.0f, 1.0f, 0.5f};
  const std::vector<int32_t> recent = {0, 1, 1, 0};  // repeats are penalised once
  apply_repetition_penalty(logits, recent, 2.0f);
  CHECK(logits == std::vector<float>{1.0f, -4.0f, 1.0f, 0.5f});
  apply_repetition_penalty(logits, recent, 1.0f);  // off
  CHECK(logits == std::vector<float>{1.0f, -4.0f, 1.0f, 0.5f});
  const std::vector<int32_t> outside = {4};
  CHECK_THROWS_WITH(apply_repetition_penalty(logits, outside, 2.0f), Contains("id 4"));
}

TEST_CASE("greedy sampling takes the argmax after the penalty, without draws", "[sampling]") {
  SamplingParams p;
  p.temperature = 0;
  p.repeat_penalty = 2.0f;
  p.repeat_last_n = 2;
  Sampler sampler(p);
  const std::vector<float> logits = {2.0f, 1.5f, 1.2f};
  CHECK(sampler.sample(logits) == 0);
  sampler.accept(0);  // 2.0 -> 1.0
  CHECK(sampler.sample(logits) == 1);
  const std::vector<int32_t> more = {1, 2};  // the window of 2 forgets id 0
  sampler.accept(more);
  CHECK(sampler.sample(logits) == 0);
  CHECK(sampler.draws() == 0);
}

TEST_CASE("a seeded sampler draws element i of Philox stream (seed, 0)", "[sampling]") {
  SamplingParams p = no_filters();
  p.seed = 1234;
  Sampler sampler(p);
  for (uint64_t i = 0; i < 50; ++i) {
    float u = 0;
    fill_uniform(&u, 1, 1234, 0, i);
    // Distribution in order 1 (0.4), 3 (0.3), 2 (0.2), 0 (0.1).
    const int32_t expected = u < 0.4f ? 1 : u < 0.7f ? 3 : u < 0.9f ? 2 : 0;
    INFO("draw " << i << " u = " << u);
    CHECK(sampler.sample(kLogits) == expected);
  }
  CHECK(sampler.draws() == 50);
}

TEST_CASE("the same seed replays the same tokens, and the frequencies follow the distribution",
          "[sampling]") {
  SamplingParams p = no_filters();
  p.seed = 7;
  Sampler a(p), b(p);
  p.seed = 8;
  Sampler c(p);
  std::vector<int32_t> from_a, from_b, from_c;
  std::vector<int> counts(4, 0);
  constexpr int kDraws = 20000;
  for (int i = 0; i < kDraws; ++i) {
    from_a.push_back(a.sample(kLogits));
    from_b.push_back(b.sample(kLogits));
    from_c.push_back(c.sample(kLogits));
    ++counts[static_cast<size_t>(from_a.back())];
  }
  CHECK(from_a == from_b);
  CHECK(from_a != from_c);
  const double expected[] = {0.1, 0.4, 0.2, 0.3};
  for (size_t id = 0; id < 4; ++id)
    CHECK(static_cast<double>(counts[id]) / kDraws == Approx(expected[id]).margin(0.015));
}

}  // namespace mmgen::text
