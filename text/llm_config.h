// Hyperparameters of the decoder-only language models (llama, qwen2, gpt2), read
// from a Hugging Face config.json or from GGUF metadata. Nothing is assumed about
// sizes: every dimension comes from the file.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace mmgen::text {

// The block structures the decoder implements. Mistral checkpoints are llama blocks.
enum class LlmArch {
  kLlama,  // RMSNorm, RoPE, grouped-query attention, SwiGLU MLP
  kQwen2,  // llama blocks with q/k/v biases
  kGpt2,   // LayerNorm, learned positions, fused qkv, GELU (tanh) MLP
};
std::string_view llm_arch_name(LlmArch arch);  // "llama", "qwen2", "gpt2"

// Maps a config.json `architectures` entry (LlamaForCausalLM, MistralForCausalLM,
// Qwen2ForCausalLM, GPT2LMHeadModel) or a GGUF `general.architecture` value
// (llama, qwen2, gpt2). Throws Error naming the architecture and `where` otherwise.
LlmArch llm_arch_from_hf(const std::string& architecture, const std::string& where);
LlmArch llm_arch_from_gguf(const std::string& architecture, const std::string& where);

// How the rotary frequencies are rescaled for long contexts.
enum class RopeScalingType {
  kNone,
  kLinear,  // inv_freq / factor
  kLlama3,  // LLaMA 3.1: low frequencies / factor, high ones kept, a smooth band between
};
struct RopeScaling {
  RopeScalingType type = RopeScalingType::kNone;
  double factor = 1.0;
  double low_freq_factor = 1.0;
  double high_freq_factor = 4.0;
  int64_t original_max_position_embeddings = 8192;
};

struct LlmConfig {
  LlmArch arch = LlmArch::kLlama;
  int64_t vocab_size = 0;
  int64_t hidden_size = 0;
  int64_t intermediate_size = 0;
  int64_t num_layers = 0;
  int64_t num_heads = 0;
  int64_t num_kv_heads = 0;
  int64_t head_dim = 0;
  int64_t max_positions = 0;  // the model's context limit
  double norm_eps = 1e-5;     // RMSNorm (llama, qwen2) or LayerNorm (gpt2) epsilon

  // llama / qwen2
  double rope_theta = 10000.0;
  int64_t rotary_dims = 0;  // rotated dims of each head (head_dim unless the file says less)
  RopeScaling rope_scaling;
  bool qkv_bias = false;  // q/k/v projections carry biases (qwen2; llama's attention_bias)
  bool o_bias = false;    // the output projection carries a bias (llama's attention_bias)
  bool mlp_bias = false;  // gate/up/down carry biases (llama's mlp_bias)

  // gpt2
  bool scale_attn_by_inverse_layer_idx = false;

  bool tie_word_embeddings = false;  // the lm head is the token embedding
  std::optional<int64_t> bos_token_id;
  std::vector<int64_t> eos_token_ids;
};

// From a parsed config.json; `where` (the file) prefixes every error.
LlmConfig llm_config_from_hf(const nlohmann::json& config, const std::string& where);
// From GGUF metadata (ModelFile::metadata()). Fields the metadata may omit (vocab
// size, tied head) are completed by the weight loader from the tensors.
LlmConfig llm_config_from_gguf(const nlohmann::json& metadata, const std::string& where);

// The per-pair inverse frequencies [rotary_dims / 2] of the rotary embedding:
// theta^(-2i/rotary_dims), rescaled by config.rope_scaling.
std::vector<float> rope_inv_freq(const LlmConfig& config);

}  // namespace mmgen::text
