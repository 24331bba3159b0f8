// `mmgen pipelines`: the built-in pipeline definitions with their inputs, and
// (with --nodes) the node types a definition may use.
#include <cstdio>
#include <string>

#include "core/error.h"
#include "examples/cli/commands.h"
#include "pipelines/builtin.h"
#include "pipelines/definition.h"
#include "pipelines/node_types.h"

namespace mmgen::cli {
namespace {

struct PipelinesOptions {
  bool nodes = false;
};

void list_pipelines() {
  std::printf("built-in pipelines (%s):\n",
              pipelines::find_builtin_pipeline_dir().string().c_str());
  for (const auto& builtin : pipelines::list_builtin_pipelines()) {
    const pipelines::PipelineDefinition def = pipelines::load_pipeline_file(builtin.path);
    std::printf("\n%s: %s\n", builtin.name.c_str(), def.description.c_str());
    for (const auto& input : def.inputs) {
      std::string note =
          input.default_value ? "default " + input.default_value->dump() : std::string("required");
      std::printf("  %-16s %-8s %s (%s)\n", input.name.c_str(),
                  std::string(pipelines::port_type_name(input.type)).c_str(),
                  input.description.c_str(), note.c_str());
    }
  }
}

void list_nodes() {
  for (const auto& spec : pipelines::node_specs()) {
    std::printf(
        "\n%s: %s%s\n", spec.type.c_str(), spec.help.c_str(),
        spec.available ? "" : (" [not available: " + spec.unavailable_reason + "]").c_str());
    for (const auto& f : spec.fields) {
      const std::string note = f.default_value ? "default " + f.default_value->dump()
                               : f.optional    ? std::string("optional")
                                               : std::string("required");
      std::printf("  in  %-16s %-8s %s (%s)\n", f.name.c_str(),
                  std::string(pipelines::port_type_name(f.type)).c_str(), f.help.c_str(),
                  note.c_str());
    }
    for (const auto& out : spec.outputs)
      std::printf("  out %-16s %-8s %s\n", out.name.c_str(),
                  std::string(pipelines::port_type_name(out.type)).c_str(), out.help.c_str());
  }
}

}  // namespace

Command make_pipelines_command() {
  auto o = std::make_shared<PipelinesOptions>();
  Command command;
  command.attach_fn = [o](CLI::App& parent, Command& self) {
    self.app = parent.add_subcommand("pipelines", "List the built-in pipelines and their inputs");
    self.app->add_flag("--nodes", o->nodes, "List the node types instead");
  };
  command.run = [o] {
    if (o->nodes)
      list_nodes();
    else
      list_pipelines();
    return 0;
  };
  return command;
}

}  // namespace mmgen::cli
