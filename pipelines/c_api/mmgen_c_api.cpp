// include/mmgen.h over the pipelines layer. Every entry point catches every
// exception and turns it into a status and the thread's last-error message.
#include <atomic>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <functional>
#include <memory>
#include <new>
#include <string>
#include <vector>

#include "core/device.h"
#include "core/error.h"
#include "core/thread_pool.h"
#include "include/mmgen.h"
#include "pipelines/builtin.h"
#include "pipelines/definition.h"
#include "pipelines/executor.h"
#include "pipelines/validation.h"

struct mmgen_context {
  mmgen::Device device;
  mmgen::pipelines::ModelCache models;
};

struct mmgen_pipeline {
  mmgen_context* context = nullptr;
  mmgen::pipelines::PipelineDefinition def;
  mmgen::pipelines::InputValues values;
  std::atomic<bool> cancel{false};
  mmgen::pipelines::RunResult result;
};

namespace {

using mmgen::pipelines::PipelineEvent;
using mmgen::pipelines::PortType;
// The C enums mirror the C++ ones value for value.
static_assert(static_cast<int>(PortType::kText) == MMGEN_TYPE_TEXT &&
              static_cast<int>(PortType::kSeed) == MMGEN_TYPE_SEED &&
              static_cast<int>(PortType::kTokens) == MMGEN_TYPE_TOKENS);
static_assert(static_cast<int>(PipelineEvent::Kind::kNodeStarted) == MMGEN_EVENT_NODE_STARTED &&
              static_cast<int>(PipelineEvent::Kind::kNodeText) == MMGEN_EVENT_NODE_TEXT &&
              static_cast<int>(PipelineEvent::Kind::kNodeFinished) == MMGEN_EVENT_NODE_FINISHED);

thread_local std::string last_error;

mmgen_status fail_with(mmgen_status status, const std::string& message) {
  last_error = message;
  return status;
}

// Runs `body`, mapping exceptions to statuses; `failure` is the status of an
// mmgen::Error (bad definition or input while loading, a failed node while running).
template <typename Body>
mmgen_status guarded(mmgen_status failure, Body&& body) {
  try {
    last_error.clear();
    body();
    return MMGEN_OK;
  } catch (const mmgen::pipelines::Cancelled& e) {
    return fail_with(MMGEN_ERROR_CANCELLED, e.what());
  } catch (const mmgen::Error& e) {
    return fail_with(failure, e.what());
  } catch (const std::bad_alloc&) {
    return fail_with(MMGEN_ERROR_INTERNAL, "out of memory");
  } catch (const std::exception& e) {
    return fail_with(MMGEN_ERROR_INTERNAL, std::string("internal error: ") + e.what());
  } catch (...) {
    return fail_with(MMGEN_ERROR_INTERNAL, "internal error");
  }
}

const mmgen::pipelines::PipelineOutput* output_at(const mmgen_pipeline* p, size_t index) {
  if (!p || index >= p->result.outputs.size()) return nullptr;
  return &p->result.outputs[index];
}

mmgen_status set_value(mmgen_pipeline* pipeline, const char* name, std::string value) {
  if (!pipeline || !name || !*name)
    return fail_with(MMGEN_ERROR_INVALID_ARGUMENT, "mmgen_pipeline_set_input: no pipeline or name");
  return guarded(MMGEN_ERROR_INVALID_PIPELINE, [&] {
    const std::string key(name);
    for (auto it = pipeline->values.begin(); it != pipeline->values.end();)
      it = it->first == key ? pipeline->values.erase(it) : it + 1;
    pipeline->values.emplace_back(key, std::move(value));
  });
}

mmgen_status load(mmgen_context* context, mmgen_pipeline** out, const char* what,
                  const std::function<mmgen::pipelines::PipelineDefinition()>& parse) {
  if (!context || !out)
    return fail_with(MMGEN_ERROR_INVALID_ARGUMENT,
                     std::string(what) + ": the context and the output pointer must not be NULL");
  *out = nullptr;
  return guarded(MMGEN_ERROR_INVALID_PIPELINE, [&] {
    auto pipeline = std::make_unique<mmgen_pipeline>();
    pipeline->context = context;
    pipeline->def = parse();
    mmgen::pipelines::validate_pipeline(pipeline->def);
    *out = pipeline.release();
  });
}

}  // namespace

