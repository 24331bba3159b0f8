// A pipeline definition as written (docs/pipelines.md): typed inputs with
// defaults, a map of nodes (id -> {type, inputs, parameters}, an input being a
// literal, a [node id, output] reference or {"input": name}), and named outputs.
// ComfyUI API-format workflows are recognised and mapped (pipelines/comfyui.h).
#pragma once

#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "pipelines/port_type.h"

namespace mmgen::pipelines {

struct InputDef {
  std::string name;
  PortType type = PortType::kText;
  std::optional<nlohmann::ordered_json> default_value;  // absent: the input is required
  std::string description;
};

// Where a node field's value comes from.
struct FieldSource {
  enum class Kind { kLiteral, kInput, kNode };
  Kind kind = Kind::kLiteral;
  nlohmann::ordered_json literal;  // kLiteral
  std::string name;                // kInput: the pipeline input; kNode: the node id
  std::string output;              // kNode: the output name (or its index, as text)
  bool output_is_index = false;    // kNode: `output` was written as a number
  bool from_parameters = false;    // written under "parameters" (literals only)
};

struct NodeField {
  std::string name;
  FieldSource source;
};

struct NodeDef {
  std::string id;
  std::string type;
  std::vector<NodeField> fields;  // in the order written
  const NodeField* field(std::string_view name) const;
  NodeField* field(std::string_view name);
};

struct OutputDef {
  std::string name;
  std::string node;
  std::string output;  // empty: the node's first output
  bool output_is_index = false;
};

struct PipelineDefinition {
  std::string name;
  std::string description;
  std::string source;              // the file name, or "pipeline JSON", for error messages
  std::filesystem::path base_dir;  // relative file inputs are also looked for here
  std::string format = "mmgen";    // "mmgen" or "comfyui"
  std::vector<InputDef> inputs;
  std::vector<NodeDef> nodes;      // in the order written
  std::vector<OutputDef> outputs;  // empty: every file a save node writes

  const InputDef* input(std::string_view name) const;
  const NodeDef* node(std::string_view id) const;
  NodeDef* node(std::string_view id);
};

// Parses a definition (either format). Throws Error naming `source` and the
// field for malformed JSON or a malformed entry; node types and references are
// checked later by validate_pipeline (pipelines/validation.h).
PipelineDefinition parse_pipeline(std::string_view json_text, const std::string& source,
                                  const std::filesystem::path& base_dir = {});
PipelineDefinition load_pipeline_file(const std::filesystem::path& path);

// A node input written in JSON as a FieldSource (shared with the ComfyUI import).
FieldSource parse_field_source(const nlohmann::ordered_json& json, const std::string& where);

}  // namespace mmgen::pipelines
