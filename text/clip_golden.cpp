#include "text/clip_golden.h"

#include <map>
#include <memory>
#include <mutex>

#include "core/error.h"
#include "core/golden.h"

namespace mmgen::text {

namespace {

// One tokenizer per vocabulary file for the whole run (building one reads ~49k merges).
std::shared_ptr<const ClipTokenizer> tokenizer_for(const std::filesystem::path& path) {
  static std::mutex mutex;
  static std::map<std::filesystem::path, std::shared_ptr<const ClipTokenizer>> cache;
  std::lock_guard lock(mutex);
  auto& entry = cache[path];
  if (!entry) entry = ClipTokenizer::load(path);
  return entry;
}

Tensor ids_tensor(const std::vector<std::vector<int32_t>>& rows) {
  std::vector<int64_t> values;
  for (const auto& row : rows) values.insert(values.end(), row.begin(), row.end());
  const auto width = rows.empty() ? int64_t{0} : static_cast<int64_t>(rows.front().size());
  return Tensor::from_vector(values, {static_cast<int64_t>(rows.size()), width});
}

const nlohmann::json& config_section(const GoldenContext& context, const char* name) {
  static const nlohmann::json empty = nlohmann::json::object();
  const auto& config = context.config();
  return config.contains(name) ? config.at(name) : empty;
}

// Text -> [1, context_length] ids with SD1.x's framing (one row; longer prompts truncated).
GoldenOutputs clip_tokenize(const GoldenContext& context) {
  const auto tokenizer = tokenizer_for(context.path("vocab"));
  const ClipFraming framing = clip_framing_from_json(config_section(context, "tokenizer"));
  GoldenOutputs out;
  out.values["input_ids"] = ids_tensor({tokenizer->encode_framed(context.string("text"), framing)});
  return out;
}

// Ids -> last_hidden_state, the penultimate layer's output and its final-LN form.
GoldenOutputs clip_text(const GoldenContext& context) {
  const nlohmann::json& weights = context.weights();
  MMGEN_CHECK(
      weights.size() == 1, context.manifest().path.string(),
      ": the clip_text kind needs exactly one entry in \"weights\" (the checkpoint), found ",
      weights.size());
  const ModelFile& file = context.open(context.weights_path(weights.begin().key()));
  const ClipTextModel model(file, clip_text_options_from_json(config_section(context, "clip_text")),
                            context.device());
  const Tensor ids = context.tensor("input_ids").to(context.device());
  const ClipTextOutput result = model.forward(ids);
  const Tensor& penultimate = result.hidden_states[result.hidden_states.size() - 2];
  GoldenOutputs out;
  out.values["last_hidden_state"] = result.last_hidden_state;
  out.values["penultimate_hidden_state"] = penultimate;
  out.values["penultimate_final_ln"] = model.encode(ids, 2);
  return out;
}

}  // namespace

ClipTextOptions clip_text_options_from_json(const nlohmann::json& clip_text) {
  ClipTextOptions options;
  if (!clip_text.is_object()) return options;
  if (clip_text.contains("num_attention_heads"))
    options.num_heads = clip_text.at("num_attention_heads").get<int>();
  if (clip_text.contains("layer_norm_eps"))
    options.layer_norm_eps = clip_text.at("layer_norm_eps").get<float>();
  if (clip_text.contains("hidden_act"))
    options.hidden_act = clip_text.at("hidden_act").get<std::string>();
  return options;
}

ClipFraming clip_framing_from_json(const nlohmann::json& tokenizer) {
  ClipFraming framing;
  if (!tokenizer.is_object()) return framing;
  if (tokenizer.contains("context_length"))
    framing.context_length = tokenizer.at("context_length").get<int>();
  if (tokenizer.contains("pad_id")) framing.pad_id = tokenizer.at("pad_id").get<int32_t>();
  return framing;
}

void register_clip_golden_kinds() {
  register_golden_kind("clip_tokenize", clip_tokenize);
  register_golden_kind("clip_text", clip_text);
}

}  // namespace mmgen::text
