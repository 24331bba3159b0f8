#include "audio/audio_golden.h"

#include <string>

#include "audio/hifigan.h"
#include "audio/hifigan_config.h"
#include "audio/mel.h"
#include "core/error.h"
#include "core/golden.h"

namespace mmgen::audio {

namespace {

int int_input(const GoldenContext& context, const std::string& name) {
  return static_cast<int>(context.integer(name));
}

GoldenOutputs golden_mel_filterbank(const GoldenContext& context) {
  GoldenOutputs out;
  out.values["filterbank"] =
      mel_filterbank(int_input(context, "sr"), int_input(context, "n_fft"),
                     int_input(context, "n_mels"), context.number("fmin"), context.number("fmax"));
  return out;
}

GoldenOutputs golden_mel_spectrogram(const GoldenContext& context) {
  MelSettings settings;
  settings.n_fft = int_input(context, "n_fft");
  settings.num_mels = int_input(context, "num_mels");
  settings.sampling_rate = int_input(context, "sampling_rate");
  settings.hop_size = int_input(context, "hop_size");
  settings.win_size = int_input(context, "win_size");
  settings.fmin = context.number("fmin");
  // fmax null (hifi-gan's fmax_for_loss) means the Nyquist frequency.
  settings.fmax =
      context.input("fmax").is_null() ? settings.sampling_rate / 2.0 : context.number("fmax");
  if (context.has_input("center")) settings.center = context.boolean("center");
  GoldenOutputs out;
  out.values["mel"] = mel_spectrogram(context.tensor("audio"), settings);
  return out;
}

// The manifest's config.hifigan names the generator's config.json and may add
// the leaky ReLU slopes that config.json leaves implicit.
HifiganConfig golden_hifigan_config(const GoldenContext& context) {
  const std::string where = context.manifest().path.string() + ": config.hifigan";
  MMGEN_CHECK(context.config().contains("hifigan") && context.config()["hifigan"].is_object(),
              where, " is missing");
  const auto& section = context.config()["hifigan"];
  MMGEN_CHECK(section.contains("config_file") && section["config_file"].is_string(), where,
              ": field 'config_file' is missing");
  HifiganConfig config =
      load_hifigan_config(context.resolve(section["config_file"].get<std::string>()));
  auto slope = [&](const char* key, float& value) {
    if (!section.contains(key)) return;
    MMGEN_CHECK(section[key].is_number(), where, ": field '", key, "' must be a number");
    value = section[key].get<float>();
  };
  slope("lrelu_slope", config.lrelu_slope);
  slope("final_lrelu_slope", config.final_lrelu_slope);
  return config;
}

GoldenOutputs golden_hifigan_vocode(const GoldenContext& context) {
  const HifiganConfig config = golden_hifigan_config(context);
  const Hifigan vocoder =
      Hifigan::load(context.open(context.weights_path("hifigan")), config, "", context.device());
  GoldenOutputs out;
  out.values["wav"] = vocoder.vocode(context.tensor("mel"));
  return out;
}

}  // namespace

void register_audio_golden_kinds() {
  register_golden_kind("mel_filterbank", golden_mel_filterbank);
  register_golden_kind("mel_spectrogram", golden_mel_spectrogram);
  register_golden_kind("hifigan_vocode", golden_hifigan_vocode);
}

}  // namespace mmgen::audio
