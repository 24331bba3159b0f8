#include "text/sampling.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <unordered_set>

#include "core/error.h"
#include "core/random.h"

namespace mmgen::text {

void validate_sampling_params(const SamplingParams& p) {
  MMGEN_CHECK(std::isfinite(p.temperature) && p.temperature >= 0,
              "temperature must be >= 0 (0 means greedy), got ", p.temperature);
  MMGEN_CHECK(p.top_k >= 0, "top-k must be >= 0 (0 means off), got ", p.top_k);
  MMGEN_CHECK(p.top_p > 0 && p.top_p <= 1, "top-p must be in (0, 1] (1 means off), got ", p.top_p);
  MMGEN_CHECK(p.min_p >= 0 && p.min_p <= 1, "min-p must be in [0, 1] (0 means off), got ", p.min_p);
  MMGEN_CHECK(std::isfinite(p.repeat_penalty) && p.repeat_penalty > 0,
              "repeat penalty must be > 0 (1 means off), got ", p.repeat_penalty);
  MMGEN_CHECK(p.repeat_last_n >= 0, "repeat-last-n must be >= 0, got ", p.repeat_last_n);
}

void apply_repetition_penalty(std::span<float> logits, std::span<const int32_t> recent,
                              float penalty) {
  if (penalty == 1.0f || recent.empty()) return;
  std::unordered_set<int32_t> seen;
  for (const int32_t id : recent) {
    MMGEN_CHECK(id >= 0 && static_cast<size_t>(id) < logits.size(), "repetition penalty: id ", id,
                " is outside the ", logits.size(), " logits");
    if (!seen.insert(id).second) continue;  // each id is penalised once
    float& l = logits[static_cast<size_t>(id)];
    l = l > 0 ? l / penalty : l * penalty;
  }
}

int32_t argmax(std::span<const float> logits) {
  MMGEN_CHECK(!logits.empty(), "argmax of no logits");
  return static_cast<int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin());
}

namespace {

// Keeps the first n entries and rescales them to sum to 1.
void keep_head(std::vector<TokenProbability>& probs, size_t n) {
  probs.resize(std::max<size_t>(1, std::min(n, probs.size())));
  double total = 0;
  for (const auto& t : probs) total += t.probability;
  for (auto& t : probs) t.probability = static_cast<float>(t.probability / total);
}

}  // namespace

std::vector<TokenProbability> sampling_distribution(std::span<const float> logits,
                                                    const SamplingParams& params) {
  MMGEN_CHECK(!logits.empty(), "sampling from no logits");
  MMGEN_CHECK(params.temperature > 0, "sampling_distribution needs temperature > 0");
  const double max_logit = *std::max_element(logits.begin(), logits.end());
  MMGEN_CHECK(std::isfinite(max_logit), "the logits are not finite (max ", max_logit, ")");
  std::vector<TokenProbability> probs(logits.size());
  double total = 0;
  std::vector<double> weights(logits.size());
  for (size_t i = 0; i < logits.size(); ++i) {
    weights[i] = std::exp((logits[i] - max_logit) / params.temperature);
    total += weights[i];
  }
  for (size_t i = 0; i < logits.size(); ++i)
    probs[i] = {static_cast<int32_t>(i), static_cast<float>(weights[i] / total)};
  const auto more_likely = [](const TokenProbability& a, const TokenProbability& b) {
    return a.probability != b.probability ? a.probability > b.probability : a.id < b.id;
  };
  // Only the top k need ordering when k is small (the usual case on a 32k+ vocab).
  const size_t k =
      params.top_k > 0 ? std::min(probs.size(), static_cast<size_t>(params.top_k)) : probs.size();
  std::partial_sort(probs.begin(), probs.begin() + static_cast<std::ptrdiff_t>(k), probs.end(),
                    more_likely);
  if (k < probs.size()) keep_head(probs, k);

  if (params.top_p < 1.0f) {
    double cumulative = 0;
    size_t n = 0;
    while (n < probs.size() && cumulative < params.top_p) cumulative += probs[n++].probability;
    keep_head(probs, n);
  }
  if (params.min_p > 0.0f) {
    const float threshold = params.min_p * probs.front().probability;
    size_t n = 1;
    while (n < probs.size() && probs[n].probability >= threshold) ++n;
    keep_head(probs, n);
  }
  return probs;
}

Sampler::Sampler(const SamplingParams& params) : params_(params) {
  validate_sampling_params(params_);
}

void Sampler::accept(std::span<const int32_t> ids) {
  const size_t limit = static_cast<size_t>(params_.repeat_last_n);
  history_.insert(history_.end(), ids.begin(), ids.end());
  if (history_.size() > limit)
    history_.erase(history_.begin(),
                   history_.begin() + static_cast<std::ptrdiff_t>(history_.size() - limit));
}

int32_t Sampler::sample(std::span<const float> logits) {
  std::span<const float> row = logits;
  if (params_.repeat_penalty != 1.0f && !history_.empty()) {
    scratch_.assign(logits.begin(), logits.end());
    apply_repetition_penalty(scratch_, history_, params_.repeat_penalty);
    row = scratch_;
  }
  if (params_.temperature == 0.0f) return argmax(row);
  const std::vector<TokenProbability> probs = sampling_distribution(row, params_);
  float u = 0;
  fill_uniform(&u, 1, params_.seed, 0, draws_++);
  // The first token whose cumulative probability passes u; rounding leaves the last.
  double cumulative = 0;
  for (const auto& t : probs) {
    cumulative += t.probability;
    if (u < cumulative) return t.id;
  }
  return probs.back().id;
}

}  // namespace mmgen::text
