// The C API through libmmgen.so: load, set inputs, run with progress, read
// pixels and samples, cancel, and error codes with messages; and the C
// embedding example run as a user runs it.
#include <sys/wait.h>

#include <catch2/catch.hpp>
#include <cstdio>
#include <string>

#include "include/mmgen.h"
#include "tests/pipelines/pipeline_test_util.h"
#include "tests/support/cli_runner.h"
#include "vision/png.h"

namespace mmgen {
namespace {

using Catch::Matchers::Contains;

struct Context {
  mmgen_context* context = nullptr;
  Context() { REQUIRE(mmgen_context_create(1, "cpu", &context) == MMGEN_OK); }
  ~Context() { mmgen_context_destroy(context); }
};

struct Pipeline {
  mmgen_pipeline* pipeline = nullptr;
  ~Pipeline() { mmgen_pipeline_destroy(pipeline); }
};

int count_steps(const mmgen_progress* p, void* user) {
  if (p->kind == MMGEN_EVENT_NODE_STEP) ++*static_cast<int*>(user);
  return 1;
}

int cancel_at_first_step(const mmgen_progress* p, void*) {
  return p->kind == MMGEN_EVENT_NODE_STEP ? 0 : 1;
}

// Calls mmgen_pipeline_cancel, as another thread would, and lets the run go on.
int cancel_through_api(const mmgen_progress* p, void* pipeline) {
  if (p->kind == MMGEN_EVENT_NODE_STEP)
    mmgen_pipeline_cancel(static_cast<mmgen_pipeline*>(pipeline));
  return 1;
}

}  // namespace

TEST_CASE("The C API runs text-to-image and hands back pixels and the seed", "[pipelines][capi]") {
  CHECK(std::string(mmgen_version()) == "0.1.0");
  Context c;
  Pipeline p;
  REQUIRE(mmgen_pipeline_load_file(c.context, "text-to-image", &p.pipeline) == MMGEN_OK);
  REQUIRE(mmgen_pipeline_input_count(p.pipeline) == 9);
  CHECK(std::string(mmgen_pipeline_input_name(p.pipeline, 0)) == "model");
  CHECK(mmgen_pipeline_input_type(p.pipeline, 0) == MMGEN_TYPE_FILE);
  REQUIRE(mmgen_pipeline_set_input(p.pipeline, "model", test::sd_model().c_str()) == MMGEN_OK);
  REQUIRE(mmgen_pipeline_set_input(p.pipeline, "prompt", "a red circle") == MMGEN_OK);
  REQUIRE(mmgen_pipeline_set_input_int(p.pipeline, "width", 64) == MMGEN_OK);
  REQUIRE(mmgen_pipeline_set_input_int(p.pipeline, "height", 64) == MMGEN_OK);
  REQUIRE(mmgen_pipeline_set_input_int(p.pipeline, "steps", 2) == MMGEN_OK);
  REQUIRE(mmgen_pipeline_set_input_number(p.pipeline, "cfg_scale", 5.0) == MMGEN_OK);
  REQUIRE(mmgen_pipeline_set_input_int(p.pipeline, "seed", 31) == MMGEN_OK);
  const auto dir = test::temp_dir("capi");
  int steps = 0;
  REQUIRE(mmgen_pipeline_run(p.pipeline, dir.string().c_str(), count_steps, &steps) == MMGEN_OK);
  CHECK(steps == 2);
  REQUIRE(mmgen_pipeline_output_count(p.pipeline) == 1);
  const int index = mmgen_pipeline_output_index(p.pipeline, "image");
  REQUIRE(index == 0);
  CHECK(mmgen_pipeline_output_index(p.pipeline, "nope") == -1);
  CHECK(mmgen_pipeline_output_type(p.pipeline, 0) == MMGEN_TYPE_FILE);
  const std::string path = mmgen_pipeline_output_text(p.pipeline, 0);
  CHECK(path == (dir / "image.png").string());
  CHECK(std::string(mmgen_pipeline_output_metadata(p.pipeline, 0, "seed")) == "31");
  CHECK(mmgen_pipeline_output_metadata(p.pipeline, 0, "nope") == nullptr);
  int w = 0, h = 0, ch = 0;
  const uint8_t* pixels = mmgen_pipeline_output_image(p.pipeline, 0, &w, &h, &ch);
  REQUIRE(pixels != nullptr);
  CHECK(w == 64);
  CHECK(h == 64);
  CHECK(ch == 3);
  // The pixels are those of the PNG written.
  const vision::PngFile png = vision::read_png(path);
  CHECK(std::vector<uint8_t>(pixels, pixels + 64 * 64 * 3) == png.image.pixels);
  CHECK(mmgen_pipeline_output_audio(p.pipeline, 0, nullptr, nullptr, nullptr) == nullptr);

  // Cancelled from the progress callback: the status says so, no outputs remain.
  CHECK(mmgen_pipeline_run(p.pipeline, dir.string().c_str(), cancel_at_first_step, nullptr) ==
        MMGEN_ERROR_CANCELLED);
  CHECK_THAT(mmgen_last_error(), Contains("cancelled at node \"render\""));
  CHECK(mmgen_pipeline_output_count(p.pipeline) == 0);
  CHECK(mmgen_pipeline_run(p.pipeline, dir.string().c_str(), cancel_through_api, p.pipeline) ==
        MMGEN_ERROR_CANCELLED);
  // The flag is cleared for the next run.
  REQUIRE(mmgen_pipeline_run(p.pipeline, dir.string().c_str(), nullptr, nullptr) == MMGEN_OK);
  CHECK(mmgen_pipeline_output_count(p.pipeline) == 1);
}

TEST_CASE("The C API reads audio samples of a JSON pipeline", "[pipelines][capi]") {
  Context c;
  Pipeline p;
  const std::string json = R"({"nodes": {"speak": {"type": "audio.tts", "inputs": {
      "model": ")" + test::tts_model() +
                           R"(", "config": ")" + test::tts_voice() + R"(", "vits_config": ")" +
                           test::tts_vits_config() +
                           R"(", "text": "Hello.", "seed": 1}}},
      "outputs": {"speech": ["speak", "audio"]}})";
  REQUIRE(mmgen_pipeline_load_json(c.context, json.c_str(), &p.pipeline) == MMGEN_OK);
  REQUIRE(mmgen_pipeline_run(p.pipeline, nullptr, nullptr, nullptr) == MMGEN_OK);
  CHECK(mmgen_pipeline_output_type(p.pipeline, 0) == MMGEN_TYPE_AUDIO);
  int rate = 0, channels = 0;
  size_t frames = 0;
  const float* samples = mmgen_pipeline_output_audio(p.pipeline, 0, &rate, &channels, &frames);
  REQUIRE(samples != nullptr);
  CHECK(rate == 22050);
  CHECK(channels == 1);
  CHECK(frames > 0);
  CHECK(mmgen_pipeline_output_text(p.pipeline, 0) == nullptr);
}

