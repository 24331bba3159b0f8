// Everything checked before a node runs: node types (unknown, or not in this
// build), fields (unknown, missing, wrong type, bad value), references (to
// unknown nodes, outputs or pipeline inputs), cycles, and the pipeline inputs'
// values. The result is the plan the executor follows. Each error is one
// message naming the definition, the node and the field.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "pipelines/definition.h"
#include "pipelines/node_types.h"
#include "pipelines/value.h"

namespace mmgen::pipelines {

// Values given at run time: "name" sets a pipeline input, "node.field" sets a
// node's field to a literal (overriding what the definition says). Text, parsed
// by the type it is given to.
using InputValues = std::vector<std::pair<std::string, std::string>>;

struct PlannedField {
  std::string name;
  PortType type = PortType::kText;  // the field's type
  std::optional<Value> value;       // known before the run (literal, input, default)
  std::string node;                 // otherwise: the node and output it comes from
  std::string output;
};

struct PlannedNode {
  const NodeDef* def = nullptr;
  const NodeSpec* spec = nullptr;
  std::vector<PlannedField> fields;
};

struct PlannedOutput {
  std::string name;
  std::string node;
  std::string output;
  PortType type = PortType::kText;
};

struct Plan {
  std::vector<PlannedNode> nodes;  // in execution (topological) order
  std::vector<PlannedOutput> outputs;
  std::map<std::string, Value> inputs;  // the pipeline inputs' values
  // Seeds chosen for -1: "input name" or "node.field" -> seed.
  std::vector<std::pair<std::string, uint64_t>> seeds;
};

// Checks the structure and every literal; inputs without a value are allowed
// (they are checked when the pipeline runs). Throws Error.
void validate_pipeline(const PipelineDefinition& def);

// The full check with the run's values: every required input given, every
// value checked, seeds of -1 replaced by random ones. Throws Error.
Plan plan_pipeline(const PipelineDefinition& def, const InputValues& values);

// A file path as given, else relative to `base_dir` when it exists there, else the
// default model of that name (core/shipped_files.h) when there is one.
std::filesystem::path resolve_file(const std::string& path, const std::filesystem::path& base_dir);

}  // namespace mmgen::pipelines
