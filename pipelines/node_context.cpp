#include "pipelines/node_context.h"

namespace mmgen::pipelines {

NodeContext::NodeContext(std::string node_id, std::string node_type,
                         std::map<std::string, Value> values, NodeRuntime runtime)
    : node_id_(std::move(node_id)),
      node_type_(std::move(node_type)),
      values_(std::move(values)),
      runtime_(std::move(runtime)) {}

bool NodeContext::has(std::string_view field) const {
  return values_.find(std::string(field)) != values_.end();
}

const Value& NodeContext::value(std::string_view field) const {
  auto it = values_.find(std::string(field));
  MMGEN_CHECK(it != values_.end(), "node \"", node_id_, "\" (", node_type_, "): field \"", field,
              "\" has no value");
  return it->second;
}

std::string NodeContext::text(std::string_view field) const { return value(field).text; }
double NodeContext::number(std::string_view field) const {
  const Value& v = value(field);
  return v.type == PortType::kNumber ? v.number : static_cast<double>(v.integer);
}
int64_t NodeContext::integer(std::string_view field) const { return value(field).integer; }
bool NodeContext::boolean(std::string_view field) const { return value(field).boolean; }
std::filesystem::path NodeContext::file(std::string_view field) const { return value(field).text; }
uint64_t NodeContext::seed(std::string_view field) const {
  return static_cast<uint64_t>(value(field).integer);
}

ModelCache& NodeContext::models() const {
  MMGEN_CHECK(runtime_.models != nullptr, "node \"", node_id_, "\": no model cache");
  return *runtime_.models;
}

bool NodeContext::cancelled() const {
  return stop_requested_ || (runtime_.cancel && runtime_.cancel->load());
}

void NodeContext::check_cancelled() const {
  if (cancelled()) throw Cancelled("cancelled at node \"" + node_id_ + "\"");
}

bool NodeContext::emit(PipelineEvent event) {
  event.node_id = node_id_;
  event.node_type = node_type_;
  event.node_index = runtime_.node_index;
  event.node_count = runtime_.node_count;
  if (runtime_.progress && !runtime_.progress(event)) stop_requested_ = true;
  return !cancelled();
}

ProgressCallback NodeContext::step_progress() {
  return [this](const ProgressEvent& step) {
    PipelineEvent event;
    event.kind = PipelineEvent::Kind::kNodeStep;
    event.step = step;
    return emit(std::move(event));
  };
}

bool NodeContext::emit_text(std::string_view text) {
  PipelineEvent event;
  event.kind = PipelineEvent::Kind::kNodeText;
  event.text = std::string(text);
  return emit(std::move(event));
}

void NodeContext::set_output(const std::string& name, Value value) {
  outputs_[name] = std::move(value);
}

}  // namespace mmgen::pipelines
