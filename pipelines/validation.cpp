#include "pipelines/validation.h"

#include <algorithm>
#include <random>
#include <set>

#include "core/error.h"
#include "core/shipped_files.h"
#include "pipelines/node_context.h"

namespace mmgen::pipelines {

namespace fs = std::filesystem;

fs::path resolve_file(const std::string& path, const fs::path& base_dir) {
  const fs::path p(path);
  if (p.is_absolute() || fs::exists(p)) return p;
  if (!base_dir.empty() && fs::exists(base_dir / p)) return base_dir / p;
  return find_default_model(path).value_or(p);
}

namespace {

uint64_t random_seed() {
  // 32-bit like the image generators' seeds, so they are easy to copy back.
  return std::random_device{}();
}

class Planner {
 public:
  Planner(const PipelineDefinition& def, const InputValues* values)
      : def_(def), values_(values), for_run_(values != nullptr) {}

  Plan run() {
    index_nodes();
    check_overrides();
    bind_inputs();
    std::vector<PlannedNode> planned;
    for (const auto& node : def_.nodes) planned.push_back(plan_node(node));
    plan_.nodes = order(std::move(planned));
    plan_outputs();
    return std::move(plan_);
  }

 private:
  std::string at(const NodeDef& node) const {
    return def_.source + ": node \"" + node.id + "\" (" + node.type + ")";
  }
  std::string at(const NodeDef& node, const std::string& field) const {
    return at(node) + ", field \"" + field + "\"";
  }

  void index_nodes() {
    std::set<std::string> seen;
    for (const auto& node : def_.nodes) {
      MMGEN_CHECK(seen.insert(node.id).second, def_.source, ": node \"", node.id,
                  "\" is defined twice");
      const NodeSpec* spec = find_node_spec(node.type);
      MMGEN_CHECK(spec != nullptr, at(node), ": unknown node type \"", node.type,
                  "\"; known types: ", node_type_choices());
      MMGEN_CHECK(spec->available, at(node), ": node type \"", node.type,
                  "\" is not available in this build (", spec->unavailable_reason, ")");
    }
  }

  // "node.field" values must name a node and one of its fields.
  void check_overrides() {
    if (!values_) return;
    for (const auto& [name, text] : *values_) {
      const auto dot = name.find('.');
      if (dot == std::string::npos) {
        MMGEN_CHECK(def_.input(name) != nullptr, def_.source, ": unknown input \"", name,
                    "\"; the pipeline's inputs: ", input_names(),
                    " (set a node's field with NODE.FIELD=VALUE)");
        continue;
      }
      const std::string id = name.substr(0, dot), field = name.substr(dot + 1);
      const NodeDef* node = def_.node(id);
      MMGEN_CHECK(node != nullptr, def_.source, ": \"", name, "\" names no node \"", id, "\"");
      const NodeSpec* spec = find_node_spec(node->type);
      MMGEN_CHECK(spec->field(field) || spec->extra_fields, at(*node), ": unknown field \"", field,
                  "\" in \"", name, "\"; fields: ", field_names(*spec));
    }
  }

  std::string input_names() const {
    std::string out;
    for (const auto& input : def_.inputs) out += (out.empty() ? "" : ", ") + input.name;
    return out.empty() ? "(none)" : out;
  }

  static std::string field_names(const NodeSpec& spec) {
    std::string out;
    for (const auto& f : spec.fields) out += (out.empty() ? "" : ", ") + f.name;
    return out.empty() ? "(none)" : out;
  }

  static std::string output_names(const NodeSpec& spec) {
    std::string out;
    for (const auto& o : spec.outputs) out += (out.empty() ? "" : ", ") + o.name;
    return out.empty() ? "(none)" : out;
  }

  const std::string* given(const std::string& name) const {
    if (!values_) return nullptr;
    const std::string* found = nullptr;
    for (const auto& [k, v] : *values_)
      if (k == name) found = &v;  // the last one wins, as on a command line
    return found;
  }

  // A known file value made absolute-or-found; an error when the file is missing.
  void resolve_file_value(Value& value, const std::string& where_field, bool node_field,
                          const NodeDef* node) {
    // An empty file value means "not given" (an optional file field left out).
    if (value.type != PortType::kFile || value.text.empty()) return;
    value.text = resolve_file(value.text, def_.base_dir).string();
    if (!for_run_) return;
    if (!fs::exists(value.text)) {
      if (node_field) throw FieldError(where_field, value.text + ": file not found");
      (void)node;
      fail(def_.source, ": input \"", where_field, "\": ", value.text, ": file not found");
    }
  }

  void choose_seed(Value& value, const std::string& name) {
    if (!for_run_ || value.type != PortType::kSeed || value.integer != -1) return;
    value.integer = static_cast<int64_t>(random_seed());
    plan_.seeds.emplace_back(name, static_cast<uint64_t>(value.integer));
  }

