#include "pipelines/definition.h"

#include <fstream>
#include <sstream>

#include "core/error.h"
#include "pipelines/comfyui.h"

namespace mmgen::pipelines {

using json = nlohmann::ordered_json;

const NodeField* NodeDef::field(std::string_view name) const {
  for (const auto& f : fields)
    if (f.name == name) return &f;
  return nullptr;
}

NodeField* NodeDef::field(std::string_view name) {
  for (auto& f : fields)
    if (f.name == name) return &f;
  return nullptr;
}

const InputDef* PipelineDefinition::input(std::string_view name) const {
  for (const auto& i : inputs)
    if (i.name == name) return &i;
  return nullptr;
}

const NodeDef* PipelineDefinition::node(std::string_view id) const {
  for (const auto& n : nodes)
    if (n.id == id) return &n;
  return nullptr;
}

NodeDef* PipelineDefinition::node(std::string_view id) {
  for (auto& n : nodes)
    if (n.id == id) return &n;
  return nullptr;
}

FieldSource parse_field_source(const json& value, const std::string& where) {
  FieldSource source;
  if (value.is_array()) {
    MMGEN_CHECK(
        value.size() == 2 && value[0].is_string() &&
            (value[1].is_string() || value[1].is_number_unsigned() || value[1].is_number_integer()),
        where, ": a reference is [\"node id\", \"output\"] (or an output index), got ",
        value.dump());
    source.kind = FieldSource::Kind::kNode;
    source.name = value[0].get<std::string>();
    if (value[1].is_string()) {
      source.output = value[1].get<std::string>();
    } else {
      MMGEN_CHECK(value[1].get<int64_t>() >= 0, where, ": the output index must be >= 0");
      source.output = std::to_string(value[1].get<int64_t>());
      source.output_is_index = true;
    }
    return source;
  }
  if (value.is_object()) {
    MMGEN_CHECK(value.size() == 1 && value.contains("input") && value["input"].is_string(), where,
                ": an object input must be {\"input\": \"pipeline input name\"}, got ",
                value.dump());
    source.kind = FieldSource::Kind::kInput;
    source.name = value["input"].get<std::string>();
    return source;
  }
  MMGEN_CHECK(!value.is_null(), where, ": null is not a value; leave the field out instead");
  source.kind = FieldSource::Kind::kLiteral;
  source.literal = value;
  return source;
}

namespace {

void parse_inputs(const json& inputs, PipelineDefinition& def) {
  const std::string where = def.source + ": \"inputs\"";
  MMGEN_CHECK(inputs.is_object(), where, " must be an object of name -> {\"type\": ...}");
  for (const auto& [name, spec] : inputs.items()) {
    const std::string at = def.source + ": input \"" + name + "\"";
    MMGEN_CHECK(
        !name.empty() && name.find('.') == std::string::npos && name.find('=') == std::string::npos,
        at, ": a name must be non-empty without '.' or '='");
    MMGEN_CHECK(spec.is_object(), at, ": expected {\"type\": ..., \"default\": ...}");
    InputDef input;
    input.name = name;
    MMGEN_CHECK(spec.contains("type") && spec["type"].is_string(), at,
                ": \"type\" is missing; one of ", port_type_choices());
    const auto type = parse_port_type(spec["type"].get<std::string>());
    MMGEN_CHECK(type.has_value(), at, ": unknown type \"", spec["type"].get<std::string>(),
                "\"; one of ", port_type_choices());
    MMGEN_CHECK(is_literal_type(*type), at, ": a pipeline input cannot have type ",
                port_type_name(*type), " (use text, number, integer, boolean, file or seed)");
    input.type = *type;
    for (const auto& [key, value] : spec.items()) {
      if (key == "type") continue;
      if (key == "default") {
        input.default_value = value;
      } else if (key == "description") {
        MMGEN_CHECK(value.is_string(), at, ": \"description\" must be a string");
        input.description = value.get<std::string>();
      } else {
        fail(at, ": unknown key \"", key, "\" (expected type, default, description)");
      }
    }
    def.inputs.push_back(std::move(input));
  }
}

void parse_node_fields(const json& object, bool parameters, const std::string& at, NodeDef& node) {
  const char* what = parameters ? "parameters" : "inputs";
  MMGEN_CHECK(object.is_object(), at, ": \"", what, "\" must be an object of field -> value");
  for (const auto& [name, value] : object.items()) {
    const std::string where = at + ", field \"" + name + "\"";
    MMGEN_CHECK(node.field(name) == nullptr, where, ": given twice (in inputs and parameters)");
    NodeField field;
    field.name = name;
    field.source = parse_field_source(value, where);
    field.source.from_parameters = parameters;
    MMGEN_CHECK(!parameters || field.source.kind == FieldSource::Kind::kLiteral, where,
                ": \"parameters\" hold literal values; put references under \"inputs\"");
    node.fields.push_back(std::move(field));
  }
}

void parse_nodes(const json& nodes, PipelineDefinition& def) {
  MMGEN_CHECK(nodes.is_object() && !nodes.empty(), def.source,
              ": \"nodes\" must be a non-empty object of node id -> {\"type\", \"inputs\"}");
  for (const auto& [id, spec] : nodes.items()) {
    const std::string at = def.source + ": node \"" + id + "\"";
    MMGEN_CHECK(!id.empty() && id.find('.') == std::string::npos, at,
                ": a node id must be non-empty without '.'");
    MMGEN_CHECK(spec.is_object(), at, ": expected {\"type\": ..., \"inputs\": {...}}");
    NodeDef node;
    node.id = id;
    for (const auto& [key, value] : spec.items()) {
      if (key == "type") {
        MMGEN_CHECK(value.is_string(), at, ": \"type\" must be a string");
        node.type = value.get<std::string>();
      } else if (key == "inputs" || key == "parameters") {
        parse_node_fields(value, key == "parameters", at, node);
      } else if (key != "description" && key != "_meta") {
        fail(at, ": unknown key \"", key, "\" (expected type, inputs, parameters, description)");
      }
    }
    MMGEN_CHECK(!node.type.empty(), at, ": \"type\" is missing");
    def.nodes.push_back(std::move(node));
  }
}

void parse_outputs(const json& outputs, PipelineDefinition& def) {
  MMGEN_CHECK(outputs.is_object(), def.source,
              ": \"outputs\" must be an object of name -> [\"node id\", \"output\"]");
  for (const auto& [name, value] : outputs.items()) {
    const std::string at = def.source + ": output \"" + name + "\"";
    OutputDef output;
    output.name = name;
    if (value.is_string()) {
      output.node = value.get<std::string>();
    } else {
      const FieldSource source = parse_field_source(value, at);
      MMGEN_CHECK(source.kind == FieldSource::Kind::kNode, at,
                  ": expected [\"node id\", \"output\"] or \"node id\"");
      output.node = source.name;
      output.output = source.output;
      output.output_is_index = source.output_is_index;
    }
    def.outputs.push_back(std::move(output));
  }
}

}  // namespace

PipelineDefinition parse_pipeline(std::string_view json_text, const std::string& source,
                                  const std::filesystem::path& base_dir) {
  json root;
  try {
    root = json::parse(json_text);
  } catch (const json::exception& e) {
    fail(source, ": invalid JSON: ", e.what());
  }
  MMGEN_CHECK(root.is_object(), source, ": a pipeline is a JSON object");
  if (is_comfyui_workflow(root)) return import_comfyui(root, source, base_dir);

  PipelineDefinition def;
  def.source = source;
  def.base_dir = base_dir;
  MMGEN_CHECK(root.contains("nodes"), source,
              ": no \"nodes\"; a pipeline has \"nodes\" (or is a ComfyUI API-format workflow of "
              "id -> {\"class_type\", \"inputs\"})");
  for (const auto& [key, value] : root.items()) {
    if (key == "name" || key == "description") {
      MMGEN_CHECK(value.is_string(), source, ": \"", key, "\" must be a string");
      (key == "name" ? def.name : def.description) = value.get<std::string>();
    } else if (key == "inputs") {
      parse_inputs(value, def);
    } else if (key == "nodes") {
      parse_nodes(value, def);
    } else if (key == "outputs") {
      parse_outputs(value, def);
    } else if (key != "version" && key != "_comment") {
      fail(source, ": unknown key \"", key,
           "\" (expected name, description, version, inputs, nodes, outputs)");
    }
  }
  return def;
}

PipelineDefinition load_pipeline_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  MMGEN_CHECK(in.good(), path.string(), ": cannot open the pipeline definition");
  std::ostringstream text;
  text << in.rdbuf();
  PipelineDefinition def = parse_pipeline(text.str(), path.string(), path.parent_path());
  if (def.name.empty()) def.name = path.stem().string();
  return def;
}

}  // namespace mmgen::pipelines
