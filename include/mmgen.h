/* mmgen: the C API (docs/pipelines.md). Load a pipeline definition, set its
 * inputs, run it with a progress callback and cancellation, and read its
 * outputs (image pixels, audio samples, text, file paths).
 *
 * Every function that can fail returns an mmgen_status; on failure
 * mmgen_last_error() holds a message naming what was wrong (per thread). No
 * C++ exception crosses this interface. Objects are freed by their destroy
 * function; pointers returned by accessors stay valid until the next run of
 * the pipeline or its destruction. */
#ifndef MMGEN_H
#define MMGEN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(_WIN32)
#define MMGEN_API __declspec(dllexport)
#else
#define MMGEN_API __attribute__((visibility("default")))
#endif

#define MMGEN_VERSION_MAJOR 0
#define MMGEN_VERSION_MINOR 1
#define MMGEN_VERSION_PATCH 0

typedef enum mmgen_status {
  MMGEN_OK = 0,
  MMGEN_ERROR_INVALID_ARGUMENT = 1, /* a NULL pointer, an index out of range, ... */
  MMGEN_ERROR_INVALID_PIPELINE = 2, /* malformed definition, validation failure, bad input */
  MMGEN_ERROR_RUN_FAILED = 3,       /* a node failed while running */
  MMGEN_ERROR_CANCELLED = 4,        /* mmgen_pipeline_cancel or the progress callback */
  MMGEN_ERROR_INTERNAL = 5          /* anything unexpected (out of memory, ...) */
} mmgen_status;

typedef enum mmgen_value_type {
  MMGEN_TYPE_TEXT = 0,
  MMGEN_TYPE_NUMBER = 1,
  MMGEN_TYPE_INTEGER = 2,
  MMGEN_TYPE_BOOLEAN = 3,
  MMGEN_TYPE_FILE = 4,
  MMGEN_TYPE_SEED = 5,
  MMGEN_TYPE_IMAGE = 6,
  MMGEN_TYPE_AUDIO = 7,
  MMGEN_TYPE_VIDEO = 8,
  MMGEN_TYPE_TOKENS = 9
} mmgen_value_type;

typedef enum mmgen_event_kind {
  MMGEN_EVENT_NODE_STARTED = 0,
  MMGEN_EVENT_NODE_STEP = 1,
  MMGEN_EVENT_NODE_TEXT = 2,
  MMGEN_EVENT_NODE_FINISHED = 3
} mmgen_event_kind;

typedef struct mmgen_progress {
  mmgen_event_kind kind;
  const char* node_id;
  const char* node_type;
  int node_index; /* 0-based position in execution order */
  int node_count;
  const char* stage; /* NODE_STEP: what the node is doing, e.g. "sampling" */
  int64_t step;      /* NODE_STEP: steps done */
  int64_t total;     /* NODE_STEP: steps in the stage; 0 when unknown */
  double elapsed_seconds;
  const char* text; /* NODE_TEXT: a piece of generated text */
} mmgen_progress;

/* Called from the thread that runs the pipeline; return 0 to cancel, non-zero to go on. */
typedef int (*mmgen_progress_fn)(const mmgen_progress* progress, void* user_data);

typedef struct mmgen_context mmgen_context;
typedef struct mmgen_pipeline mmgen_pipeline;

/* "0.1.0" */
MMGEN_API const char* mmgen_version(void);
/* The message of the last failure on this thread ("" when none). */
MMGEN_API const char* mmgen_last_error(void);

/* A context holds the model cache (a model used by several nodes or runs loads
 * once) and the compute settings. threads: CPU threads (0: all cores; the
 * setting is process-wide). device: "cpu", "cuda" or "cuda:N" (NULL: "cpu"). */
MMGEN_API mmgen_status mmgen_context_create(int threads, const char* device, mmgen_context** out);
MMGEN_API void mmgen_context_destroy(mmgen_context* context);
/* Frees the cached models. */
MMGEN_API void mmgen_context_clear_cache(mmgen_context* context);

