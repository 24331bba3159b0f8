#include "audio/piper_voice.h"

#include <fstream>
#include <sstream>

#include "core/error.h"

namespace mmgen::audio {

namespace {

std::string where(const std::filesystem::path& path, const std::string& field) {
  return path.string() + ": field '" + field + "'";
}

const nlohmann::json* section(const nlohmann::json& json, const std::filesystem::path& path,
                              const char* name) {
  if (!json.contains(name) || json[name].is_null()) return nullptr;
  MMGEN_CHECK(json[name].is_object(), where(path, name), " must be an object");
  return &json[name];
}

template <typename T>
void read_number(const nlohmann::json* object, const char* key, const std::filesystem::path& path,
                 const std::string& field, T& value) {
  if (object == nullptr || !object->contains(key) || (*object)[key].is_null()) return;
  MMGEN_CHECK((*object)[key].is_number(), where(path, field), " must be a number");
  value = (*object)[key].get<T>();
}

}  // namespace

PiperVoiceConfig piper_voice_config_from_json(const nlohmann::json& json,
                                              const std::filesystem::path& path) {
  MMGEN_CHECK(json.is_object(), path.string(), ": a piper voice config must be a JSON object");
  PiperVoiceConfig config;
  config.path = path;

  read_number(section(json, path, "audio"), "sample_rate", path, "audio.sample_rate",
              config.sample_rate);
  MMGEN_CHECK(config.sample_rate > 0, where(path, "audio.sample_rate"), " must be positive, got ",
              config.sample_rate);

  if (const auto* espeak = section(json, path, "espeak"); espeak && espeak->contains("voice")) {
    MMGEN_CHECK((*espeak)["voice"].is_string() && !(*espeak)["voice"].get<std::string>().empty(),
                where(path, "espeak.voice"), " must be a non-empty string");
    config.espeak_voice = (*espeak)["voice"].get<std::string>();
  }
  if (json.contains("phoneme_type")) {
    MMGEN_CHECK(json["phoneme_type"].is_string(), where(path, "phoneme_type"), " must be a string");
    config.phoneme_type = json["phoneme_type"].get<std::string>();
  }

  const auto* inference = section(json, path, "inference");
  read_number(inference, "noise_scale", path, "inference.noise_scale", config.noise_scale);
  read_number(inference, "length_scale", path, "inference.length_scale", config.length_scale);
  read_number(inference, "noise_w", path, "inference.noise_w", config.noise_w);
  MMGEN_CHECK(config.length_scale > 0, where(path, "inference.length_scale"),
              " must be positive, got ", config.length_scale);

  MMGEN_CHECK(json.contains("phoneme_id_map"), path.string(),
              ": no 'phoneme_id_map' (a piper voice config maps each phoneme to its ids)");
  const auto& id_map = json["phoneme_id_map"];
  MMGEN_CHECK(id_map.is_object() && !id_map.empty(), where(path, "phoneme_id_map"),
              " must be a non-empty object of phoneme -> [ids]");
  for (const auto& [phoneme, ids] : id_map.items()) {
    const std::string field = "phoneme_id_map." + phoneme;
    MMGEN_CHECK(ids.is_array() && !ids.empty(), where(path, field),
                " must be a non-empty list of ids");
    std::vector<int64_t> values;
    for (const auto& id : ids) {
      MMGEN_CHECK(id.is_number_integer() && id.get<int64_t>() >= 0, where(path, field),
                  " must hold non-negative integers");
      values.push_back(id.get<int64_t>());
    }
    config.phoneme_id_map.emplace(phoneme, std::move(values));
  }

  read_number(&json, "num_speakers", path, "num_speakers", config.num_speakers);
  MMGEN_CHECK(config.num_speakers >= 1, where(path, "num_speakers"), " must be at least 1, got ",
              config.num_speakers);
  if (json.contains("speaker_id_map") && !json["speaker_id_map"].is_null()) {
    const auto& speakers = json["speaker_id_map"];
    MMGEN_CHECK(speakers.is_object(), where(path, "speaker_id_map"), " must be an object");
    for (const auto& [name, id] : speakers.items()) {
      MMGEN_CHECK(id.is_number_integer() && id.get<int64_t>() >= 0 &&
                      id.get<int64_t>() < config.num_speakers,
                  where(path, "speaker_id_map." + name), " must be an integer in [0, ",
                  config.num_speakers, ")");
      config.speaker_id_map.emplace(name, id.get<int64_t>());
    }
  }
  return config;
}

PiperVoiceConfig load_piper_voice_config(const std::filesystem::path& path) {
  std::ifstream in(path);
  MMGEN_CHECK(in.good(), path.string(), ": cannot open the piper voice config");
  nlohmann::json json;
  try {
    json = nlohmann::json::parse(in);
  } catch (const nlohmann::json::parse_error& e) {
    fail(path.string(), ": invalid JSON: ", e.what());
  }
  return piper_voice_config_from_json(json, path);
}

}  // namespace mmgen::audio
