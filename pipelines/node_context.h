// What a node's run function sees: its field values, the model cache, the
// device, where files go, progress reporting and the cancellation flag; and
// where it puts its outputs. Validation builds one with only the values known
// before the run, for the node types' cross-field checks.
#pragma once

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <string_view>

#include "core/device.h"
#include "core/error.h"
#include "core/progress.h"
#include "pipelines/model_cache.h"
#include "pipelines/value.h"

namespace mmgen::pipelines {

// Thrown when a run is cancelled (the flag, or a progress callback returning false).
class Cancelled : public Error {
 public:
  using Error::Error;
};

struct PipelineEvent {
  enum class Kind {
    kNodeStarted,   // node_index of node_count begins
    kNodeStep,      // step: the node's engine advanced (stage, step, total)
    kNodeText,      // text: a piece of generated text (token streams)
    kNodeFinished,  // the node's outputs are ready
  };
  Kind kind = Kind::kNodeStarted;
  std::string node_id;
  std::string node_type;
  int node_index = 0;
  int node_count = 0;
  ProgressEvent step;
  std::string text;
};
// Returning false cancels the run.
using PipelineProgressCallback = std::function<bool(const PipelineEvent&)>;

struct NodeRuntime {
  ModelCache* models = nullptr;
  Device device;
  std::filesystem::path output_dir;
  const std::atomic<bool>* cancel = nullptr;
  PipelineProgressCallback progress;
  int node_index = 0;
  int node_count = 0;
};

class NodeContext {
 public:
  NodeContext(std::string node_id, std::string node_type, std::map<std::string, Value> values,
              NodeRuntime runtime = {});

  const std::string& node_id() const { return node_id_; }
  const std::string& node_type() const { return node_type_; }

  bool has(std::string_view field) const;
  // The value of a field; an Error when it is absent.
  const Value& value(std::string_view field) const;
  const std::map<std::string, Value>& values() const { return values_; }
  // Fields fed by another node's output (known only at run time; for validation).
  bool connected(std::string_view field) const { return connected_.count(std::string(field)) > 0; }
  void set_connected(std::set<std::string> fields) { connected_ = std::move(fields); }
  std::string text(std::string_view field) const;
  double number(std::string_view field) const;
  int64_t integer(std::string_view field) const;
  bool boolean(std::string_view field) const;
  std::filesystem::path file(std::string_view field) const;
  // A seed field (already resolved: never -1 at run time).
  uint64_t seed(std::string_view field) const;

  ModelCache& models() const;
  Device device() const { return runtime_.device; }
  const std::filesystem::path& output_dir() const { return runtime_.output_dir; }

  // Throws Cancelled when the run's flag is set.
  void check_cancelled() const;
  bool cancelled() const;
  // A callback for an engine's ProgressCallback: forwards the step as a
  // kNodeStep event; returns false (cancel) when the flag is set or the
  // pipeline callback says so.
  ProgressCallback step_progress();
  // Reports a piece of generated text; false when the run should stop.
  bool emit_text(std::string_view text);
  // True once a callback asked to stop.
  bool stop_requested() const { return stop_requested_; }

  void set_output(const std::string& name, Value value);
  std::map<std::string, Value>& outputs() { return outputs_; }

 private:
  bool emit(PipelineEvent event);

  std::string node_id_;
  std::string node_type_;
  std::map<std::string, Value> values_;
  NodeRuntime runtime_;
  std::map<std::string, Value> outputs_;
  std::set<std::string> connected_;
  bool stop_requested_ = false;
};

}  // namespace mmgen::pipelines
