// Decoder-only language models (llama / Mistral, qwen2, gpt2) loaded from a Hugging
// Face folder or a GGUF file, with a KV cache for batched prefill followed by
// token-by-token decoding. Activations are f32; weights stay in their file dtype.
// The model computes on one device (the CPU or a CUDA device), chosen at load time:
// its weights and KV caches live there; token ids go in and logits come out as tensors
// on that device.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <vector>

#include "core/tensor.h"
#include "text/kv_cache.h"
#include "text/llm_config.h"
#include "text/llm_weights.h"

namespace mmgen::text {

class LanguageModel {
 public:
  // Places every weight on `device` once (a copy for CUDA; the CPU keeps the views).
  explicit LanguageModel(LoadedLlm loaded, Device device = Device::cpu());

  const LlmConfig& config() const { return loaded_.config; }
  const LlmWeights& weights() const { return loaded_.weights; }
  ModelFormat format() const { return loaded_.format; }
  Device device() const { return device_; }
  const std::filesystem::path& source() const { return loaded_.source; }

  // An empty cache on the model's device holding at most n_ctx positions; 0 means the
  // model's own limit (max_position_embeddings / GGUF context_length). A larger
  // n_ctx than the model's limit is an Error.
  KvCache make_cache(int64_t n_ctx = 0) const;

  // Runs the new tokens at positions cache.length().. (one batch, causal), appends
  // their keys and values to the cache, and returns their logits [n, vocab] f32 on
  // the model's device.
  // Throws Error (and leaves the cache unchanged) for an empty batch, an id outside
  // the vocabulary, a cache of another shape, or a batch past the context limit.
  Tensor forward(const std::vector<int32_t>& tokens, KvCache& cache) const;

  // Greedy (argmax) continuation: prefill of `prompt`, then up to n_new tokens, each
  // decoded from the previous one. Stops early after emitting an id of stop_ids.
  // Returns the new ids only.
  std::vector<int32_t> generate_greedy(const std::vector<int32_t>& prompt, int64_t n_new,
                                       KvCache& cache,
                                       const std::vector<int64_t>& stop_ids = {}) const;

 private:
  LoadedLlm loaded_;
  Device device_;
  Tensor inv_freq_;  // rotary frequencies (llama, qwen2), on device_
};

// Loads a Hugging Face folder (config.json + model.safetensors or shards), a file
// inside one, or a .gguf file; the architecture comes from the file. The model
// computes on `device`; a device this build or machine cannot use (no CUDA support,
// no CUDA device, an ordinal past the devices present) is an Error before any file
// is read.
std::unique_ptr<LanguageModel> load_llm(const std::filesystem::path& path,
                                        Device device = Device::cpu());

}  // namespace mmgen::text
