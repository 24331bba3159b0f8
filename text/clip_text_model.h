// The CLIP text encoder of Stable Diffusion 1.x in Hugging Face's CLIPTextModel
// layout: token + position embeddings, pre-LayerNorm transformer layers with a
// causal mask, a final LayerNorm. Read from an SD single-file checkpoint
// (cond_stage_model.transformer.text_model.*) or a standalone text encoder
// (text_model.*); docs/clip.md describes the rules.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "core/model_file.h"
#include "core/tensor.h"

namespace mmgen::text {

// What the checkpoint alone does not fix.
struct ClipTextOptions {
  int num_heads = 0;  // 0: hidden_size / 64 (the head size of every CLIP text encoder)
  float layer_norm_eps = 1e-5f;
  std::string hidden_act = "quick_gelu";  // or "gelu" (exact erf form)
  std::string prefix;                     // tensor name prefix, e.g. "text_model."; empty: detected
};

struct ClipTextConfig {
  std::string prefix;  // as found in the file, ending in "text_model."
  int64_t vocab_size = 0;
  int64_t hidden_size = 0;
  int64_t max_positions = 0;
  int64_t num_layers = 0;
  int64_t num_heads = 0;
  int64_t intermediate_size = 0;
  float layer_norm_eps = 1e-5f;
  std::string hidden_act;
};

// The tensor prefixes tried, in order, when ClipTextOptions::prefix is empty.
const std::vector<std::string>& clip_text_prefixes();

// Sizes from the tensors' shapes; heads, eps and activation from the options.
// Throws Error naming the file when no prefix matches or a tensor is missing.
ClipTextConfig infer_clip_text_config(const ModelFile& file, const ClipTextOptions& options = {});

struct ClipTextOutput {
  // final_layer_norm(output of the last layer): SD1's cross-attention context.
  Tensor last_hidden_state;
  // Hugging Face's hidden_states: the embeddings, then each layer's output
  // (num_layers + 1 tensors, no final LayerNorm).
  std::vector<Tensor> hidden_states;
};

class ClipTextModel {
 public:
  // Reads every weight and places it on `device` once (on the CPU the tensors
  // stay views into the file's mapping). Throws Error naming the file and the
  // tensor for missing or mis-shaped weights.
  ClipTextModel(const ModelFile& file, const ClipTextOptions& options = {},
                Device device = Device::cpu());
  static std::unique_ptr<ClipTextModel> load(const std::filesystem::path& path,
                                             const ClipTextOptions& options = {},
                                             Device device = Device::cpu());

  const ClipTextConfig& config() const { return config_; }
  Device device() const { return device_; }

  // ids: [batch, length] (i32 or i64, on any device: they are moved to the model's),
  // length <= max_positions. Every layer runs; the outputs live on the model's device.
  ClipTextOutput forward(const Tensor& ids) const;

  // The context for the UNet with "clip skip": 1 is last_hidden_state, k > 1 is
  // final_layer_norm(output of layer num_layers - k + 1) as the AUTOMATIC1111 web
  // UI computes it (so 2 = the penultimate layer, normalised). Layers after the
  // one used are not run. [batch, length, hidden].
  Tensor encode(const Tensor& ids, int clip_skip = 1) const;

 private:
  struct Layer {
    Tensor ln1_w, ln1_b, q_w, q_b, k_w, k_b, v_w, v_b, out_w, out_b;
    Tensor ln2_w, ln2_b, fc1_w, fc1_b, fc2_w, fc2_b;
  };
  Tensor embed(const Tensor& ids) const;
  Tensor run_layer(const Layer& layer, const Tensor& x) const;
  Tensor final_norm(const Tensor& x) const;

  ClipTextConfig config_;
  Device device_;
  std::unique_ptr<ModelFile> owned_file_;  // when loaded from a path
  Tensor token_embedding_, position_embedding_;
  std::vector<Layer> layers_;
  Tensor final_ln_w_, final_ln_b_;
};

}  // namespace mmgen::text
