#include "core/shipped_files.h"

#include <algorithm>
#include <cstdlib>
#include <system_error>

#include "core/error.h"

namespace mmgen {

namespace fs = std::filesystem;

fs::path executable_dir() {
  std::error_code error;
  const fs::path exe = fs::read_symlink("/proc/self/exe", error);
  return error ? fs::path() : exe.parent_path();
}

std::vector<fs::path> default_model_dirs() {
  std::vector<fs::path> dirs;
  if (const char* env = std::getenv("MMGEN_MODELS_DIR"); env && *env) dirs.emplace_back(env);
#ifdef MMGEN_MODELS_SOURCE_DIR
  dirs.emplace_back(MMGEN_MODELS_SOURCE_DIR);
#endif
  if (const fs::path exe = executable_dir(); !exe.empty()) {
    dirs.push_back(exe.parent_path() / "share" / "mmgen" / "models");
    dirs.push_back(exe / "models");
  }
  return dirs;
}

std::vector<std::string> default_model_names() {
  std::error_code error;
  for (const fs::path& dir : default_model_dirs()) {
    if (!fs::is_directory(dir, error)) continue;
    std::vector<std::string> names;
    for (const auto& entry : fs::directory_iterator(dir, error))
      if (entry.is_directory(error)) names.push_back(entry.path().filename().string());
    if (names.empty()) continue;
    std::sort(names.begin(), names.end());
    return names;
  }
  return {};
}

std::optional<fs::path> find_default_model(std::string_view name) {
  if (name.empty() || name.find('/') != std::string_view::npos || name == "." || name == "..")
    return std::nullopt;
  std::error_code error;
  for (const fs::path& dir : default_model_dirs()) {
    const fs::path folder = dir / std::string(name);
    if (!fs::is_directory(folder, error)) continue;
    for (const char* extension : {".gguf", ".safetensors"}) {
      const fs::path file = folder / (std::string(name) + extension);
      if (fs::is_regular_file(file, error)) return file;
    }
    return folder;
  }
  return std::nullopt;
}

fs::path resolve_model_argument(const std::string& given) {
  std::error_code error;
  if (fs::exists(given, error)) return given;
  if (auto found = find_default_model(given)) return *found;
  // A path (not a bare name) that does not exist is just that.
  MMGEN_CHECK(given.find('/') == std::string::npos, given, ": model file not found");
  std::string looked, names;
  for (const fs::path& dir : default_model_dirs())
    looked += (looked.empty() ? "" : ", ") + dir.string();
  for (const std::string& name : default_model_names()) names += (names.empty() ? "" : ", ") + name;
  fail(given, ": model file not found, and no default model has that name (default models: ",
       names.empty() ? "none found" : names, "; looked in: ", looked, ")");
}

}  // namespace mmgen
