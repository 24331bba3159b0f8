// The node registry: every node type's fields (typed, with defaults and value
// checks), outputs and run function. Validation reads the specs; the executor
// calls run. Types whose engine is not part of this build stay listed, marked
// unavailable, so a definition using them gets a clear error instead of "unknown".
#pragma once

#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.h"
#include "pipelines/port_type.h"
#include "pipelines/value.h"

namespace mmgen::pipelines {

class NodeContext;

// An error about one field of a node; validation adds the node's name.
class FieldError : public Error {
 public:
  FieldError(std::string field, const std::string& message)
      : Error(message), field_(std::move(field)) {}
  const std::string& field() const { return field_; }

 private:
  std::string field_;
};

template <typename... Args>
[[noreturn]] void field_fail(const std::string& field, Args&&... args) {
  throw FieldError(field, detail::concat(std::forward<Args>(args)...));
}

struct FieldSpec {
  std::string name;
  PortType type = PortType::kText;
  std::optional<nlohmann::ordered_json> default_value;  // used when the field is left out
  bool optional = false;  // may be left out without a default (the node decides)
  std::string help;
  // Checks on a known value (literal, pipeline input or default).
  std::optional<double> min, max;
  bool exclusive_min = false;
  int64_t multiple_of = 0;
  bool non_empty = false;                   // text: not empty or blank
  std::function<void(const Value&)> check;  // extra check; throws Error

  bool required() const { return !default_value && !optional; }
};

struct OutputSpec {
  std::string name;
  PortType type = PortType::kText;
  std::string help;
};

struct NodeSpec {
  std::string type;
  std::string help;
  std::vector<FieldSpec> fields;
  std::vector<OutputSpec> outputs;
  // Fields other than those listed are accepted with this type (text.template's variables).
  std::optional<PortType> extra_fields;
  bool available = true;
  std::string unavailable_reason;
  // A check across fields, given the values known before the run (by field name);
  // throws FieldError.
  std::function<void(const NodeContext& known)> check;
  std::function<void(NodeContext& context)> run;

  const FieldSpec* field(std::string_view name) const;
  const OutputSpec* output(std::string_view name) const;
};

// Every node type, available or not, in a stable order.
const std::vector<NodeSpec>& node_specs();
// The spec of a type, or nullptr for an unknown one.
const NodeSpec* find_node_spec(std::string_view type);
// The available types, comma separated (for error messages).
std::string node_type_choices();

// The checks of `spec` on a known value; throws FieldError naming the field.
void check_field_value(const FieldSpec& spec, const Value& value);

// Registration, one function per family of nodes (pipelines/nodes_*.cpp).
void add_text_nodes(std::vector<NodeSpec>& specs);
void add_diffusion_nodes(std::vector<NodeSpec>& specs);
void add_audio_nodes(std::vector<NodeSpec>& specs);
void add_vision_nodes(std::vector<NodeSpec>& specs);
void add_io_nodes(std::vector<NodeSpec>& specs);

// Field helpers for the registrations.
FieldSpec text_field(std::string name, std::string help, std::optional<std::string> def = {});
FieldSpec file_field(std::string name, std::string help, bool optional = false);
FieldSpec int_field(std::string name, std::string help, int64_t def, std::optional<double> min = {},
                    std::optional<double> max = {});
FieldSpec number_field(std::string name, std::string help, double def,
                       std::optional<double> min = {}, std::optional<double> max = {});
FieldSpec seed_field(std::string help = "Random seed; -1 picks one (recorded in the outputs)");
FieldSpec port_field(std::string name, PortType type, std::string help);

}  // namespace mmgen::pipelines
