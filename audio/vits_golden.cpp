#include "audio/vits_golden.h"

#include <string>

#include "audio/vits.h"
#include "core/error.h"
#include "core/golden.h"

namespace mmgen::audio {

namespace {

// config.vits names the training config and the piper voice config.
VitsConfig golden_vits_config(const GoldenContext& context) {
  const std::string where = context.manifest().path.string() + ": config.vits";
  MMGEN_CHECK(context.config().contains("vits") && context.config()["vits"].is_object(), where,
              " is missing");
  const auto& section = context.config()["vits"];
  auto file = [&](const char* key) {
    MMGEN_CHECK(section.contains(key) && section[key].is_string(), where, ": field '", key,
                "' is missing");
    return context.resolve(section[key].get<std::string>());
  };
  return load_vits_config(file("vits_config_file"), file("voice_config_file"));
}

GoldenOutputs golden_vits_infer(const GoldenContext& context, bool with_noise) {
  const VitsConfig config = golden_vits_config(context);
  const Vits vits =
      Vits::load(context.open(context.weights_path("vits")), config, context.device());
  VitsSynthesisOptions options;
  options.noise_scale = static_cast<float>(context.number("noise_scale"));
  options.length_scale = static_cast<float>(context.number("length_scale"));
  options.noise_scale_w = static_cast<float>(context.number("noise_scale_w"));
  if (with_noise) {
    options.dp_noise = context.tensor("dp_noise");
    options.z_noise = context.tensor("z_noise");
  } else {
    MMGEN_CHECK(options.noise_scale == 0 && options.noise_scale_w == 0,
                context.manifest().path.string(), ": case '", context.golden_case().name,
                "' is deterministic but has non-zero noise scales");
  }
  const VitsSynthesis result = vits.infer(context.tensor("phoneme_ids"), options);
  GoldenOutputs out;
  out.values["enc_x"] = result.enc_x;
  out.values["enc_m_p"] = result.enc_m_p;
  out.values["enc_logs_p"] = result.enc_logs_p;
  out.values["logw"] = result.logw;
  out.values["w_ceil"] = result.w_ceil;
  out.values["m_p"] = result.m_p;
  out.values["logs_p"] = result.logs_p;
  out.values["z_p"] = result.z_p;
  out.values["z"] = result.z;
  out.values["wav"] = result.wav;
  return out;
}

}  // namespace

void register_vits_golden_kinds() {
  register_golden_kind("vits_infer_det",
                       [](const GoldenContext& c) { return golden_vits_infer(c, false); });
  register_golden_kind("vits_infer_noise",
                       [](const GoldenContext& c) { return golden_vits_infer(c, true); });
}

}  // namespace mmgen::audio