/* A definition from a file (a path, or a built-in pipeline's name) or from JSON
 * text (either mmgen's format or a ComfyUI API-format workflow). It is validated
 * at once; inputs without defaults are checked when it runs. The pipeline keeps
 * a reference to its context: destroy the pipeline first. */
MMGEN_API mmgen_status mmgen_pipeline_load_file(mmgen_context* context, const char* path,
                                                mmgen_pipeline** out);
MMGEN_API mmgen_status mmgen_pipeline_load_json(mmgen_context* context, const char* json,
                                                mmgen_pipeline** out);
MMGEN_API void mmgen_pipeline_destroy(mmgen_pipeline* pipeline);

/* Sets an input ("name") or a node's field ("node.field") from text, parsed by
 * the type it goes to when the pipeline runs. Setting a name again replaces it. */
MMGEN_API mmgen_status mmgen_pipeline_set_input(mmgen_pipeline* pipeline, const char* name,
                                                const char* value);
MMGEN_API mmgen_status mmgen_pipeline_set_input_int(mmgen_pipeline* pipeline, const char* name,
                                                    int64_t value);
MMGEN_API mmgen_status mmgen_pipeline_set_input_number(mmgen_pipeline* pipeline, const char* name,
                                                       double value);
/* The pipeline's declared inputs (for listing). */
MMGEN_API size_t mmgen_pipeline_input_count(const mmgen_pipeline* pipeline);
MMGEN_API const char* mmgen_pipeline_input_name(const mmgen_pipeline* pipeline, size_t index);
MMGEN_API mmgen_value_type mmgen_pipeline_input_type(const mmgen_pipeline* pipeline, size_t index);

/* Runs the pipeline: files go under output_dir (created if missing; NULL: "."),
 * progress (may be NULL) sees each node start and finish and each step. */
MMGEN_API mmgen_status mmgen_pipeline_run(mmgen_pipeline* pipeline, const char* output_dir,
                                          mmgen_progress_fn progress, void* user_data);
/* Asks a run in progress (on another thread) to stop at the next step or node. */
MMGEN_API void mmgen_pipeline_cancel(mmgen_pipeline* pipeline);

/* The outputs of the last successful run. */
MMGEN_API size_t mmgen_pipeline_output_count(const mmgen_pipeline* pipeline);
MMGEN_API const char* mmgen_pipeline_output_name(const mmgen_pipeline* pipeline, size_t index);
/* The index of the output of this name, or -1. */
MMGEN_API int mmgen_pipeline_output_index(const mmgen_pipeline* pipeline, const char* name);
MMGEN_API mmgen_value_type mmgen_pipeline_output_type(const mmgen_pipeline* pipeline, size_t index);
/* Text of a text output, the path of a file output; NULL for other types. */
MMGEN_API const char* mmgen_pipeline_output_text(const mmgen_pipeline* pipeline, size_t index);
/* 8-bit RGB pixels, row-major, of an image output (or of a file output that
 * saved an image); NULL otherwise. */
MMGEN_API const uint8_t* mmgen_pipeline_output_image(const mmgen_pipeline* pipeline, size_t index,
                                                     int* width, int* height, int* channels);
/* Interleaved float samples in [-1, 1] of an audio output (or of a file output
 * that saved audio); NULL otherwise. frames = samples / channels. */
MMGEN_API const float* mmgen_pipeline_output_audio(const mmgen_pipeline* pipeline, size_t index,
                                                   int* sample_rate, int* channels, size_t* frames);
/* A metadata value of an output ("seed", "parameters"), or NULL when absent. */
MMGEN_API const char* mmgen_pipeline_output_metadata(const mmgen_pipeline* pipeline, size_t index,
                                                     const char* key);

#ifdef __cplusplus
}
#endif

#endif /* MMGEN_H */
