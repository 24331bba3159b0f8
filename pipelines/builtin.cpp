#include "pipelines/builtin.h"

#include <algorithm>
#include <cstdlib>

#include "core/error.h"
#include "core/shipped_files.h"

#ifndef MMGEN_PIPELINES_SOURCE_DIR
#define MMGEN_PIPELINES_SOURCE_DIR ""
#endif

namespace mmgen::pipelines {

namespace fs = std::filesystem;

std::vector<fs::path> builtin_pipeline_dirs() {
  std::vector<fs::path> dirs;
  if (const char* env = std::getenv("MMGEN_PIPELINES_DIR"); env && *env) dirs.emplace_back(env);
  if (const fs::path exe = executable_dir(); !exe.empty())
    dirs.push_back(exe.parent_path() / "share" / "mmgen" / "pipelines");
  if (*MMGEN_PIPELINES_SOURCE_DIR) dirs.emplace_back(MMGEN_PIPELINES_SOURCE_DIR);
  return dirs;
}

fs::path find_builtin_pipeline_dir() {
  std::string looked;
  for (const auto& dir : builtin_pipeline_dirs()) {
    if (fs::is_directory(dir)) return dir;
    looked += (looked.empty() ? "" : ", ") + dir.string();
  }
  fail("the built-in pipelines were not found (looked in: ", looked,
       "); set MMGEN_PIPELINES_DIR to the folder holding them");
}

std::vector<BuiltinPipeline> list_builtin_pipelines() {
  std::vector<BuiltinPipeline> list;
  for (const auto& entry : fs::directory_iterator(find_builtin_pipeline_dir()))
    if (entry.is_regular_file() && entry.path().extension() == ".json")
      list.push_back({entry.path().stem().string(), entry.path()});
  std::sort(list.begin(), list.end(),
            [](const BuiltinPipeline& a, const BuiltinPipeline& b) { return a.name < b.name; });
  return list;
}

fs::path resolve_pipeline_path(const std::string& name_or_path) {
  MMGEN_CHECK(!name_or_path.empty(), "no pipeline given; name a definition file or a built-in");
  const fs::path path(name_or_path);
  // Only a file is a definition: a folder that shares a built-in's name (say "voice"
  // in the working folder) does not hide the built-in.
  std::error_code error;
  if (fs::is_regular_file(path, error)) return path;
  const bool looks_like_path =
      name_or_path.find('/') != std::string::npos || path.extension() == ".json";
  MMGEN_CHECK(!looks_like_path, name_or_path, ": pipeline definition not found");
  std::string names;
  for (const auto& p : list_builtin_pipelines()) {
    if (p.name == name_or_path) return p.path;
    names += (names.empty() ? "" : ", ") + p.name;
  }
  fail("\"", name_or_path, "\" is neither a file nor a built-in pipeline; built-in: ", names);
}

}  // namespace mmgen::pipelines
