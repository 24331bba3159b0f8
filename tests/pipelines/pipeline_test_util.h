// Shared by the pipeline tests: golden model paths and small runners.
#pragma once

#include <filesystem>
#include <string>

#include "pipelines/builtin.h"
#include "pipelines/definition.h"
#include "pipelines/executor.h"
#include "tests/support/test_support.h"

namespace mmgen::test {

// Regular files anywhere under `dir` (to see that no temporary file is left behind).
inline size_t count_files(const std::filesystem::path& dir) {
  size_t n = 0;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(dir))
    n += entry.is_regular_file();
  return n;
}

inline std::string sd_model() { return golden_file("sd1/sd1_tiny.safetensors").string(); }
inline std::string llm_model() { return golden_file("llm/llama_tiny.gguf").string(); }
inline std::string tts_model() { return golden_file("tts/vits_generator.safetensors").string(); }
inline std::string tts_voice() { return golden_file("tts/vits_voice.onnx.json").string(); }
inline std::string tts_vits_config() { return golden_file("tts/vits_config.json").string(); }

// A built-in pipeline definition by name ("text-to-image").
inline pipelines::PipelineDefinition builtin_pipeline(const std::string& name) {
  return pipelines::load_pipeline_file(pipelines::resolve_pipeline_path(name));
}

// The error message of validating `json`, or "" when it is valid.
inline std::string validation_error(const std::string& json,
                                    const pipelines::InputValues& values = {}) {
  try {
    const auto def = pipelines::parse_pipeline(json, "p.json");
    pipelines::plan_pipeline(def, values);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

}  // namespace mmgen::test
