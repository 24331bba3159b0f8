// `mmgen run DEF --set name=value ... -o OUTDIR`: runs a pipeline definition
// (a file, a built-in name, or a ComfyUI API-format workflow) and reports the
// files it wrote (docs/pipelines.md).
#include <cstdio>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/progress.h"
#include "core/thread_pool.h"
#include "examples/cli/commands.h"
#include "examples/cli/device_option.h"
#include "pipelines/builtin.h"
#include "pipelines/definition.h"
#include "pipelines/executor.h"

namespace mmgen::cli {
namespace {

struct RunCliOptions {
  std::string pipeline;
  std::vector<std::string> sets;
  std::string output_dir = ".";
  int threads = 0;
  std::string device = "cpu";
};

pipelines::InputValues parse_sets(const std::vector<std::string>& sets) {
  pipelines::InputValues values;
  for (const auto& set : sets) {
    const auto eq = set.find('=');
    MMGEN_CHECK(eq != std::string::npos && eq > 0, "--set \"", set,
                "\": expected NAME=VALUE (or NODE.FIELD=VALUE)");
    values.emplace_back(set.substr(0, eq), set.substr(eq + 1));
  }
  return values;
}

// The terminal's progress bar, with the node named in the stage.
pipelines::PipelineProgressCallback terminal_progress() {
  if (!stderr_is_terminal()) return {};
  ProgressCallback bar = terminal_progress_bar();
  return [bar](const pipelines::PipelineEvent& e) {
    if (e.kind != pipelines::PipelineEvent::Kind::kNodeStep) return true;
    ProgressEvent step = e.step;
    step.stage = e.node_id + " " + step.stage;
    return bar(step);
  };
}

int run_run(const RunCliOptions& o) {
  MMGEN_CHECK(o.threads >= 0, "--threads must be >= 0, got ", o.threads);
  const Device device = resolve_device(o.device);
  const pipelines::PipelineDefinition def =
      pipelines::load_pipeline_file(pipelines::resolve_pipeline_path(o.pipeline));
  if (o.threads > 0) set_num_threads(o.threads);
  pipelines::ModelCache models;
  pipelines::RunOptions options;
  options.output_dir = o.output_dir;
  options.device = device;
  options.progress = terminal_progress();
  const pipelines::RunResult result =
      pipelines::run_pipeline(def, parse_sets(o.sets), models, options);
  for (const auto& out : result.outputs) {
    const std::string seed = out.value.meta("seed");
    const std::string note = seed.empty() ? "" : " (seed " + seed + ")";
    if (out.type == pipelines::PortType::kFile)
      std::fprintf(stderr, "wrote %s%s\n", out.value.text.c_str(), note.c_str());
    else
      std::fprintf(stderr, "%s: %s%s\n", out.name.c_str(), out.value.describe().c_str(),
                   note.c_str());
  }
  if (!result.random_seeds.empty()) {
    std::string seeds;
    for (const auto& [name, seed] : result.random_seeds)
      seeds += " " + name + "=" + std::to_string(seed);
    std::fprintf(stderr, "random seeds (give them with --set to repeat the run):%s\n",
                 seeds.c_str());
  }
  std::fprintf(stderr, "ran %s (%zu nodes) in %s\n", def.name.c_str(), def.nodes.size(),
               format_duration(result.seconds).c_str());
  return 0;
}

}  // namespace

Command make_run_command() {
  auto o = std::make_shared<RunCliOptions>();
  Command command;
  command.attach_fn = [o](CLI::App& parent, Command& self) {
    self.app = parent.add_subcommand(
        "run",
        "Run a pipeline: a definition file, a built-in name (see `mmgen pipelines`) or a "
        "ComfyUI API-format workflow");
    self.app->add_option("pipeline", o->pipeline, "Definition file or built-in pipeline name")
        ->required();
    self.app
        ->add_option("--set", o->sets,
                     "NAME=VALUE sets an input; NODE.FIELD=VALUE sets a node's field "
                     "(repeatable)")
        ->allow_extra_args(false)
        ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
    self.app->add_option("-o,--output-dir", o->output_dir, "Folder for the files written")
        ->capture_default_str();
    self.app->add_option("-t,--threads", o->threads, "CPU threads (default: all cores)");
    add_device_option(*self.app, o->device);
  };
  command.run = [o] { return run_run(*o); };
  return command;
}

}  // namespace mmgen::cli
