#include "pipelines/node_types.h"

#include <cmath>

namespace mmgen::pipelines {

const FieldSpec* NodeSpec::field(std::string_view name) const {
  for (const auto& f : fields)
    if (f.name == name) return &f;
  return nullptr;
}

const OutputSpec* NodeSpec::output(std::string_view name) const {
  for (const auto& o : outputs)
    if (o.name == name) return &o;
  return nullptr;
}

const std::vector<NodeSpec>& node_specs() {
  static const std::vector<NodeSpec> specs = [] {
    std::vector<NodeSpec> s;
    add_text_nodes(s);
    add_diffusion_nodes(s);
    add_audio_nodes(s);
    add_vision_nodes(s);
    add_io_nodes(s);
    return s;
  }();
  return specs;
}

const NodeSpec* find_node_spec(std::string_view type) {
  for (const auto& spec : node_specs())
    if (spec.type == type) return &spec;
  return nullptr;
}

std::string node_type_choices() {
  std::string out;
  for (const auto& spec : node_specs()) {
    if (!spec.available) continue;
    if (!out.empty()) out += ", ";
    out += spec.type;
  }
  return out;
}

void check_field_value(const FieldSpec& spec, const Value& value) {
  const bool numeric = value.type == PortType::kNumber || value.type == PortType::kInteger ||
                       value.type == PortType::kSeed;
  if (numeric) {
    const double x =
        value.type == PortType::kNumber ? value.number : static_cast<double>(value.integer);
    const std::string shown = value.describe();
    if (spec.min && spec.max &&
        (x < *spec.min || x > *spec.max || (spec.exclusive_min && x == *spec.min)))
      field_fail(spec.name, "must be in ", spec.exclusive_min ? "(" : "[", *spec.min, ", ",
                 *spec.max, "], got ", shown);
    if (spec.min && (x < *spec.min || (spec.exclusive_min && x == *spec.min)))
      field_fail(spec.name, "must be ", spec.exclusive_min ? "> " : ">= ", *spec.min, ", got ",
                 shown);
    if (spec.max && x > *spec.max) field_fail(spec.name, "must be <= ", *spec.max, ", got ", shown);
    if (spec.multiple_of > 0 && value.integer % spec.multiple_of != 0)
      field_fail(spec.name, "must be a multiple of ", spec.multiple_of, ", got ", shown);
  }
  if (spec.non_empty && value.text.find_first_not_of(" \t\r\n") == std::string::npos)
    field_fail(spec.name, "is empty; expected ", spec.help.empty() ? "some text" : spec.help);
  if (spec.check) {
    try {
      spec.check(value);
    } catch (const FieldError&) {
      throw;
    } catch (const Error& e) {
      throw FieldError(spec.name, e.what());
    }
  }
}

FieldSpec text_field(std::string name, std::string help, std::optional<std::string> def) {
  FieldSpec f;
  f.name = std::move(name);
  f.type = PortType::kText;
  f.help = std::move(help);
  if (def) f.default_value = *def;
  return f;
}

FieldSpec file_field(std::string name, std::string help, bool optional) {
  FieldSpec f;
  f.name = std::move(name);
  f.type = PortType::kFile;
  f.help = std::move(help);
  f.optional = optional;
  return f;
}

FieldSpec int_field(std::string name, std::string help, int64_t def, std::optional<double> min,
                    std::optional<double> max) {
  FieldSpec f;
  f.name = std::move(name);
  f.type = PortType::kInteger;
  f.help = std::move(help);
  f.default_value = def;
  f.min = min;
  f.max = max;
  return f;
}

FieldSpec number_field(std::string name, std::string help, double def, std::optional<double> min,
                       std::optional<double> max) {
  FieldSpec f;
  f.name = std::move(name);
  f.type = PortType::kNumber;
  f.help = std::move(help);
  f.default_value = def;
  f.min = min;
  f.max = max;
  return f;
}

FieldSpec seed_field(std::string help) {
  FieldSpec f;
  f.name = "seed";
  f.type = PortType::kSeed;
  f.help = std::move(help);
  f.default_value = -1;
  f.min = -1;
  return f;
}

FieldSpec port_field(std::string name, PortType type, std::string help) {
  FieldSpec f;
  f.name = std::move(name);
  f.type = type;
  f.help = std::move(help);
  return f;
}

}  // namespace mmgen::pipelines