  void bind_inputs() {
    for (const auto& input : def_.inputs) {
      const std::string where = def_.source + ": input \"" + input.name + "\"";
      Value value;
      if (const std::string* text = given(input.name)) {
        value = value_from_string(*text, input.type, where);
      } else if (input.default_value) {
        value = value_from_json(*input.default_value, input.type, where + " default");
      } else {
        MMGEN_CHECK(!for_run_, where, " (", port_type_name(input.type), ") is required",
                    input.description.empty() ? "" : ": " + input.description,
                    "; give it with --set ", input.name, "=VALUE");
        continue;
      }
      if (input.type == PortType::kSeed)
        MMGEN_CHECK(value.integer >= -1, where, ": a seed must be >= 0 (or -1 for a random one)");
      resolve_file_value(value, input.name, false, nullptr);
      choose_seed(value, input.name);
      plan_.inputs[input.name] = value;
    }
  }

  PlannedNode plan_node(const NodeDef& node) {
    PlannedNode planned;
    planned.def = &node;
    planned.spec = find_node_spec(node.type);
    const NodeSpec& spec = *planned.spec;
    try {
      for (const auto& field : node.fields)
        if (auto p = plan_field(node, spec, field)) planned.fields.push_back(std::move(*p));
      // Fields left out: defaults, an override, or an error when required.
      for (const auto& f : spec.fields) {
        if (node.field(f.name)) continue;
        PlannedField p;
        p.name = f.name;
        p.type = f.type;
        const std::string key = node.id + "." + f.name;
        if (const std::string* text = given(key)) {
          p.value = value_from_string(*text, f.type, at(node, f.name));
        } else if (f.default_value) {
          p.value = value_from_json(*f.default_value, f.type, at(node, f.name) + " default");
        } else if (f.required()) {
          fail(at(node), ": missing field \"", f.name, "\" (", port_type_name(f.type),
               f.help.empty() ? "" : ": " + f.help, ")");
        } else {
          continue;
        }
        finish_value(node, f, *p.value);
        planned.fields.push_back(std::move(p));
      }
      // Extra variables given only as overrides.
      if (spec.extra_fields && values_) {
        for (const auto& [name, text] : *values_) {
          if (name.rfind(node.id + ".", 0) != 0) continue;
          const std::string field = name.substr(node.id.size() + 1);
          if (spec.field(field) || node.field(field)) continue;
          if (std::any_of(planned.fields.begin(), planned.fields.end(),
                          [&](const PlannedField& p) { return p.name == field; }))
            continue;
          PlannedField p;
          p.name = field;
          p.type = *spec.extra_fields;
          p.value = value_from_string(text, p.type, at(node, field));
          planned.fields.push_back(std::move(p));
        }
      }
      if (spec.check) {
        std::map<std::string, Value> known;
        std::set<std::string> connected;
        for (const auto& p : planned.fields) {
          if (p.value) known[p.name] = *p.value;
          // Fields without a value yet: fed by a node, or by an input given at run time.
          if (!p.value) connected.insert(p.name);
        }
        NodeContext context(node.id, node.type, std::move(known));
        context.set_connected(std::move(connected));
        spec.check(context);
      }
    } catch (const FieldError& e) {
      fail(at(node, e.field()), ": ", e.what());
    }
    return planned;
  }

  void finish_value(const NodeDef& node, const FieldSpec& f, Value& value) {
    if (value.type == PortType::kFile && value.text.empty())
      throw FieldError(f.name, "the file path is empty");
    resolve_file_value(value, f.name, true, &node);
    check_field_value(f, value);
    choose_seed(value, node.id + "." + f.name);
  }