extern "C" {

const char* mmgen_version(void) { return "0.1.0"; }

const char* mmgen_last_error(void) { return last_error.c_str(); }

mmgen_status mmgen_context_create(int threads, const char* device, mmgen_context** out) {
  if (!out) return fail_with(MMGEN_ERROR_INVALID_ARGUMENT, "mmgen_context_create: out is NULL");
  *out = nullptr;
  if (threads < 0)
    return fail_with(MMGEN_ERROR_INVALID_ARGUMENT,
                     "mmgen_context_create: threads must be >= 0, got " + std::to_string(threads));
  return guarded(MMGEN_ERROR_INVALID_ARGUMENT, [&] {
    auto context = std::make_unique<mmgen_context>();
    context->device = mmgen::parse_device(device ? device : "cpu");
    mmgen::require_device(context->device, "device");
    if (threads > 0) mmgen::set_num_threads(threads);
    *out = context.release();
  });
}

void mmgen_context_destroy(mmgen_context* context) { delete context; }

void mmgen_context_clear_cache(mmgen_context* context) {
  if (context) context->models.clear();
}

mmgen_status mmgen_pipeline_load_file(mmgen_context* context, const char* path,
                                      mmgen_pipeline** out) {
  if (!path)
    return fail_with(MMGEN_ERROR_INVALID_ARGUMENT, "mmgen_pipeline_load_file: path is NULL");
  return load(context, out, "mmgen_pipeline_load_file", [&] {
    return mmgen::pipelines::load_pipeline_file(mmgen::pipelines::resolve_pipeline_path(path));
  });
}

mmgen_status mmgen_pipeline_load_json(mmgen_context* context, const char* json,
                                      mmgen_pipeline** out) {
  if (!json)
    return fail_with(MMGEN_ERROR_INVALID_ARGUMENT, "mmgen_pipeline_load_json: json is NULL");
  return load(context, out, "mmgen_pipeline_load_json",
              [&] { return mmgen::pipelines::parse_pipeline(json, "pipeline JSON"); });
}

void mmgen_pipeline_destroy(mmgen_pipeline* pipeline) { delete pipeline; }

mmgen_status mmgen_pipeline_set_input(mmgen_pipeline* pipeline, const char* name,
                                      const char* value) {
  if (!value)
    return fail_with(MMGEN_ERROR_INVALID_ARGUMENT, "mmgen_pipeline_set_input: value is NULL");
  return set_value(pipeline, name, value);
}

mmgen_status mmgen_pipeline_set_input_int(mmgen_pipeline* pipeline, const char* name,
                                          int64_t value) {
  return set_value(pipeline, name, std::to_string(value));
}

mmgen_status mmgen_pipeline_set_input_number(mmgen_pipeline* pipeline, const char* name,
                                             double value) {
  char text[64];
  std::snprintf(text, sizeof(text), "%.17g", value);
  return set_value(pipeline, name, text);
}

size_t mmgen_pipeline_input_count(const mmgen_pipeline* pipeline) {
  return pipeline ? pipeline->def.inputs.size() : 0;
}

const char* mmgen_pipeline_input_name(const mmgen_pipeline* pipeline, size_t index) {
  if (!pipeline || index >= pipeline->def.inputs.size()) return nullptr;
  return pipeline->def.inputs[index].name.c_str();
}

mmgen_value_type mmgen_pipeline_input_type(const mmgen_pipeline* pipeline, size_t index) {
  if (!pipeline || index >= pipeline->def.inputs.size()) return MMGEN_TYPE_TEXT;
  return static_cast<mmgen_value_type>(pipeline->def.inputs[index].type);
}

mmgen_status mmgen_pipeline_run(mmgen_pipeline* pipeline, const char* output_dir,
                                mmgen_progress_fn progress, void* user_data) {
  if (!pipeline)
    return fail_with(MMGEN_ERROR_INVALID_ARGUMENT, "mmgen_pipeline_run: pipeline is NULL");
  pipeline->result = {};
  pipeline->cancel = false;
  // Validation problems are the definition's or the inputs' fault; the rest is the run's.
  const mmgen_status planned = guarded(MMGEN_ERROR_INVALID_PIPELINE, [&] {
    mmgen::pipelines::plan_pipeline(pipeline->def, pipeline->values);
  });
  if (planned != MMGEN_OK) return planned;
  return guarded(MMGEN_ERROR_RUN_FAILED, [&] {
    mmgen::pipelines::RunOptions options;
    options.output_dir = output_dir ? output_dir : ".";
    options.device = pipeline->context->device;
    options.cancel = &pipeline->cancel;
    if (progress) {
      options.progress = [progress, user_data](const mmgen::pipelines::PipelineEvent& e) {
        mmgen_progress p{};
        p.kind = static_cast<mmgen_event_kind>(e.kind);
        p.node_id = e.node_id.c_str();
        p.node_type = e.node_type.c_str();
        p.node_index = e.node_index;
        p.node_count = e.node_count;
        p.stage = e.step.stage.c_str();
        p.step = e.step.step;
        p.total = e.step.total;
        p.elapsed_seconds = e.step.elapsed_seconds;
        p.text = e.text.c_str();
        return progress(&p, user_data) != 0;
      };
    }
    pipeline->result = mmgen::pipelines::run_pipeline(pipeline->def, pipeline->values,
                                                      pipeline->context->models, options);
  });
}

void mmgen_pipeline_cancel(mmgen_pipeline* pipeline) {
  if (pipeline) pipeline->cancel = true;
}

size_t mmgen_pipeline_output_count(const mmgen_pipeline* pipeline) {
  return pipeline ? pipeline->result.outputs.size() : 0;
}

const char* mmgen_pipeline_output_name(const mmgen_pipeline* pipeline, size_t index) {
  const auto* out = output_at(pipeline, index);
  return out ? out->name.c_str() : nullptr;
}

int mmgen_pipeline_output_index(const mmgen_pipeline* pipeline, const char* name) {
  if (!pipeline || !name) return -1;
  for (size_t i = 0; i < pipeline->result.outputs.size(); ++i)
    if (pipeline->result.outputs[i].name == name) return static_cast<int>(i);
  return -1;
}

mmgen_value_type mmgen_pipeline_output_type(const mmgen_pipeline* pipeline, size_t index) {
  const auto* out = output_at(pipeline, index);
  return out ? static_cast<mmgen_value_type>(out->type) : MMGEN_TYPE_TEXT;
}

const char* mmgen_pipeline_output_text(const mmgen_pipeline* pipeline, size_t index) {
  const auto* out = output_at(pipeline, index);
  if (!out) return nullptr;
  const PortType t = out->type;
  if (t != PortType::kText && t != PortType::kFile && t != PortType::kTokens) return nullptr;
  return out->value.text.c_str();
}

const uint8_t* mmgen_pipeline_output_image(const mmgen_pipeline* pipeline, size_t index, int* width,
                                           int* height, int* channels) {
  const auto* out = output_at(pipeline, index);
  if (!out || !out->value.image) return nullptr;
  if (width) *width = out->value.image->width;
  if (height) *height = out->value.image->height;
  if (channels) *channels = 3;
  return out->value.image->pixels.data();
}

const float* mmgen_pipeline_output_audio(const mmgen_pipeline* pipeline, size_t index,
                                         int* sample_rate, int* channels, size_t* frames) {
  const auto* out = output_at(pipeline, index);
  if (!out || !out->value.audio) return nullptr;
  if (sample_rate) *sample_rate = out->value.audio->sample_rate;
  if (channels) *channels = out->value.audio->channels;
  if (frames) *frames = static_cast<size_t>(out->value.audio->frames());
  return out->value.audio->samples.data();
}

const char* mmgen_pipeline_output_metadata(const mmgen_pipeline* pipeline, size_t index,
                                           const char* key) {
  const auto* out = output_at(pipeline, index);
  if (!out || !key) return nullptr;
  for (const auto& [k, v] : out->value.metadata)
    if (k == key) return v.c_str();
  return nullptr;
}

}  // extern "C"
