#include "examples/cli/voice_loading.h"

#include <filesystem>

#include "core/error.h"
#include "core/shipped_files.h"

namespace mmgen::cli {

namespace fs = std::filesystem;

namespace {

// A config given as a bare file name that is not in the working folder is looked
// for beside the model: `-c espeak-vits-cmn.onnx.json` picks the default voice's
// other language.
fs::path find_beside(const std::string& given, const fs::path& model) {
  std::error_code error;
  const fs::path path(given);
  if (fs::exists(path, error) || path.has_parent_path()) return path;
  const fs::path beside = model.parent_path() / path;
  return fs::exists(beside, error) ? beside : path;
}

}  // namespace

audio::TtsVoice load_cli_voice(const std::string& model, const std::string& voice_config,
                               const std::string& vits_config, Device device, Precision precision) {
  const fs::path weights = resolve_model_argument(model);
  const fs::path voice_json =
      voice_config.empty() ? audio::find_voice_config(weights) : find_beside(voice_config, weights);
  MMGEN_CHECK(fs::exists(voice_json), voice_json.string(), ": voice config not found");
  const fs::path vits_json = audio::find_vits_config(weights, voice_json, vits_config);
  return audio::TtsVoice::load(weights, voice_json, vits_json, device, precision);
}

}  // namespace mmgen::cli
