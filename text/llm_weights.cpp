#include "text/llm_weights.h"

#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <string>

#include "core/error.h"

namespace mmgen::text {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

json read_json(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  MMGEN_CHECK(in.good(), path.string(), ": cannot open for reading");
  try {
    return json::parse(in);
  } catch (const json::parse_error& e) {
    fail(path.string(), ": invalid JSON: ", e.what());
  }
}

bool has_gguf_magic(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  char magic[4] = {};
  in.read(magic, 4);
  return in.gcount() == 4 && std::string(magic, 4) == "GGUF";
}

// Where each tensor name lives: one GGUF file, or the safetensors shards of a folder.
class TensorSource {
 public:
  void add_file(std::shared_ptr<const ModelFile> file) { files_.push_back(std::move(file)); }
  // Every tensor of `file` is looked up there.
  void map_all(const ModelFile& file) {
    for (const TensorInfo& info : file.tensors()) where_[info.name] = &file;
    default_ = &file;
  }
  void map(const std::string& name, const ModelFile& file) { where_[name] = &file; }
  // Names absent from the map are reported against this file (the index of a sharded folder).
  void set_index(fs::path index) { index_ = std::move(index); }

  bool contains(const std::string& name) const { return where_.count(name) != 0; }

  // The tensor, checked against the expected shape; errors name the tensor and file.
  Tensor get(const std::string& name, const Shape& expected) const {
    auto it = where_.find(name);
    if (it == where_.end()) {
      const std::string file =
          index_.empty() ? (default_ ? default_->path().string() : "?") : index_.string();
      fail(file, ": no tensor '", name, "'", index_.empty() ? "" : " in its weight_map");
    }
    const ModelFile& file = *it->second;
    const TensorInfo& info = file.info(name);
    MMGEN_CHECK(info.shape == expected, file.path().string(), ": tensor '", name, "' has shape ",
                shape_str(info.shape), ", expected ", shape_str(expected));
    return file.tensor(name);
  }
  Tensor get_if(const std::string& name, const Shape& expected) const {
    return contains(name) ? get(name, expected) : Tensor();
  }
  // A 1-D parameter (norm weight, bias), converted to f32.
  Tensor vec(const std::string& name, int64_t length) const {
    const Tensor t = get(name, {length});
    return t.dtype() == DType::kF32 ? t : t.to(DType::kF32);
  }
  Tensor vec_if(const std::string& name, int64_t length) const {
    return contains(name) ? vec(name, length) : Tensor();
  }
  // A Conv1D weight stored [in, out], returned as a contiguous [out, in] copy.
  Tensor conv1d(const std::string& name, int64_t in, int64_t out) const {
    return get(name, {in, out}).transpose(0, 1).contiguous();
  }

  const std::vector<std::shared_ptr<const ModelFile>>& files() const { return files_; }

