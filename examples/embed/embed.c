/* Embedding mmgen from C: runs a pipeline (a definition file or a built-in
 * name) with NAME=VALUE inputs and prints its outputs.
 *
 *   mmgen_embed text-to-image OUTDIR model=sd.safetensors "prompt=a red circle"
 */
#include <mmgen.h>
#include <stdio.h>
#include <string.h>

static int on_progress(const mmgen_progress* p, void* user_data) {
  (void)user_data;
  if (p->kind == MMGEN_EVENT_NODE_STARTED)
    fprintf(stderr, "[%d/%d] %s (%s)\n", p->node_index + 1, p->node_count, p->node_id,
            p->node_type);
  else if (p->kind == MMGEN_EVENT_NODE_STEP && p->total > 0)
    fprintf(stderr, "  %s %lld/%lld\n", p->stage, (long long)p->step, (long long)p->total);
  return 1; /* go on; 0 would cancel */
}

static int fail(const char* what, mmgen_context* context, mmgen_pipeline* pipeline) {
  fprintf(stderr, "mmgen_embed: %s: %s\n", what, mmgen_last_error());
  mmgen_pipeline_destroy(pipeline);
  mmgen_context_destroy(context);
  return 1;
}

int main(int argc, char** argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: %s PIPELINE OUTDIR [NAME=VALUE ...]\n", argv[0]);
    return 2;
  }
  mmgen_context* context = NULL;
  mmgen_pipeline* pipeline = NULL;
  if (mmgen_context_create(0, "cpu", &context) != MMGEN_OK) return fail("context", NULL, NULL);
  if (mmgen_pipeline_load_file(context, argv[1], &pipeline) != MMGEN_OK)
    return fail(argv[1], context, NULL);
  for (int i = 3; i < argc; ++i) {
    char name[256];
    const char* eq = strchr(argv[i], '=');
    if (!eq || eq == argv[i] || (size_t)(eq - argv[i]) >= sizeof(name)) {
      fprintf(stderr, "mmgen_embed: \"%s\": expected NAME=VALUE\n", argv[i]);
      return fail("arguments", context, pipeline);
    }
    memcpy(name, argv[i], (size_t)(eq - argv[i]));
    name[eq - argv[i]] = '\0';
    if (mmgen_pipeline_set_input(pipeline, name, eq + 1) != MMGEN_OK)
      return fail(name, context, pipeline);
  }
  const mmgen_status status = mmgen_pipeline_run(pipeline, argv[2], on_progress, NULL);
  if (status != MMGEN_OK) {
    fprintf(stderr, "mmgen_embed: run failed (status %d): %s\n", (int)status, mmgen_last_error());
    mmgen_pipeline_destroy(pipeline);
    mmgen_context_destroy(context);
    return 1;
  }
  for (size_t i = 0; i < mmgen_pipeline_output_count(pipeline); ++i) {
    const char* seed = mmgen_pipeline_output_metadata(pipeline, i, "seed");
    printf("%s:", mmgen_pipeline_output_name(pipeline, i));
    const char* text = mmgen_pipeline_output_text(pipeline, i);
    if (text) printf(" %s", text);
    int width = 0, height = 0, channels = 0, rate = 0;
    size_t frames = 0;
    const unsigned char* pixels =
        mmgen_pipeline_output_image(pipeline, i, &width, &height, &channels);
    if (pixels) {
      unsigned long sum = 0;
      for (size_t k = 0; k < (size_t)width * height * channels; ++k) sum += pixels[k];
      printf(" image %dx%dx%d (pixel sum %lu)", width, height, channels, sum);
    }
    if (mmgen_pipeline_output_audio(pipeline, i, &rate, &channels, &frames))
      printf(" audio %zu frames at %d Hz", frames, rate);
    if (seed) printf(" seed %s", seed);
    printf("\n");
  }
  mmgen_pipeline_destroy(pipeline);
  mmgen_context_destroy(context);
  return 0;
}
