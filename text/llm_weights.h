// Loading the weights of a decoder-only language model from a Hugging Face folder
// (config.json + model.safetensors, or shards listed by model.safetensors.index.json)
// or from a single GGUF file, mapping both naming schemes onto one structure.
//
// Matrices stay in their file dtype (f32, f16, bf16 or a GGUF block type) as views
// into the mapped file; kernels::linear reads them with f32 accumulation. Only two
// things are copied at load time:
// - 1-D parameters (norm weights, biases) are converted to f32 (tiny);
// - GPT-2's Hugging Face Conv1D weights, stored [in, out], are transposed once into
//   the [out, in] layout of linear (the GGUF form already stores them [out, in]).
//
// RoPE: llama.cpp's converter permutes the rows of LLaMA's q/k projections in each
// head so that adjacent pairs (2i, 2i+1) rotate together. Instead of undoing that
// permutation (a copy, and awkward for quantised rows), the loader keeps the GGUF
// rows as they are and selects the interleaved RoPE style for llama GGUF files:
// the rotated q and k then differ from the Hugging Face ones by the same
// permutation of each head's dims, which leaves every q.k score, and so the
// output, unchanged. Qwen2 GGUF files are not permuted and use rotate-half.
#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "core/model_file.h"
#include "core/tensor.h"
#include "kernels/ops.h"
#include "text/llm_config.h"

namespace mmgen::text {

// One transformer block's parameters. Unused entries stay undefined.
struct LlmLayerWeights {
  // Pre-attention norm: RMSNorm weight (llama, qwen2) or LayerNorm weight + bias (gpt2).
  Tensor attn_norm, attn_norm_bias;
  // Separate projections (llama, qwen2), [out, in].
  Tensor q, k, v, q_bias, k_bias, v_bias;
  // Fused q|k|v projection (gpt2), [3 * hidden, hidden].
  Tensor qkv, qkv_bias;
  Tensor o, o_bias;
  Tensor ffn_norm, ffn_norm_bias;
  // SwiGLU (llama, qwen2): down(silu(gate(x)) * up(x)); GELU MLP (gpt2): down(gelu(up(x))).
  Tensor gate, up, down, gate_bias, up_bias, down_bias;
};

struct LlmWeights {
  Tensor token_embd;     // [vocab, hidden]
  Tensor position_embd;  // gpt2: [max_positions, hidden]
  Tensor output_norm, output_norm_bias;
  Tensor lm_head;  // [vocab, hidden]; the token embedding when the head is tied
  std::vector<LlmLayerWeights> layers;
  kernels::RopeStyle rope_style = kernels::RopeStyle::kRotateHalf;
  // GGUF rope_freqs.weight (LLaMA 3 frequency divisors, [rotary_dims / 2]) or undefined.
  Tensor rope_freq_factors;
};

struct LoadedLlm {
  LlmConfig config;
  LlmWeights weights;
  ModelFormat format = ModelFormat::kSafetensors;
  std::filesystem::path source;  // the folder or the .gguf file
  // The opened files (the weights are views into their mappings).
  std::vector<std::shared_ptr<const ModelFile>> files;
};

// Copies every tensor of `weights` that forward() reads onto `device`, in its dtype
// (nothing to do for the CPU). A tied head stays one tensor shared with the token
// embedding. rope_freq_factors stays on the host: it is read once, at construction.
void move_llm_weights(LlmWeights& weights, Device device);

// A Hugging Face folder (or a config.json / .safetensors file inside one) or a
// .gguf file. Throws Error naming the file and tensor for anything missing or
// misshapen, and naming the architecture when it is not supported.
LoadedLlm load_llm_weights(const std::filesystem::path& path);

}  // namespace mmgen::text
