// Files that ship with mmgen: the data folder (the CLIP vocabulary) and the default
// models trained by the project (models/<name>). Each is looked up through an
// environment variable, then the source tree the build came from, then
// share/mmgen/ beside the installed executable (docs/default-models.md).
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace mmgen {

// The folder of the running executable; empty when it cannot be read.
std::filesystem::path executable_dir();

// The folders that may hold shipped models, in search order: $MMGEN_MODELS_DIR,
// the source tree's models/, then <exe>/../share/mmgen/models and <exe>/models.
std::vector<std::filesystem::path> default_model_dirs();

// The default models found (folder names under the first folder holding any).
std::vector<std::string> default_model_names();

// A bare model name ("shapes-sd", "fortune-llama", "espeak-vits") -> what its
// loader opens: the folder's <name>.gguf when it holds one (a language model),
// else its <name>.safetensors (a voice, beside its <name>.onnx.json), else the
// folder (a diffusers folder).
// nullopt for a name with a path separator or one no models folder holds.
std::optional<std::filesystem::path> find_default_model(std::string_view name);

// A -m / model argument: the path as given when it exists, else a default model
// of that name. Throws Error naming the argument ("model file not found" for a
// path; for a bare name also the folders looked at and the default models there).
std::filesystem::path resolve_model_argument(const std::string& given);

}  // namespace mmgen
