#include "text/llm.h"

#include <algorithm>
#include <numeric>

#include "core/error.h"
#include "kernels/ops.h"
#include "text/llm_blocks.h"

namespace mmgen::text {

LanguageModel::LanguageModel(LoadedLlm loaded, Device device)
    : loaded_(std::move(loaded)), device_(device) {
  require_device(device_, "language model device");
  move_llm_weights(loaded_.weights, device_);
  const LlmConfig& c = loaded_.config;
  if (c.arch != LlmArch::kGpt2) {
    std::vector<float> inv_freq = rope_inv_freq(c);
    // GGUF LLaMA 3 files carry the scaling as per-pair frequency divisors.
    if (loaded_.weights.rope_freq_factors.defined()) {
      const std::vector<float> factors = loaded_.weights.rope_freq_factors.to_f32_vector();
      for (size_t i = 0; i < inv_freq.size(); ++i) inv_freq[i] /= factors[i];
    }
    inv_freq_ = Tensor::from_vector(inv_freq, {static_cast<int64_t>(inv_freq.size())}).to(device_);
  }
}

KvCache LanguageModel::make_cache(int64_t n_ctx) const {
  const LlmConfig& c = config();
  MMGEN_CHECK(n_ctx >= 0 && n_ctx <= c.max_positions, source().string(), ": n_ctx ", n_ctx,
              " is outside [1, ", c.max_positions, "] (the model's context limit; 0 selects it)");
  return KvCache(c.num_layers, c.num_kv_heads, c.head_dim, n_ctx == 0 ? c.max_positions : n_ctx,
                 device_);
}

Tensor LanguageModel::forward(const std::vector<int32_t>& tokens, KvCache& cache) const {
  const LlmConfig& c = config();
  const LlmWeights& w = weights();
  const int64_t n = static_cast<int64_t>(tokens.size());
  MMGEN_CHECK(n > 0, source().string(), ": forward needs at least one token");
  MMGEN_CHECK(cache.layers() == c.num_layers, source().string(), ": the kv cache has ",
              cache.layers(), " layers but the model has ", c.num_layers,
              " (create it with make_cache())");
  MMGEN_CHECK(cache.device() == device_, source().string(), ": the kv cache is on ",
              cache.device().str(), " but the model computes on ", device_.str(),
              " (create it with make_cache())");
  for (int64_t i = 0; i < n; ++i) {
    const int32_t id = tokens[static_cast<size_t>(i)];
    MMGEN_CHECK(id >= 0 && id < c.vocab_size, source().string(), ": token id ", id, " at index ", i,
                " is outside the vocabulary [0, ", c.vocab_size, ")");
  }
  cache.check_room(n);

  // Ids and positions are made on the host and cross to the device as two small tensors.
  std::vector<int64_t> position_values(static_cast<size_t>(n));
  std::iota(position_values.begin(), position_values.end(), cache.length());
  const Tensor positions = Tensor::from_vector(position_values, {n}).to(device_);
  const Tensor ids = Tensor::from_vector(tokens, {n}).to(device_);

  Tensor x = kernels::embedding(w.token_embd, ids);  // [n, hidden]
  if (c.arch == LlmArch::kGpt2) x = kernels::add(x, kernels::embedding(w.position_embd, positions));

  kernels::RopeParams rope;
  rope.rotary_dims = static_cast<int>(c.rotary_dims);
  rope.style = w.rope_style;
  rope.inv_freq = inv_freq_;
  const BlockInputs inputs{c, cache, positions, rope};
  for (int64_t i = 0; i < c.num_layers; ++i) {
    const LlmLayerWeights& layer = w.layers[static_cast<size_t>(i)];
    x = c.arch == LlmArch::kGpt2 ? gpt2_block(x, layer, i, inputs)
                                 : llama_block(x, layer, i, inputs);
  }
  cache.commit(n);  // only after every layer wrote its keys: a failure leaves it unchanged

  x = c.arch == LlmArch::kGpt2
          ? kernels::layer_norm(x, w.output_norm, w.output_norm_bias,
                                static_cast<float>(c.norm_eps))
          : kernels::rms_norm(x, w.output_norm, static_cast<float>(c.norm_eps));
  return kernels::linear(x, w.lm_head);  // [n, vocab]
}

std::vector<int32_t> LanguageModel::generate_greedy(const std::vector<int32_t>& prompt,
                                                    int64_t n_new, KvCache& cache,
                                                    const std::vector<int64_t>& stop_ids) const {
  MMGEN_CHECK(n_new >= 0, source().string(), ": n_new must not be negative, got ", n_new);
  std::vector<int32_t> out;
  if (n_new == 0) return out;
  // The last token generated is never fed back, so prompt + n_new - 1 positions suffice.
  cache.check_room(static_cast<int64_t>(prompt.size()) + n_new - 1);
  Tensor logits = forward(prompt, cache);
  while (true) {
    const Tensor last = logits.narrow(0, logits.dim(0) - 1, 1);
    // argmax runs where the logits are; only the chosen id crosses to the host.
    const int32_t next = static_cast<int32_t>(kernels::argmax(last).cpu().to_i64_vector()[0]);
    out.push_back(next);
    if (static_cast<int64_t>(out.size()) == n_new) break;
    if (std::find(stop_ids.begin(), stop_ids.end(), next) != stop_ids.end()) break;
    logits = forward({next}, cache);
  }
  return out;
}

std::unique_ptr<LanguageModel> load_llm(const std::filesystem::path& path, Device device) {
  // Checked first: a device that cannot run here is one clear error, before any file is read.
  require_device(device, "language model device");
  return std::make_unique<LanguageModel>(load_llm_weights(path), device);
}

}  // namespace mmgen::text
