#include "text/clip_text_model.h"

#include "core/error.h"
#include "kernels/ops.h"

namespace mmgen::text {

namespace {

// Every CLIP text encoder (ViT-L/14's for SD1, OpenCLIP ViT-H/14's for SD2) uses
// 64-wide heads, so the head count follows from the hidden size.
constexpr int64_t kHeadDim = 64;

std::string weight_name(const ClipTextConfig& c, const std::string& name) {
  return c.prefix + name;
}

// The tensor on `device`, checked for presence and shape (naming the file and the
// tensor); dtype conversions run on the host before the move.
Tensor load_tensor(const ModelFile& file, const std::string& name, const Shape& shape, bool to_f32,
                   Device device) {
  MMGEN_CHECK(file.contains(name), file.path().string(), ": CLIP text encoder tensor '", name,
              "' is missing");
  const TensorInfo& info = file.info(name);
  MMGEN_CHECK(info.shape == shape, file.path().string(), ": CLIP text encoder tensor '", name,
              "' has shape ", shape_str(info.shape), ", expected ", shape_str(shape));
  Tensor t = file.tensor(name);
  return (to_f32 && t.dtype() != DType::kF32 ? t.to(DType::kF32) : t).to(device);
}

const TensorInfo& require(const ModelFile& file, const std::string& name) {
  MMGEN_CHECK(file.contains(name), file.path().string(), ": CLIP text encoder tensor '", name,
              "' is missing");
  return file.info(name);
}

}  // namespace

const std::vector<std::string>& clip_text_prefixes() {
  static const std::vector<std::string> prefixes = {
      "cond_stage_model.transformer.text_model.",  // SD1.x single-file checkpoints
      "text_model.",                               // Hugging Face text_encoder
      "transformer.text_model.",
      "conditioner.embedders.0.transformer.text_model.",  // SDXL's first encoder
  };
  return prefixes;
}

ClipTextConfig infer_clip_text_config(const ModelFile& file, const ClipTextOptions& options) {
  ClipTextConfig c;
  const std::string token_key = "embeddings.token_embedding.weight";
  if (!options.prefix.empty()) {
    c.prefix = options.prefix;
  } else {
    for (const auto& prefix : clip_text_prefixes()) {
      if (file.contains(prefix + token_key)) {
        c.prefix = prefix;
        break;
      }
    }
    if (c.prefix.empty()) {
      std::string tried;
      for (const auto& prefix : clip_text_prefixes()) tried += " '" + prefix + token_key + "'";
      fail(file.path().string(), ": no CLIP text encoder found (looked for", tried, ")");
    }
  }
  const TensorInfo& token = require(file, weight_name(c, token_key));
  MMGEN_CHECK(token.shape.size() == 2, file.path().string(), ": '", token.name, "' has shape ",
              shape_str(token.shape), ", expected [vocab, hidden]");
  c.vocab_size = token.shape[0];
  c.hidden_size = token.shape[1];
  const TensorInfo& position =
      require(file, weight_name(c, "embeddings.position_embedding.weight"));
  MMGEN_CHECK(position.shape.size() == 2 && position.shape[1] == c.hidden_size,
              file.path().string(), ": '", position.name, "' has shape ", shape_str(position.shape),
              ", expected [positions, ", c.hidden_size, "]");
  c.max_positions = position.shape[0];
  while (file.contains(
      weight_name(c, "encoder.layers." + std::to_string(c.num_layers) + ".layer_norm1.weight")))
    ++c.num_layers;
  MMGEN_CHECK(c.num_layers > 0, file.path().string(), ": CLIP text encoder tensor '",
              weight_name(c, "encoder.layers.0.layer_norm1.weight"), "' is missing");
  const TensorInfo& fc1 = require(file, weight_name(c, "encoder.layers.0.mlp.fc1.weight"));
  MMGEN_CHECK(fc1.shape.size() == 2, file.path().string(), ": '", fc1.name, "' has shape ",
              shape_str(fc1.shape), ", expected [intermediate, hidden]");
  c.intermediate_size = fc1.shape[0];

  c.num_heads = options.num_heads > 0 ? options.num_heads : c.hidden_size / kHeadDim;
  MMGEN_CHECK(c.num_heads > 0 && c.hidden_size % c.num_heads == 0, file.path().string(),
              ": CLIP text encoder hidden size ", c.hidden_size, " is not divisible into ",
              c.num_heads, " attention heads");
  c.layer_norm_eps = options.layer_norm_eps;
  c.hidden_act = options.hidden_act;
  MMGEN_CHECK(c.hidden_act == "quick_gelu" || c.hidden_act == "gelu",
              "CLIP text encoder: hidden_act '", c.hidden_act,
              "' is not supported (quick_gelu or gelu)");
  return c;
}

ClipTextModel::ClipTextModel(const ModelFile& file, const ClipTextOptions& options, Device device)
    : config_(infer_clip_text_config(file, options)), device_(device) {
  const ClipTextConfig& c = config_;
  const int64_t d = c.hidden_size, f = c.intermediate_size;
  auto get = [&](const std::string& name, const Shape& shape, bool to_f32) {
    return load_tensor(file, weight_name(c, name), shape, to_f32, device_);
  };
  token_embedding_ = get("embeddings.token_embedding.weight", {c.vocab_size, d}, false);
  position_embedding_ = get("embeddings.position_embedding.weight", {c.max_positions, d}, true);
  for (int64_t i = 0; i < c.num_layers; ++i) {
    const std::string p = "encoder.layers." + std::to_string(i) + ".";
    Layer l;
    l.ln1_w = get(p + "layer_norm1.weight", {d}, true);
    l.ln1_b = get(p + "layer_norm1.bias", {d}, true);
    l.q_w = get(p + "self_attn.q_proj.weight", {d, d}, false);
    l.q_b = get(p + "self_attn.q_proj.bias", {d}, true);
    l.k_w = get(p + "self_attn.k_proj.weight", {d, d}, false);
    l.k_b = get(p + "self_attn.k_proj.bias", {d}, true);
    l.v_w = get(p + "self_attn.v_proj.weight", {d, d}, false);
    l.v_b = get(p + "self_attn.v_proj.bias", {d}, true);
    l.out_w = get(p + "self_attn.out_proj.weight", {d, d}, false);
    l.out_b = get(p + "self_attn.out_proj.bias", {d}, true);
    l.ln2_w = get(p + "layer_norm2.weight", {d}, true);
    l.ln2_b = get(p + "layer_norm2.bias", {d}, true);
    l.fc1_w = get(p + "mlp.fc1.weight", {f, d}, false);
    l.fc1_b = get(p + "mlp.fc1.bias", {f}, true);
    l.fc2_w = get(p + "mlp.fc2.weight", {d, f}, false);
    l.fc2_b = get(p + "mlp.fc2.bias", {d}, true);
    layers_.push_back(std::move(l));
  }
  final_ln_w_ = get("final_layer_norm.weight", {d}, true);
  final_ln_b_ = get("final_layer_norm.bias", {d}, true);
}

std::unique_ptr<ClipTextModel> ClipTextModel::load(const std::filesystem::path& path,
                                                   const ClipTextOptions& options, Device device) {
  auto file = ModelFile::open(path);
  auto model = std::make_unique<ClipTextModel>(*file, options, device);
  model->owned_file_ = std::move(file);
  return model;
}

Tensor ClipTextModel::embed(const Tensor& ids) const {
  MMGEN_CHECK(ids.ndim() == 2, "CLIP text encoder: ids have shape ", shape_str(ids.shape()),
              ", expected [batch, length]");
  const int64_t length = ids.dim(1);
  MMGEN_CHECK(length >= 1 && length <= config_.max_positions, "CLIP text encoder: ", length,
              " tokens per row, the model takes 1 to ", config_.max_positions);
  // Positions are 0..length-1, as the checkpoint's position_ids buffer holds.
  const Tensor positions = position_embedding_.narrow(0, 0, length);
  return kernels::add(kernels::embedding(token_embedding_, ids.to(device_)), positions);
}

Tensor ClipTextModel::run_layer(const Layer& l, const Tensor& x) const {
  const int64_t batch = x.dim(0), length = x.dim(1), d = config_.hidden_size;
  const int64_t heads = config_.num_heads, head_dim = d / heads;
  const float eps = config_.layer_norm_eps;
  const Tensor h = kernels::layer_norm(x, l.ln1_w, l.ln1_b, eps);
  // [B, L, D] -> [B, H, L, head_dim]
  auto split_heads = [&](const Tensor& t) {
    return t.view({batch, length, heads, head_dim}).permute({0, 2, 1, 3});
  };
  kernels::AttentionParams params;
  params.causal = true;  // the scale is head_dim^-0.5, the default
  const Tensor attn = kernels::attention(split_heads(kernels::linear(h, l.q_w, l.q_b)),
                                         split_heads(kernels::linear(h, l.k_w, l.k_b)),
                                         split_heads(kernels::linear(h, l.v_w, l.v_b)), params);
  const Tensor merged = kernels::permute(attn, {0, 2, 1, 3}).view({batch, length, d});
  const Tensor x1 = kernels::add(x, kernels::linear(merged, l.out_w, l.out_b));

  const Tensor h2 = kernels::layer_norm(x1, l.ln2_w, l.ln2_b, eps);
  const Tensor up = kernels::linear(h2, l.fc1_w, l.fc1_b);
  const Tensor act = config_.hidden_act == "gelu" ? kernels::gelu(up) : kernels::quick_gelu(up);
  return kernels::add(x1, kernels::linear(act, l.fc2_w, l.fc2_b));
}

Tensor ClipTextModel::final_norm(const Tensor& x) const {
  return kernels::layer_norm(x, final_ln_w_, final_ln_b_, config_.layer_norm_eps);
}

ClipTextOutput ClipTextModel::forward(const Tensor& ids) const {
  ClipTextOutput out;
  Tensor x = embed(ids);
  out.hidden_states.push_back(x);
  for (const Layer& layer : layers_) {
    x = run_layer(layer, x);
    out.hidden_states.push_back(x);
  }
  out.last_hidden_state = final_norm(x);
  return out;
}

Tensor ClipTextModel::encode(const Tensor& ids, int clip_skip) const {
  MMGEN_CHECK(clip_skip >= 1 && clip_skip <= config_.num_layers, "CLIP text encoder: clip_skip ",
              clip_skip, " is outside [1, ", config_.num_layers, "]");
  const int64_t run = config_.num_layers - (clip_skip - 1);
  Tensor x = embed(ids);
  for (int64_t i = 0; i < run; ++i) x = run_layer(layers_[static_cast<size_t>(i)], x);
  return final_norm(x);
}

}  // namespace mmgen::text
