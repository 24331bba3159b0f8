// Choosing the next token from a row of logits: greedy, or a draw from the
// distribution that temperature, top-k, top-p and min-p leave, after a
// repetition penalty. Draws come from the Philox stream (seed, 0) of
// core/random.h, element 0, 1, 2, ... in order, so a seed replays a run exactly.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

namespace mmgen::text {

struct SamplingParams {
  float temperature = 0.8f;     // 0: greedy (argmax); otherwise logits / temperature
  int32_t top_k = 40;           // keep the k most likely tokens; 0: all
  float top_p = 0.95f;          // keep the smallest head of mass >= top_p; 1: all
  float min_p = 0.05f;          // keep tokens with p >= min_p * p_max; 0: all
  float repeat_penalty = 1.0f;  // > 1 discourages recent tokens; 1: off
  int32_t repeat_last_n = 64;   // how many recent tokens the penalty looks at; 0: none
  uint64_t seed = 0;
};

// Throws Error naming the first parameter out of range: temperature < 0 or not
// finite, top_k < 0, top_p outside (0, 1], min_p outside [0, 1],
// repeat_penalty <= 0, repeat_last_n < 0.
void validate_sampling_params(const SamplingParams& params);

// The repetition penalty of llama.cpp and Hugging Face: each distinct id among
// `recent` has its logit divided by `penalty` when positive, multiplied when
// negative. Ids outside the logits are an Error.
void apply_repetition_penalty(std::span<float> logits, std::span<const int32_t> recent,
                              float penalty);

struct TokenProbability {
  int32_t id = 0;
  float probability = 0;
};

// The distribution a draw is made from: softmax(logits / temperature), then
// top-k, top-p and min-p in that order, each renormalising what it keeps.
// Sorted by probability, most likely first (ties: lower id first). Needs
// temperature > 0; the penalty is not applied here.
std::vector<TokenProbability> sampling_distribution(std::span<const float> logits,
                                                    const SamplingParams& params);

// The index of the largest logit (the lowest index among equal ones).
int32_t argmax(std::span<const float> logits);

class Sampler {
 public:
  // Validates the parameters.
  explicit Sampler(const SamplingParams& params);

  const SamplingParams& params() const { return params_; }
  // Uniform draws made so far (the next one is element draws() of the stream).
  uint64_t draws() const { return draws_; }

  // Adds ids to the history the repetition penalty looks at (the prompt, then
  // every token chosen).
  void accept(std::span<const int32_t> ids);
  void accept(int32_t id) { accept(std::span<const int32_t>(&id, 1)); }

  // Picks the next token from one row of logits (not modified) under the
  // penalty over the history; the caller accepts it.
  int32_t sample(std::span<const float> logits);

 private:
  SamplingParams params_;
  uint64_t draws_ = 0;
  std::vector<int32_t> history_;  // the last repeat_last_n ids at most
  std::vector<float> scratch_;
};

}  // namespace mmgen::text