TEST_CASE("The C API returns error codes with a message", "[pipelines][capi]") {
  mmgen_context* bad = nullptr;
  CHECK(mmgen_context_create(0, "tpu", &bad) == MMGEN_ERROR_INVALID_ARGUMENT);
  CHECK(bad == nullptr);
  CHECK_THAT(mmgen_last_error(), Contains("tpu"));
  CHECK(mmgen_context_create(-1, "cpu", &bad) == MMGEN_ERROR_INVALID_ARGUMENT);
  CHECK(mmgen_context_create(0, "cpu", nullptr) == MMGEN_ERROR_INVALID_ARGUMENT);

  Context c;
  mmgen_pipeline* p = nullptr;
  CHECK(mmgen_pipeline_load_json(c.context, "{oops", &p) == MMGEN_ERROR_INVALID_PIPELINE);
  CHECK(p == nullptr);
  CHECK_THAT(mmgen_last_error(), Contains("pipeline JSON: invalid JSON"));
  CHECK(mmgen_pipeline_load_json(c.context, R"({"nodes": {"v": {"type": "vision.avatar_video"}}})",
                                 &p) == MMGEN_ERROR_INVALID_PIPELINE);
  CHECK_THAT(mmgen_last_error(), Contains("field \"audio\""));
  CHECK(mmgen_pipeline_load_file(c.context, "/no/such.json", &p) == MMGEN_ERROR_INVALID_PIPELINE);
  CHECK_THAT(mmgen_last_error(), Contains("/no/such.json: pipeline definition not found"));
  CHECK(mmgen_pipeline_load_file(nullptr, "x", &p) == MMGEN_ERROR_INVALID_ARGUMENT);

  Pipeline ok;
  REQUIRE(mmgen_pipeline_load_file(c.context, "text-to-image", &ok.pipeline) == MMGEN_OK);
  CHECK(mmgen_last_error() == std::string());
  // A missing required input is the pipeline's error, found before anything runs.
  CHECK(mmgen_pipeline_run(ok.pipeline, nullptr, nullptr, nullptr) == MMGEN_ERROR_INVALID_PIPELINE);
  CHECK_THAT(mmgen_last_error(), Contains("input \"prompt\" (text) is required"));
  CHECK(mmgen_pipeline_set_input(ok.pipeline, nullptr, "x") == MMGEN_ERROR_INVALID_ARGUMENT);
  REQUIRE(mmgen_pipeline_set_input(ok.pipeline, "model", test::sd_model().c_str()) == MMGEN_OK);
  REQUIRE(mmgen_pipeline_set_input(ok.pipeline, "prompt", "x") == MMGEN_OK);
  REQUIRE(mmgen_pipeline_set_input(ok.pipeline, "width", "100") == MMGEN_OK);
  CHECK(mmgen_pipeline_run(ok.pipeline, nullptr, nullptr, nullptr) == MMGEN_ERROR_INVALID_PIPELINE);
  CHECK_THAT(mmgen_last_error(), Contains("field \"width\": must be a multiple of 8, got 100"));
  CHECK(mmgen_pipeline_output_name(ok.pipeline, 0) == nullptr);
}

