// A piper voice's config (the ".onnx.json" beside the model): what the text
// front end and the synthesiser need. See docs/tts-frontend.md.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <string>

#include "audio/phoneme_ids.h"

namespace mmgen::audio {

struct PiperVoiceConfig {
  std::filesystem::path path;           // the file it was read from (for messages)
  int sample_rate = 22050;              // audio.sample_rate
  std::string espeak_voice = "en-us";   // espeak.voice
  std::string phoneme_type = "espeak";  // phoneme_type
  // inference: piper's defaults when the block or a field is absent.
  float noise_scale = 0.667f;
  float length_scale = 1.0f;
  float noise_w = 0.8f;
  PhonemeIdMap phoneme_id_map;  // required
  int num_speakers = 1;
  std::map<std::string, int64_t> speaker_id_map;
};

// Reads and checks a voice config. Throws Error naming the file and the field
// for unreadable or invalid JSON, a missing phoneme_id_map, and fields of the
// wrong type or out of range.
PiperVoiceConfig load_piper_voice_config(const std::filesystem::path& path);
PiperVoiceConfig piper_voice_config_from_json(const nlohmann::json& json,
                                              const std::filesystem::path& path);

}  // namespace mmgen::audio
