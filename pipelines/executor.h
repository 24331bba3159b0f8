// Runs a validated pipeline: the nodes in topological order, each seeing its
// field values (literals, inputs, outputs of the nodes before it), with models
// from a shared cache, progress events per node and per step, and a
// cancellation flag checked between nodes and between steps.
#pragma once

#include <atomic>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "core/device.h"
#include "pipelines/definition.h"
#include "pipelines/model_cache.h"
#include "pipelines/node_context.h"
#include "pipelines/validation.h"

namespace mmgen::pipelines {

struct RunOptions {
  std::filesystem::path output_dir = ".";  // where save nodes write (created if missing)
  Device device = Device::cpu();
  PipelineProgressCallback progress;
  const std::atomic<bool>* cancel = nullptr;  // set it (from any thread) to stop the run
};

struct PipelineOutput {
  std::string name;
  PortType type = PortType::kText;
  Value value;  // file outputs: value.text is the path; metadata holds "seed" where one was used
};

struct RunResult {
  std::vector<PipelineOutput> outputs;
  // Every seed the run used that was chosen at random: "input" or "node.field" -> seed.
  std::vector<std::pair<std::string, uint64_t>> random_seeds;
  double seconds = 0;

  const PipelineOutput* output(const std::string& name) const;
};

// Validates with `values` (pipelines/validation.h), then runs. Throws Error
// naming the node for a failure inside it, Cancelled when cancelled.
RunResult run_pipeline(const PipelineDefinition& def, const InputValues& values, ModelCache& models,
                       const RunOptions& options = {});

}  // namespace mmgen::pipelines
