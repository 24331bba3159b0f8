#include "pipelines/executor.h"

#include <chrono>
#include <map>

#include "core/error.h"

namespace mmgen::pipelines {

namespace fs = std::filesystem;

const PipelineOutput* RunResult::output(const std::string& name) const {
  for (const auto& o : outputs)
    if (o.name == name) return &o;
  return nullptr;
}

RunResult run_pipeline(const PipelineDefinition& def, const InputValues& values, ModelCache& models,
                       const RunOptions& options) {
  const auto start = std::chrono::steady_clock::now();
  const Plan plan = plan_pipeline(def, values);
  if (!options.output_dir.empty()) {
    std::error_code ec;
    fs::create_directories(options.output_dir, ec);
    MMGEN_CHECK(fs::is_directory(options.output_dir), options.output_dir.string(),
                ": cannot create the output folder");
  }

  const auto cancelled = [&] { return options.cancel && options.cancel->load(); };
  std::map<std::string, std::map<std::string, Value>> results;  // node id -> outputs
  const int count = static_cast<int>(plan.nodes.size());
  for (int i = 0; i < count; ++i) {
    const PlannedNode& node = plan.nodes[i];
    const std::string& id = node.def->id;
    if (cancelled()) throw Cancelled("cancelled before node \"" + id + "\"");

    std::map<std::string, Value> fields;
    for (const auto& f : node.fields) {
      if (f.value) {
        fields[f.name] = *f.value;
      } else {
        const Value& from = results.at(f.node).at(f.output);
        fields[f.name] = convert_value(from, f.type);
      }
    }
    NodeRuntime runtime;
    runtime.models = &models;
    runtime.device = options.device;
    runtime.output_dir = options.output_dir;
    runtime.cancel = options.cancel;
    runtime.progress = options.progress;
    runtime.node_index = i;
    runtime.node_count = count;
    NodeContext context(id, node.spec->type, std::move(fields), runtime);

    PipelineEvent event;
    event.node_id = id;
    event.node_type = node.spec->type;
    event.node_index = i;
    event.node_count = count;
    event.kind = PipelineEvent::Kind::kNodeStarted;
    if (options.progress && !options.progress(event))
      throw Cancelled("cancelled before node \"" + id + "\"");
    try {
      node.spec->run(context);
      context.check_cancelled();
    } catch (const Cancelled&) {
      throw;
    } catch (const Error& e) {
      // A cancelled engine reports its own error; say it was a cancellation.
      if (context.cancelled()) throw Cancelled("cancelled at node \"" + id + "\"");
      fail(def.source, ": node \"", id, "\" (", node.spec->type, "): ", e.what());
    }
    for (const auto& out : node.spec->outputs)
      MMGEN_CHECK(context.outputs().count(out.name), "node \"", id, "\" (", node.spec->type,
                  ") produced no output \"", out.name, "\"");
    results[id] = std::move(context.outputs());
    event.kind = PipelineEvent::Kind::kNodeFinished;
    if (options.progress && !options.progress(event) && i + 1 < count)
      throw Cancelled("cancelled after node \"" + id + "\"");
  }

  RunResult result;
  for (const auto& out : plan.outputs)
    result.outputs.push_back({out.name, out.type, results.at(out.node).at(out.output)});
  result.random_seeds = plan.seeds;
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return result;
}

}  // namespace mmgen::pipelines
