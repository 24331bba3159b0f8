// The transformer blocks of the decoder-only models, and the cached attention they
// share. Activations are [n, hidden] f32 for the n new tokens of one forward pass.
#pragma once

#include <cstdint>

#include "core/tensor.h"
#include "kernels/ops.h"
#include "text/kv_cache.h"
#include "text/llm_config.h"
#include "text/llm_weights.h"

namespace mmgen::text {

// What every block of one forward pass shares.
struct BlockInputs {
  const LlmConfig& config;
  KvCache& cache;
  const Tensor& positions;          // i64 [n]: cache.length() .. cache.length() + n - 1
  const kernels::RopeParams& rope;  // llama / qwen2
};

// q: [n, Hq, D], k, v: [n, Hkv, D] for the new tokens. Writes k, v into the cache
// and attends causally over every cached position (query i sees the cached prefix
// and new tokens up to itself). scale 0 means 1/sqrt(D). Returns [n, Hq * D].
Tensor cached_attention(const Tensor& q, const Tensor& k, const Tensor& v, KvCache& cache,
                        int64_t layer, float scale = 0.0f);

// llama / qwen2: x + attn(rms_norm(x)), then + swiglu(rms_norm(x)).
Tensor llama_block(const Tensor& x, const LlmLayerWeights& w, int64_t layer, const BlockInputs& in);
// gpt2: x + attn(layer_norm(x)), then + mlp(layer_norm(x)) with GELU (tanh).
Tensor gpt2_block(const Tensor& x, const LlmLayerWeights& w, int64_t layer, const BlockInputs& in);

}  // namespace mmgen::text
