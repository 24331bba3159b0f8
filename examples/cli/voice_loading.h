// The voice of `mmgen tts` and `mmgen avatar -t`: -m as a path or a default
// voice's name, -c as a path or a file name beside the model, --vits-config as
// audio::find_vits_config finds it (docs/tts.md).
#pragma once

#include <string>

#include "audio/tts.h"
#include "core/device.h"
#include "core/precision.h"

namespace mmgen::cli {

// The name of the voice `-m` defaults to (models/espeak-vits).
inline constexpr const char* kDefaultVoice = "espeak-vits";

// Throws Error naming the model or config that cannot be found or read.
audio::TtsVoice load_cli_voice(const std::string& model, const std::string& voice_config,
                               const std::string& vits_config, Device device,
                               Precision precision = Precision::kF32);

}  // namespace mmgen::cli
