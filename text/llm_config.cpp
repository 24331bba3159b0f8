#include "text/llm_config.h"

#include <algorithm>
#include <cmath>
#include <numbers>

#include "core/error.h"

namespace mmgen::text {

using nlohmann::json;

namespace {

// ---- JSON field access with errors naming the file and the field ----

const json* find(const json& object, const std::string& key) {
  auto it = object.find(key);
  if (it == object.end() || it->is_null()) return nullptr;
  return &*it;
}

int64_t get_int(const json& object, const std::string& key, const std::string& where) {
  const json* value = find(object, key);
  MMGEN_CHECK(value != nullptr, where, ": field '", key, "' is missing");
  MMGEN_CHECK(value->is_number_integer() || value->is_number_unsigned(), where, ": field '", key,
              "' must be an integer, got ", value->dump());
  return value->get<int64_t>();
}

int64_t get_int_or(const json& object, const std::string& key, int64_t fallback,
                   const std::string& where) {
  return find(object, key) ? get_int(object, key, where) : fallback;
}

double get_number(const json& object, const std::string& key, const std::string& where) {
  const json* value = find(object, key);
  MMGEN_CHECK(value != nullptr, where, ": field '", key, "' is missing");
  MMGEN_CHECK(value->is_number(), where, ": field '", key, "' must be a number, got ",
              value->dump());
  return value->get<double>();
}

double get_number_or(const json& object, const std::string& key, double fallback,
                     const std::string& where) {
  return find(object, key) ? get_number(object, key, where) : fallback;
}

bool get_bool_or(const json& object, const std::string& key, bool fallback,
                 const std::string& where) {
  const json* value = find(object, key);
  if (!value) return fallback;
  MMGEN_CHECK(value->is_boolean(), where, ": field '", key, "' must be a boolean, got ",
              value->dump());
  return value->get<bool>();
}

std::string get_string(const json& object, const std::string& key, const std::string& where) {
  const json* value = find(object, key);
  MMGEN_CHECK(value != nullptr, where, ": field '", key, "' is missing");
  MMGEN_CHECK(value->is_string(), where, ": field '", key, "' must be a string, got ",
              value->dump());
  return value->get<std::string>();
}

// eos_token_id may be one id or a list of ids (LLaMA 3).
std::vector<int64_t> get_ids(const json& object, const std::string& key, const std::string& where) {
  const json* value = find(object, key);
  if (!value) return {};
  if (value->is_array()) {
    std::vector<int64_t> ids;
    for (const json& id : *value) {
      MMGEN_CHECK(id.is_number_integer(), where, ": field '", key, "' must hold integers, got ",
                  value->dump());
      ids.push_back(id.get<int64_t>());
    }
    return ids;
  }
  return {get_int(object, key, where)};
}

void check_positive(int64_t value, const std::string& name, const std::string& where) {
  MMGEN_CHECK(value > 0, where, ": ", name, " must be positive, got ", value);
}

// Checks shared by both sources, after every field is filled.
void validate(LlmConfig& config, const std::string& where) {
  check_positive(config.hidden_size, "hidden size", where);
  check_positive(config.intermediate_size, "intermediate (feed-forward) size", where);
  check_positive(config.num_layers, "layer count", where);
  check_positive(config.num_heads, "attention head count", where);
  check_positive(config.num_kv_heads, "key/value head count", where);
  check_positive(config.head_dim, "head dim", where);
  check_positive(config.max_positions, "context length", where);
  MMGEN_CHECK(config.num_heads % config.num_kv_heads == 0, where, ": ", config.num_heads,
              " attention heads are not a multiple of ", config.num_kv_heads, " key/value heads");
  if (config.arch == LlmArch::kGpt2) {
    MMGEN_CHECK(config.head_dim * config.num_heads == config.hidden_size, where, ": hidden size ",
                config.hidden_size, " is not divisible by ", config.num_heads, " heads");
    return;
  }
  if (config.rotary_dims == 0) config.rotary_dims = config.head_dim;
  MMGEN_CHECK(config.rotary_dims > 0 && config.rotary_dims <= config.head_dim &&
                  config.rotary_dims % 2 == 0,
              where, ": rotary dims ", config.rotary_dims,
              " must be even and at most the head dim ", config.head_dim);
  MMGEN_CHECK(config.rope_theta > 0 && std::isfinite(config.rope_theta), where,
              ": rope theta must be positive, got ", config.rope_theta);
  const RopeScaling& scaling = config.rope_scaling;
  if (scaling.type != RopeScalingType::kNone)
    MMGEN_CHECK(scaling.factor > 0, where, ": rope scaling factor must be positive, got ",
                scaling.factor);
  if (scaling.type == RopeScalingType::kLlama3) {
    MMGEN_CHECK(scaling.high_freq_factor > scaling.low_freq_factor && scaling.low_freq_factor > 0 &&
                    scaling.original_max_position_embeddings > 0,
                where, ": llama3 rope scaling needs 0 < low_freq_factor (", scaling.low_freq_factor,
                ") < high_freq_factor (", scaling.high_freq_factor,
                ") and a positive original_max_position_embeddings");
  }
}

RopeScaling hf_rope_scaling(const json& config, const std::string& where) {
  RopeScaling scaling;
  const json* rope = find(config, "rope_scaling");
  if (!rope) return scaling;
  const std::string field_where = where + " rope_scaling";
  MMGEN_CHECK(rope->is_object(), where, ": field 'rope_scaling' must be an object or null, got ",
              rope->dump());
  // transformers writes "rope_type"; older configs "type".
  const std::string type = find(*rope, "rope_type") ? get_string(*rope, "rope_type", field_where)
                                                    : get_string(*rope, "type", field_where);
  if (type == "default") return scaling;
  if (type == "linear") {
    scaling.type = RopeScalingType::kLinear;
    scaling.factor = get_number(*rope, "factor", field_where);
  } else if (type == "llama3") {
    scaling.type = RopeScalingType::kLlama3;
    scaling.factor = get_number(*rope, "factor", field_where);
    scaling.low_freq_factor = get_number(*rope, "low_freq_factor", field_where);
    scaling.high_freq_factor = get_number(*rope, "high_freq_factor", field_where);
    scaling.original_max_position_embeddings =
        get_int(*rope, "original_max_position_embeddings", field_where);
  } else {
    fail(where, ": rope_scaling type '", type,
         "' is not supported (supported: default, linear, llama3)");
  }
  return scaling;
}

LlmConfig hf_llama_like(const json& config, LlmArch arch, const std::string& where) {
  LlmConfig c;
  c.arch = arch;
  c.vocab_size = get_int(config, "vocab_size", where);
  c.hidden_size = get_int(config, "hidden_size", where);
  c.intermediate_size = get_int(config, "intermediate_size", where);
  c.num_layers = get_int(config, "num_hidden_layers", where);
  c.num_heads = get_int(config, "num_attention_heads", where);
  c.num_kv_heads = get_int_or(config, "num_key_value_heads", c.num_heads, where);
  check_positive(c.num_heads, "num_attention_heads", where);
  c.head_dim = get_int_or(config, "head_dim", c.hidden_size / c.num_heads, where);
  c.max_positions = get_int(config, "max_position_embeddings", where);
  c.norm_eps = get_number(config, "rms_norm_eps", where);
  c.rope_theta = get_number_or(config, "rope_theta", 10000.0, where);
  c.rotary_dims = c.head_dim;
  c.rope_scaling = hf_rope_scaling(config, where);
  c.tie_word_embeddings = get_bool_or(config, "tie_word_embeddings", false, where);
  if (arch == LlmArch::kQwen2) {
    c.qkv_bias = true;  // Qwen2 attention always has q/k/v biases and none on o_proj
  } else {
    c.qkv_bias = c.o_bias = get_bool_or(config, "attention_bias", false, where);
    c.mlp_bias = get_bool_or(config, "mlp_bias", false, where);
  }
  // Sliding-window attention is not implemented: within the window it equals full
  // causal attention, so the window becomes the context limit.
  const bool sliding = arch == LlmArch::kQwen2
                           ? get_bool_or(config, "use_sliding_window", false, where)
                           : find(config, "sliding_window") != nullptr;
  if (sliding && find(config, "sliding_window"))
    c.max_positions = std::min(c.max_positions, get_int(config, "sliding_window", where));
  return c;
}

LlmConfig hf_gpt2(const json& config, const std::string& where) {
  LlmConfig c;
  c.arch = LlmArch::kGpt2;
  c.vocab_size = get_int(config, "vocab_size", where);
  c.hidden_size = get_int(config, "n_embd", where);
  c.intermediate_size = get_int_or(config, "n_inner", 4 * c.hidden_size, where);
  c.num_layers = get_int(config, "n_layer", where);
  c.num_heads = get_int(config, "n_head", where);
  check_positive(c.num_heads, "n_head", where);
  c.num_kv_heads = c.num_heads;
  c.head_dim = c.hidden_size / c.num_heads;
  c.max_positions = get_int(config, "n_positions", where);
  c.norm_eps = get_number_or(config, "layer_norm_epsilon", 1e-5, where);
  const std::string activation = find(config, "activation_function")
                                     ? get_string(config, "activation_function", where)
                                     : "gelu_new";
  MMGEN_CHECK(activation == "gelu_new" || activation == "gelu_pytorch_tanh", where,
              ": activation_function '", activation,
              "' is not supported for gpt2 (supported: gelu_new, gelu_pytorch_tanh)");
  MMGEN_CHECK(get_bool_or(config, "scale_attn_weights", true, where), where,
              ": scale_attn_weights false is not supported");
  c.scale_attn_by_inverse_layer_idx =
      get_bool_or(config, "scale_attn_by_inverse_layer_idx", false, where);
  c.tie_word_embeddings = get_bool_or(config, "tie_word_embeddings", true, where);
  return c;
}

}  // namespace

std::string_view llm_arch_name(LlmArch arch) {
  switch (arch) {
    case LlmArch::kLlama:
      return "llama";
    case LlmArch::kQwen2:
      return "qwen2";
    case LlmArch::kGpt2:
      return "gpt2";
  }
  return "?";
}

LlmArch llm_arch_from_hf(const std::string& architecture, const std::string& where) {
  if (architecture == "LlamaForCausalLM" || architecture == "MistralForCausalLM")
    return LlmArch::kLlama;
  if (architecture == "Qwen2ForCausalLM") return LlmArch::kQwen2;
  if (architecture == "GPT2LMHeadModel") return LlmArch::kGpt2;
  fail(where, ": architecture '", architecture,
       "' is not supported (supported: LlamaForCausalLM, MistralForCausalLM, Qwen2ForCausalLM, "
       "GPT2LMHeadModel)");
}

LlmArch llm_arch_from_gguf(const std::string& architecture, const std::string& where) {
  if (architecture == "llama") return LlmArch::kLlama;
  if (architecture == "qwen2") return LlmArch::kQwen2;
  if (architecture == "gpt2") return LlmArch::kGpt2;
  fail(where, ": general.architecture '", architecture,
       "' is not supported (supported: llama, qwen2, gpt2)");
}

LlmConfig llm_config_from_hf(const json& config, const std::string& where) {
  MMGEN_CHECK(config.is_object(), where, ": expected a JSON object");
  const json* architectures = find(config, "architectures");
  MMGEN_CHECK(architectures && architectures->is_array() && !architectures->empty() &&
                  (*architectures)[0].is_string(),
              where, ": field 'architectures' must be a non-empty list of names");
  const LlmArch arch = llm_arch_from_hf((*architectures)[0].get<std::string>(), where);
  LlmConfig c =
      arch == LlmArch::kGpt2 ? hf_gpt2(config, where) : hf_llama_like(config, arch, where);
  const std::vector<int64_t> bos = get_ids(config, "bos_token_id", where);
  if (!bos.empty()) c.bos_token_id = bos.front();
  c.eos_token_ids = get_ids(config, "eos_token_id", where);
  check_positive(c.vocab_size, "vocab_size", where);
  validate(c, where);
  return c;
}

LlmConfig llm_config_from_gguf(const json& metadata, const std::string& where) {
  const std::string name = get_string(metadata, "general.architecture", where);
  LlmConfig c;
  c.arch = llm_arch_from_gguf(name, where);
  const std::string p = name + ".";
  c.vocab_size = get_int_or(metadata, p + "vocab_size", 0, where);
  c.hidden_size = get_int(metadata, p + "embedding_length", where);
  c.intermediate_size = get_int(metadata, p + "feed_forward_length", where);
  c.num_layers = get_int(metadata, p + "block_count", where);
  c.num_heads = get_int(metadata, p + "attention.head_count", where);
  check_positive(c.num_heads, p + "attention.head_count", where);
  c.num_kv_heads = get_int_or(metadata, p + "attention.head_count_kv", c.num_heads, where);
  c.head_dim = get_int_or(metadata, p + "attention.key_length", c.hidden_size / c.num_heads, where);
  const int64_t value_dim = get_int_or(metadata, p + "attention.value_length", c.head_dim, where);
  MMGEN_CHECK(value_dim == c.head_dim, where, ": ", p, "attention.value_length ", value_dim,
              " differs from the key length ", c.head_dim, " (not supported)");
  c.max_positions = get_int(metadata, p + "context_length", where);
  if (c.arch == LlmArch::kGpt2) {
    c.norm_eps = get_number(metadata, p + "attention.layer_norm_epsilon", where);
    c.tie_word_embeddings = true;  // the loader unties it when output.weight is present
  } else {
    c.norm_eps = get_number(metadata, p + "attention.layer_norm_rms_epsilon", where);
    c.rope_theta = get_number_or(metadata, p + "rope.freq_base", 10000.0, where);
    c.rotary_dims = get_int_or(metadata, p + "rope.dimension_count", c.head_dim, where);
    const std::string scaling = find(metadata, p + "rope.scaling.type")
                                    ? get_string(metadata, p + "rope.scaling.type", where)
                                    : "none";
    if (scaling == "linear") {
      c.rope_scaling.type = RopeScalingType::kLinear;
      c.rope_scaling.factor = get_number(metadata, p + "rope.scaling.factor", where);
    } else if (scaling != "none") {
      fail(where, ": ", p, "rope.scaling.type '", scaling,
           "' is not supported (supported: none, linear; LLaMA 3 files carry rope_freqs.weight)");
    }
    c.qkv_bias = c.arch == LlmArch::kQwen2;  // llama: the loader looks for bias tensors
  }
  const std::vector<int64_t> bos = get_ids(metadata, "tokenizer.ggml.bos_token_id", where);
  if (!bos.empty()) c.bos_token_id = bos.front();
  c.eos_token_ids = get_ids(metadata, "tokenizer.ggml.eos_token_id", where);
  validate(c, where);
  return c;
}

std::vector<float> rope_inv_freq(const LlmConfig& config) {
  const int64_t pairs = config.rotary_dims / 2;
  const RopeScaling& s = config.rope_scaling;
  std::vector<float> inv_freq(static_cast<size_t>(pairs));
  for (int64_t i = 0; i < pairs; ++i) {
    double f = 1.0 / std::pow(config.rope_theta,
                              static_cast<double>(2 * i) / static_cast<double>(config.rotary_dims));
    if (s.type == RopeScalingType::kLinear) {
      f /= s.factor;
    } else if (s.type == RopeScalingType::kLlama3) {
      // Wavelengths longer than the original context / low_freq_factor are slowed
      // by `factor`; shorter than original / high_freq_factor are kept; between
      // the two, a linear blend in original / wavelength.
      const double original = static_cast<double>(s.original_max_position_embeddings);
      const double wavelength = 2.0 * std::numbers::pi / f;
      const double low_wavelength = original / s.low_freq_factor;
      const double high_wavelength = original / s.high_freq_factor;
      if (wavelength > low_wavelength) {
        f /= s.factor;
      } else if (wavelength >= high_wavelength) {
        const double smooth =
            (original / wavelength - s.low_freq_factor) / (s.high_freq_factor - s.low_freq_factor);
        f = (1.0 - smooth) * f / s.factor + smooth * f;
      }
    }
    inv_freq[static_cast<size_t>(i)] = static_cast<float>(f);
  }
  return inv_freq;
}

}  // namespace mmgen::text