  // The field's plan; nullopt for an optional file field fed an empty path (left out).
  std::optional<PlannedField> plan_field(const NodeDef& node, const NodeSpec& spec,
                                         const NodeField& field) {
    const FieldSpec* f = spec.field(field.name);
    FieldSpec extra;
    if (!f) {
      MMGEN_CHECK(spec.extra_fields.has_value(), at(node), ": unknown field \"", field.name,
                  "\"; fields of ", spec.type, ": ", field_names(spec));
      extra.name = field.name;
      extra.type = *spec.extra_fields;
      f = &extra;
    }
    PlannedField p;
    p.name = field.name;
    p.type = f->type;
    const std::string where = at(node, field.name);
    const FieldSource& source = field.source;
    if (const std::string* text = given(node.id + "." + field.name)) {
      p.value = value_from_string(*text, f->type, where);
    } else if (source.kind == FieldSource::Kind::kLiteral) {
      MMGEN_CHECK(is_literal_type(f->type), where, ": a value of type ", port_type_name(f->type),
                  " cannot be written as a literal; connect it to a node output [\"node id\", "
                  "\"output\"]");
      p.value = value_from_json(source.literal, f->type, where);
    } else if (source.kind == FieldSource::Kind::kInput) {
      const InputDef* input = def_.input(source.name);
      MMGEN_CHECK(input != nullptr, where, ": unknown pipeline input \"", source.name,
                  "\"; the pipeline's inputs: ", input_names());
      MMGEN_CHECK(port_accepts(f->type, input->type), where, ": type mismatch: the field is ",
                  port_type_name(f->type), " but input \"", source.name, "\" is ",
                  port_type_name(input->type));
      auto it = plan_.inputs.find(source.name);
      if (it == plan_.inputs.end()) return p;  // not given yet (validation without values)
      Value value = convert_value(it->second, f->type);
      if (value.type == PortType::kFile && value.text.empty()) {
        MMGEN_CHECK(f->optional, where, ": input \"", source.name,
                    "\" is empty but the field needs a file");
        return std::nullopt;
      }
      try {
        check_field_value(*f, value);
      } catch (const FieldError& e) {
        fail(where, ": ", e.what(), " (from input \"", source.name, "\")");
      }
      p.value = std::move(value);
      return p;
    } else {
      MMGEN_CHECK(source.name != node.id, where, ": the node refers to itself");
      const NodeDef* from = def_.node(source.name);
      MMGEN_CHECK(from != nullptr, where, ": refers to unknown node \"", source.name, "\"");
      const NodeSpec& from_spec = *find_node_spec(from->type);
      const OutputSpec* out = nullptr;
      if (source.output_is_index) {
        const size_t index = std::stoul(source.output);
        MMGEN_CHECK(index < from_spec.outputs.size(), where, ": node \"", source.name, "\" (",
                    from->type, ") has no output ", index,
                    "; its outputs: ", output_names(from_spec));
        out = &from_spec.outputs[index];
      } else {
        out = from_spec.output(source.output);
        MMGEN_CHECK(out != nullptr, where, ": node \"", source.name, "\" (", from->type,
                    ") has no output \"", source.output,
                    "\"; its outputs: ", output_names(from_spec));
      }
      MMGEN_CHECK(port_accepts(f->type, out->type), where, ": type mismatch: the field is ",
                  port_type_name(f->type), " but node \"", source.name, "\" output \"", out->name,
                  "\" is ", port_type_name(out->type));
      p.node = source.name;
      p.output = out->name;
      return p;
    }
    finish_value(node, *f, *p.value);
    return p;
  }

  // Depth-first topological order; a back edge is a cycle, reported with its path.
  std::vector<PlannedNode> order(std::vector<PlannedNode> planned) {
    std::map<std::string, size_t> index;
    for (size_t i = 0; i < planned.size(); ++i) index[planned[i].def->id] = i;
    std::vector<int> state(planned.size(), 0);  // 0 new, 1 on the stack, 2 done
    std::vector<size_t> stack, sorted;
    std::function<void(size_t)> visit = [&](size_t i) {
      if (state[i] == 2) return;
      if (state[i] == 1) {
        std::string path;
        const auto start = std::find(stack.begin(), stack.end(), i);
        for (auto it = start; it != stack.end(); ++it) path += planned[*it].def->id + " -> ";
        fail(def_.source, ": the nodes form a cycle: ", path, planned[i].def->id,
             "; a node cannot depend on its own output");
      }
      state[i] = 1;
      stack.push_back(i);
      for (const auto& f : planned[i].fields)
        if (!f.node.empty()) visit(index.at(f.node));
      stack.pop_back();
      state[i] = 2;
      sorted.push_back(i);
    };
    for (size_t i = 0; i < planned.size(); ++i) visit(i);
    std::vector<PlannedNode> out;
    for (size_t i : sorted) out.push_back(std::move(planned[i]));
    return out;
  }

  void plan_outputs() {
    for (const auto& output : def_.outputs) {
      const std::string where = def_.source + ": output \"" + output.name + "\"";
      const NodeDef* node = def_.node(output.node);
      MMGEN_CHECK(node != nullptr, where, ": refers to unknown node \"", output.node, "\"");
      const NodeSpec& spec = *find_node_spec(node->type);
      MMGEN_CHECK(!spec.outputs.empty(), where, ": node \"", output.node, "\" has no outputs");
      const OutputSpec* out = &spec.outputs.front();
      if (output.output_is_index) {
        const size_t index = std::stoul(output.output);
        MMGEN_CHECK(index < spec.outputs.size(), where, ": node \"", output.node,
                    "\" has no output ", index, "; its outputs: ", output_names(spec));
        out = &spec.outputs[index];
      } else if (!output.output.empty()) {
        out = spec.output(output.output);
        MMGEN_CHECK(out != nullptr, where, ": node \"", output.node, "\" (", node->type,
                    ") has no output \"", output.output, "\"; its outputs: ", output_names(spec));
      }
      plan_.outputs.push_back({output.name, output.node, out->name, out->type});
    }
    if (!def_.outputs.empty()) return;
    // By default: the file every save node writes, named after the node.
    for (const auto& node : plan_.nodes)
      if (node.spec->type.rfind("io.save_", 0) == 0)
        plan_.outputs.push_back({node.def->id, node.def->id, "path", PortType::kFile});
  }

  const PipelineDefinition& def_;
  const InputValues* values_;
  bool for_run_;
  Plan plan_;
};

}  // namespace

void validate_pipeline(const PipelineDefinition& def) { Planner(def, nullptr).run(); }

Plan plan_pipeline(const PipelineDefinition& def, const InputValues& values) {
  return Planner(def, &values).run();
}

}  // namespace mmgen::pipelines
