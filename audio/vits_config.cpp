#include "audio/vits_config.h"

#include <fstream>

#include "core/error.h"

namespace mmgen::audio {

namespace {

void read_int(const nlohmann::json& json, const char* name, int& value, const std::string& where) {
  if (!json.contains(name) || json[name].is_null()) return;
  MMGEN_CHECK(json[name].is_number_integer(), where, ": field '", name,
              "' must be an integer, got ", json[name].dump());
  value = json[name].get<int>();
}

void read_float(const nlohmann::json& json, const char* name, float& value,
                const std::string& where) {
  if (!json.contains(name) || json[name].is_null()) return;
  MMGEN_CHECK(json[name].is_number(), where, ": field '", name, "' must be a number, got ",
              json[name].dump());
  value = json[name].get<float>();
}

nlohmann::json read_json(const std::filesystem::path& path) {
  std::ifstream in(path);
  MMGEN_CHECK(in.good(), path.string(), ": cannot open the file");
  try {
    return nlohmann::json::parse(in);
  } catch (const nlohmann::json::exception& e) {
    fail(path.string(), ": invalid JSON: ", e.what());
  }
}

// The reference generator's defaults, used when "model" omits the decoder fields.
nlohmann::json default_decoder_json() {
  return {{"resblock", "1"},
          {"resblock_kernel_sizes", {3, 7, 11}},
          {"resblock_dilation_sizes", {{1, 3, 5}, {1, 3, 5}, {1, 3, 5}}},
          {"upsample_rates", {8, 8, 2, 2}},
          {"upsample_initial_channel", 512},
          {"upsample_kernel_sizes", {16, 16, 4, 4}}};
}

}  // namespace

void validate(const VitsConfig& c, const std::string& where) {
  auto positive = [&](int value, const char* name) {
    MMGEN_CHECK(value >= 1, where, ": '", name, "' must be positive, got ", value);
  };
  positive(c.n_vocab, "n_vocab");
  positive(c.inter_channels, "inter_channels");
  positive(c.hidden_channels, "hidden_channels");
  positive(c.filter_channels, "filter_channels");
  positive(c.n_heads, "n_heads");
  positive(c.n_layers, "n_layers");
  positive(c.flow_n_flows, "flow n_flows");
  positive(c.flow_n_layers, "flow n_layers");
  positive(c.flow_dilation_rate, "flow dilation_rate");
  positive(c.sdp_n_flows, "sdp n_flows");
  positive(c.sdp_ddsconv_layers, "sdp ddsconv_layers");
  positive(c.num_bins, "num_bins");
  positive(c.sample_rate, "sample_rate");
  MMGEN_CHECK(c.hidden_channels % c.n_heads == 0, where, ": 'hidden_channels' ", c.hidden_channels,
              " must be a multiple of 'n_heads' ", c.n_heads);
  MMGEN_CHECK(c.inter_channels % 2 == 0, where, ": 'inter_channels' ", c.inter_channels,
              " must be even (the coupling flow splits it in halves)");
  MMGEN_CHECK(c.kernel_size >= 1 && c.kernel_size % 2 == 1, where, ": 'kernel_size' ",
              c.kernel_size, " must be odd and positive");
  MMGEN_CHECK(c.flow_kernel_size >= 1 && c.flow_kernel_size % 2 == 1, where,
              ": flow 'kernel_size' ", c.flow_kernel_size, " must be odd and positive");
  MMGEN_CHECK(c.sdp_kernel_size >= 1 && c.sdp_kernel_size % 2 == 1, where, ": sdp 'kernel_size' ",
              c.sdp_kernel_size, " must be odd and positive");
  MMGEN_CHECK(c.window_size >= 0, where, ": 'window_size' must not be negative");
  MMGEN_CHECK(c.n_speakers >= 0 && c.gin_channels >= 0, where,
              ": 'n_speakers' and 'gin_channels' must not be negative");
  MMGEN_CHECK(c.tail_bound > 0, where, ": 'tail_bound' must be positive");
  MMGEN_CHECK(c.decoder.num_mels == c.inter_channels, where, ": the decoder reads ",
              c.decoder.num_mels, " channels, 'inter_channels' is ", c.inter_channels);
  validate(c.decoder, where + " (decoder)");
}

VitsConfig vits_config_from_json(const nlohmann::json& json, const std::string& where) {
  MMGEN_CHECK(json.is_object(), where, ": a VITS config must be a JSON object");
  VitsConfig c;
  const bool nested = json.contains("model");
  const nlohmann::json& model = nested ? json["model"] : json;
  MMGEN_CHECK(model.is_object(), where, ": field 'model' must be an object");
  const std::string model_where = nested ? where + ": model" : where;
  read_int(model, "n_vocab", c.n_vocab, model_where);
  read_int(model, "inter_channels", c.inter_channels, model_where);
  read_int(model, "hidden_channels", c.hidden_channels, model_where);
  read_int(model, "filter_channels", c.filter_channels, model_where);
  read_int(model, "n_heads", c.n_heads, model_where);
  read_int(model, "n_layers", c.n_layers, model_where);
  read_int(model, "kernel_size", c.kernel_size, model_where);
  read_int(model, "window_size", c.window_size, model_where);
  read_int(model, "n_speakers", c.n_speakers, model_where);
  read_int(model, "gin_channels", c.gin_channels, model_where);
  if (model.contains("use_sdp")) {
    MMGEN_CHECK(model["use_sdp"].is_boolean(), model_where, ": field 'use_sdp' must be a boolean");
    c.use_sdp = model["use_sdp"].get<bool>();
  }
  nlohmann::json decoder = default_decoder_json();
  for (const auto& [key, value] : model.items()) {
    if (decoder.contains(key)) decoder[key] = value;
  }
  c.decoder = hifigan_config_from_json(decoder, model_where);
  c.decoder.num_mels = c.inter_channels;

  if (nested && json.contains("data")) {
    const auto& data = json["data"];
    MMGEN_CHECK(data.is_object(), where, ": field 'data' must be an object");
    read_int(data, "sampling_rate", c.sample_rate, where + ": data");
    read_int(data, "n_speakers", c.n_speakers, where + ": data");
  }
  validate(c, where);
  return c;
}

void apply_piper_voice(VitsConfig& c, const nlohmann::json& voice, const std::string& where) {
  MMGEN_CHECK(voice.is_object(), where, ": a voice config must be a JSON object");
  read_int(voice, "num_symbols", c.n_vocab, where);
  if (voice.contains("num_speakers")) {
    int speakers = 0;
    read_int(voice, "num_speakers", speakers, where);
    // Piper writes 1 for single-speaker voices; VITS counts those as 0.
    c.n_speakers = speakers > 1 ? speakers : 0;
  }
  if (voice.contains("audio")) {
    MMGEN_CHECK(voice["audio"].is_object(), where, ": field 'audio' must be an object");
    read_int(voice["audio"], "sample_rate", c.sample_rate, where + ": audio");
  }
  if (voice.contains("inference")) {
    const auto& inference = voice["inference"];
    MMGEN_CHECK(inference.is_object(), where, ": field 'inference' must be an object");
    read_float(inference, "noise_scale", c.inference.noise_scale, where + ": inference");
    read_float(inference, "length_scale", c.inference.length_scale, where + ": inference");
    read_float(inference, "noise_w", c.inference.noise_scale_w, where + ": inference");
  }
  validate(c, where);
}

VitsConfig load_vits_config(const std::filesystem::path& config_json,
                            const std::filesystem::path& voice_json) {
  VitsConfig c;
  c.decoder = hifigan_config_from_json(default_decoder_json(), "VITS defaults");
  c.decoder.num_mels = c.inter_channels;
  if (!config_json.empty()) c = vits_config_from_json(read_json(config_json), config_json.string());
  if (!voice_json.empty()) apply_piper_voice(c, read_json(voice_json), voice_json.string());
  return c;
}

}  // namespace mmgen::audio
