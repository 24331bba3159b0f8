// The built-in pipeline definitions (pipelines/defs/*.json) and where they are
// found: $MMGEN_PIPELINES_DIR when set; else share/mmgen/pipelines beside the
// installed program (<prefix>/bin/../share/mmgen/pipelines); else the source
// tree's pipelines/defs (compiled in, for a build that is not installed).
#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace mmgen::pipelines {

// Every folder looked at, in order (existing or not).
std::vector<std::filesystem::path> builtin_pipeline_dirs();
// The first of them that exists; Error naming all of them when none does.
std::filesystem::path find_builtin_pipeline_dir();

struct BuiltinPipeline {
  std::string name;  // the file stem, e.g. "text-to-image"
  std::filesystem::path path;
};
// The definitions in find_builtin_pipeline_dir(), sorted by name.
std::vector<BuiltinPipeline> list_builtin_pipelines();

// `name_or_path` as a file when one exists (or when it looks like a path: has a
// '/' or ends in .json); else the built-in definition of that name. Error listing the
// built-in names when there is none.
std::filesystem::path resolve_pipeline_path(const std::string& name_or_path);

}  // namespace mmgen::pipelines