 private:
  std::vector<std::shared_ptr<const ModelFile>> files_;
  std::map<std::string, const ModelFile*> where_;
  const ModelFile* default_ = nullptr;
  fs::path index_;
};

// ---- llama / qwen2 ----

void load_llama_like(const TensorSource& src, const LlmConfig& c, bool gguf, LlmWeights& w) {
  const int64_t e = c.hidden_size, q_out = c.num_heads * c.head_dim,
                kv_out = c.num_kv_heads * c.head_dim, ff = c.intermediate_size;
  w.token_embd =
      src.get(gguf ? "token_embd.weight" : "model.embed_tokens.weight", {c.vocab_size, e});
  w.output_norm = src.vec(gguf ? "output_norm.weight" : "model.norm.weight", e);
  const std::string head = gguf ? "output.weight" : "lm_head.weight";
  // A GGUF file without output.weight has a tied head; a HF folder says so in its config.
  const bool tied = gguf ? !src.contains(head) : c.tie_word_embeddings;
  w.lm_head = tied ? w.token_embd : src.get(head, {c.vocab_size, e});
  for (int64_t i = 0; i < c.num_layers; ++i) {
    const std::string p =
        gguf ? "blk." + std::to_string(i) + "." : "model.layers." + std::to_string(i) + ".";
    auto name = [&](const char* gguf_name, const char* hf_name) {
      return p + (gguf ? gguf_name : hf_name);
    };
    LlmLayerWeights l;
    l.attn_norm = src.vec(name("attn_norm.weight", "input_layernorm.weight"), e);
    l.q = src.get(name("attn_q.weight", "self_attn.q_proj.weight"), {q_out, e});
    l.k = src.get(name("attn_k.weight", "self_attn.k_proj.weight"), {kv_out, e});
    l.v = src.get(name("attn_v.weight", "self_attn.v_proj.weight"), {kv_out, e});
    l.o = src.get(name("attn_output.weight", "self_attn.o_proj.weight"), {e, q_out});
    if (c.qkv_bias) {
      l.q_bias = src.vec(name("attn_q.bias", "self_attn.q_proj.bias"), q_out);
      l.k_bias = src.vec(name("attn_k.bias", "self_attn.k_proj.bias"), kv_out);
      l.v_bias = src.vec(name("attn_v.bias", "self_attn.v_proj.bias"), kv_out);
    } else if (gguf) {  // llama GGUF files say nothing about biases but may carry them
      l.q_bias = src.vec_if(name("attn_q.bias", ""), q_out);
      l.k_bias = src.vec_if(name("attn_k.bias", ""), kv_out);
      l.v_bias = src.vec_if(name("attn_v.bias", ""), kv_out);
    }
    l.o_bias = c.o_bias ? src.vec(name("attn_output.bias", "self_attn.o_proj.bias"), e)
               : gguf   ? src.vec_if(name("attn_output.bias", ""), e)
                        : Tensor();
    l.ffn_norm = src.vec(name("ffn_norm.weight", "post_attention_layernorm.weight"), e);
    l.gate = src.get(name("ffn_gate.weight", "mlp.gate_proj.weight"), {ff, e});
    l.up = src.get(name("ffn_up.weight", "mlp.up_proj.weight"), {ff, e});
    l.down = src.get(name("ffn_down.weight", "mlp.down_proj.weight"), {e, ff});
    if (c.mlp_bias) {
      l.gate_bias = src.vec(name("ffn_gate.bias", "mlp.gate_proj.bias"), ff);
      l.up_bias = src.vec(name("ffn_up.bias", "mlp.up_proj.bias"), ff);
      l.down_bias = src.vec(name("ffn_down.bias", "mlp.down_proj.bias"), e);
    }
    w.layers.push_back(std::move(l));
  }
  // See the header: llama GGUF q/k rows are permuted for the interleaved style.
  w.rope_style = gguf && c.arch == LlmArch::kLlama ? kernels::RopeStyle::kInterleaved
                                                   : kernels::RopeStyle::kRotateHalf;
  if (gguf) w.rope_freq_factors = src.vec_if("rope_freqs.weight", c.rotary_dims / 2);
}

// ---- gpt2 ----

void load_gpt2(const TensorSource& src, const LlmConfig& c, bool gguf, LlmWeights& w) {
  const int64_t e = c.hidden_size, ff = c.intermediate_size;
  // Hugging Face GPT-2 files carry a "transformer." prefix; the original release does not.
  const std::string t =
      gguf || src.contains("transformer.wte.weight") || !src.contains("wte.weight") ? "transformer."
                                                                                    : "";
  w.token_embd = src.get(gguf ? "token_embd.weight" : t + "wte.weight", {c.vocab_size, e});
  w.position_embd = src.get(gguf ? "position_embd.weight" : t + "wpe.weight", {c.max_positions, e});
  w.output_norm = src.vec(gguf ? "output_norm.weight" : t + "ln_f.weight", e);
  w.output_norm_bias = src.vec(gguf ? "output_norm.bias" : t + "ln_f.bias", e);
  if (gguf)
    w.lm_head =
        src.contains("output.weight") ? src.get("output.weight", {c.vocab_size, e}) : w.token_embd;
  else
    w.lm_head = c.tie_word_embeddings ? w.token_embd : src.get("lm_head.weight", {c.vocab_size, e});
  for (int64_t i = 0; i < c.num_layers; ++i) {
    LlmLayerWeights l;
    if (gguf) {
      const std::string p = "blk." + std::to_string(i) + ".";
      l.attn_norm = src.vec(p + "attn_norm.weight", e);
      l.attn_norm_bias = src.vec(p + "attn_norm.bias", e);
      l.qkv = src.get(p + "attn_qkv.weight", {3 * e, e});
      l.qkv_bias = src.vec(p + "attn_qkv.bias", 3 * e);
      l.o = src.get(p + "attn_output.weight", {e, e});
      l.o_bias = src.vec(p + "attn_output.bias", e);
      l.ffn_norm = src.vec(p + "ffn_norm.weight", e);
      l.ffn_norm_bias = src.vec(p + "ffn_norm.bias", e);
      l.up = src.get(p + "ffn_up.weight", {ff, e});
      l.up_bias = src.vec(p + "ffn_up.bias", ff);
      l.down = src.get(p + "ffn_down.weight", {e, ff});
      l.down_bias = src.vec(p + "ffn_down.bias", e);
    } else {
      const std::string p = t + "h." + std::to_string(i) + ".";
      l.attn_norm = src.vec(p + "ln_1.weight", e);
      l.attn_norm_bias = src.vec(p + "ln_1.bias", e);
      l.qkv = src.conv1d(p + "attn.c_attn.weight", e, 3 * e);
      l.qkv_bias = src.vec(p + "attn.c_attn.bias", 3 * e);
      l.o = src.conv1d(p + "attn.c_proj.weight", e, e);
      l.o_bias = src.vec(p + "attn.c_proj.bias", e);
      l.ffn_norm = src.vec(p + "ln_2.weight", e);
      l.ffn_norm_bias = src.vec(p + "ln_2.bias", e);
      l.up = src.conv1d(p + "mlp.c_fc.weight", e, ff);
      l.up_bias = src.vec(p + "mlp.c_fc.bias", ff);
      l.down = src.conv1d(p + "mlp.c_proj.weight", ff, e);
      l.down_bias = src.vec(p + "mlp.c_proj.bias", e);
    }
    w.layers.push_back(std::move(l));
  }
}

void load_arch(const TensorSource& src, const LlmConfig& config, bool gguf, LlmWeights& weights) {
  if (config.arch == LlmArch::kGpt2)
    load_gpt2(src, config, gguf, weights);
  else
    load_llama_like(src, config, gguf, weights);
}

LoadedLlm load_gguf(const fs::path& path) {
  std::shared_ptr<const ModelFile> file = ModelFile::open(path);
  LoadedLlm out;
  out.format = ModelFormat::kGguf;
  out.source = path;
  out.config = llm_config_from_gguf(file->metadata(), path.string());
  TensorSource src;
  src.add_file(file);
  src.map_all(*file);
  // The vocabulary size is optional metadata: the embedding's rows decide.
  const std::string embd = "token_embd.weight";
  MMGEN_CHECK(file->contains(embd), path.string(), ": no tensor '", embd, "'");
  const Shape& embd_shape = file->info(embd).shape;
  MMGEN_CHECK(embd_shape.size() == 2, path.string(), ": tensor '", embd, "' has shape ",
              shape_str(embd_shape), ", expected [n_vocab, ", out.config.hidden_size, "]");
  if (out.config.vocab_size == 0) out.config.vocab_size = embd_shape[0];
  if (out.config.arch == LlmArch::kLlama) {
    // Bias tensors decide whether llama projections have biases.
    out.config.qkv_bias = file->contains("blk.0.attn_q.bias");
    out.config.o_bias = file->contains("blk.0.attn_output.bias");
  }
  out.config.tie_word_embeddings = !file->contains("output.weight");
  load_arch(src, out.config, true, out.weights);
  out.files = src.files();
  return out;
}

LoadedLlm load_hf_folder(const fs::path& dir) {
  const fs::path config_path = dir / "config.json";
  MMGEN_CHECK(fs::is_regular_file(config_path), dir.string(),
              ": no config.json (expected a Hugging Face model folder or a .gguf file)");
  LoadedLlm out;
  out.format = ModelFormat::kSafetensors;
  out.source = dir;
  out.config = llm_config_from_hf(read_json(config_path), config_path.string());

  TensorSource src;
  const fs::path single = dir / "model.safetensors";
  const fs::path index_path = dir / "model.safetensors.index.json";
  if (fs::is_regular_file(single)) {
    std::shared_ptr<const ModelFile> file = ModelFile::open(single);
    src.add_file(file);
    src.map_all(*file);
  } else if (fs::is_regular_file(index_path)) {
    const json index = read_json(index_path);
    MMGEN_CHECK(
        index.is_object() && index.contains("weight_map") && index["weight_map"].is_object(),
        index_path.string(), ": field 'weight_map' (tensor name -> shard file) is missing");
    std::map<std::string, std::shared_ptr<const ModelFile>> shards;
    for (const auto& [name, shard] : index["weight_map"].items()) {
      MMGEN_CHECK(shard.is_string(), index_path.string(), ": weight_map entry '", name,
                  "' must name a shard file");
      const std::string shard_name = shard.get<std::string>();
      auto it = shards.find(shard_name);
      if (it == shards.end()) {
        const fs::path shard_path = dir / shard_name;
        MMGEN_CHECK(fs::is_regular_file(shard_path), index_path.string(), ": shard '", shard_name,
                    "' (for tensor '", name, "') is missing");
        it = shards.emplace(shard_name, ModelFile::open(shard_path)).first;
        src.add_file(it->second);
      }
      src.map(name, *it->second);
    }
    src.set_index(index_path);
  } else {
    fail(dir.string(), ": neither model.safetensors nor model.safetensors.index.json is present");
  }
  load_arch(src, out.config, false, out.weights);
  out.files = src.files();
  return out;
}

bool same_tensor(const Tensor& a, const Tensor& b) {
  return a.storage() == b.storage() && a.byte_offset() == b.byte_offset() &&
         a.shape() == b.shape() && a.strides() == b.strides() && a.dtype() == b.dtype();
}

}  // namespace