TEST_CASE("The C embedding example runs a built-in pipeline", "[pipelines][capi]") {
  const auto dir = test::temp_dir("embed");
  const test::CommandRun run = test::run_command(
      test::shell_quoted(MMGEN_EMBED_PATH) + " text-to-image " + test::shell_quoted(dir.string()) +
      " " + test::shell_quoted("model=" + test::sd_model()) +
      " 'prompt=a red circle' width=64 height=64 steps=2 seed=8 2>&1");
  const std::string& output = run.output;
  INFO(output);
  CHECK(run.exit_code == 0);
  CHECK_THAT(output, Contains("[1/2] render (diffusion.txt2img)") &&
                         Contains("image: " + (dir / "image.png").string() + " image 64x64x3") &&
                         Contains("seed 8"));
  CHECK(std::filesystem::exists(dir / "image.png"));
}

TEST_CASE("The C embedding example speaks a voice clip", "[pipelines][capi]") {
  const auto dir = test::temp_dir("embed_voice");
  const test::CommandRun run = test::run_command(
      test::shell_quoted(MMGEN_EMBED_PATH) + " voice " + test::shell_quoted(dir.string()) + " " +
      test::shell_quoted("model=" + test::tts_model()) + " " +
      test::shell_quoted("config=" + test::tts_voice()) + " " +
      test::shell_quoted("vits_config=" + test::tts_vits_config()) +
      " 'text=Hello there.' seed=5 2>&1");
  INFO(run.output);
  CHECK(run.exit_code == 0);
  CHECK_THAT(run.output, Contains(" audio ") && Contains("at 22050 Hz") && Contains("seed 5"));
  bool wrote_wav = false;
  for (const auto& entry : std::filesystem::directory_iterator(dir))
    wrote_wav |= entry.path().extension() == ".wav" && entry.file_size() > 44;
  CHECK(wrote_wav);
}

}  // namespace mmgen