void move_llm_weights(LlmWeights& w, Device device) {
  if (device.is_cpu() && w.token_embd.device().is_cpu()) return;
  const auto move = [&](Tensor& t) {
    if (t.defined()) t = t.to(device);
  };
  const bool tied = same_tensor(w.lm_head, w.token_embd);
  move(w.token_embd);
  move(w.position_embd);
  move(w.output_norm);
  move(w.output_norm_bias);
  if (tied)
    w.lm_head = w.token_embd;  // one copy of the (often largest) matrix
  else
    move(w.lm_head);
  for (LlmLayerWeights& l : w.layers) {
    for (Tensor* t : {&l.attn_norm, &l.attn_norm_bias, &l.q,    &l.k,        &l.v,    &l.q_bias,
                      &l.k_bias,    &l.v_bias,         &l.qkv,  &l.qkv_bias, &l.o,    &l.o_bias,
                      &l.ffn_norm,  &l.ffn_norm_bias,  &l.gate, &l.up,       &l.down, &l.gate_bias,
                      &l.up_bias,   &l.down_bias})
      move(*t);
  }
}

LoadedLlm load_llm_weights(const fs::path& path) {
  std::error_code error;
  if (fs::is_directory(path, error)) return load_hf_folder(path);
  MMGEN_CHECK(fs::is_regular_file(path, error), path.string(), ": no such file or folder");
  if (has_gguf_magic(path)) return load_gguf(path);
  const std::string ext = path.extension().string();
  if (path.filename() == "config.json" || ext == ".safetensors" || ext == ".json")
    return load_hf_folder(path.parent_path().empty() ? fs::path(".") : path.parent_path());
  fail(path.string(),
       ": not a language model (expected a .gguf file or a Hugging Face folder with config.json)");
}

}  // namespace mmgen::text
