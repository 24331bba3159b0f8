// `mmgen run` and `mmgen pipelines` as a user runs them.
#include <sys/wait.h>

#include <catch2/catch.hpp>
#include <cstdio>
#include <filesystem>

#include "audio/wav.h"
#include "diffusion/png_parameters.h"
#include "tests/pipelines/pipeline_test_util.h"
#include "tests/support/cli_runner.h"
#include "vision/png.h"

namespace mmgen {
namespace {

using Catch::Matchers::Contains;

using CliRun = test::CommandRun;

std::string quoted(const std::string& s) { return test::shell_quoted(s); }

CliRun run(const std::string& args) {
  return test::run_command(quoted(MMGEN_CLI_PATH) + " " + args + " 2>&1 </dev/null");
}

}  // namespace

TEST_CASE("mmgen run text-to-image writes the PNG into the output folder", "[pipelines][cli]") {
  const auto dir = test::temp_dir("cli_run");
  const CliRun r = run("run text-to-image --set model=" + quoted(test::sd_model()) +
                       " --set 'prompt=a red circle' --set width=64 --set height=64 "
                       "--set steps=2 --set seed=42 -o " +
                       quoted((dir / "out").string()));
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  CHECK_THAT(r.output, Contains("wrote " + (dir / "out" / "image.png").string() + " (seed 42)"));
  const auto png = vision::read_png(dir / "out" / "image.png");
  CHECK(png.image.width == 64);
  CHECK(diffusion::parse_png_parameters(png.text_value("parameters")).field("Seed") == "42");
}

TEST_CASE("mmgen run voice speaks with the default voice when no model is given",
          "[pipelines][cli]") {
  const auto dir = test::temp_dir("cli_run_voice");
  // Run from a folder that holds a folder named "voice": a built-in name is only
  // taken for a path when a file of that name exists.
  std::filesystem::create_directories(dir / "voice");
  const CliRun r =
      test::run_command("cd " + quoted(dir.string()) + " && " + quoted(MMGEN_CLI_PATH) +
                        " run voice --set 'text=Hello there.' --set seed=4 -o out "
                        "2>&1 </dev/null");
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  const audio::WavAudio wav = audio::read_wav(dir / "out" / "speech.wav");
  CHECK(wav.sample_rate == 16000);  // espeak-vits
  CHECK(wav.frames() > 8000);
}

TEST_CASE("mmgen run reports bad input in one line and writes nothing", "[pipelines][cli]") {
  const auto dir = test::temp_dir("cli_run_bad");
  const std::string base = "run text-to-image -o " + quoted(dir.string()) +
                           " --set model=" + quoted(test::sd_model()) + " --set prompt=x ";
  const auto error = [](const CliRun& r) {
    INFO(r.output);
    CHECK(r.exit_code == 1);
    CHECK(std::count(r.output.begin(), r.output.end(), '\n') == 1);
    return r.output;
  };
  CHECK_THAT(error(run(base + "--set steps=1001")),
             Contains("mmgen: error: ") &&
                 Contains("text-to-image.json: node \"render\" (diffusion.txt2img), field "
                          "\"steps\": must be in [0, 1000], got 1001 (from input \"steps\")"));
  CHECK_THAT(error(run(base + "--set stepz=3")), Contains("unknown input \"stepz\""));
  CHECK_THAT(error(run(base + "--set width=wide")),
             Contains("input \"width\": expected a whole number (integer), got \"wide\""));
  CHECK_THAT(error(run(base + "--set seed")), Contains("--set \"seed\": expected NAME=VALUE"));
  CHECK_THAT(error(run("run text-to-image -o " + quoted(dir.string()))),
             Contains("input \"prompt\" (text) is required"));
  CHECK_THAT(error(run(base + "--set model=no-such-model")),
             Contains("input \"model\": no-such-model: file not found"));
  CHECK_THAT(error(run("run no-such-pipeline")),
             Contains("\"no-such-pipeline\" is neither a file nor a built-in pipeline; built-in: "
                      "avatar-video, prompt-to-image, story-video, text-to-image, voice"));
  CHECK(std::filesystem::is_empty(dir));
}

TEST_CASE("mmgen pipelines lists the built-in pipelines with their inputs", "[pipelines][cli]") {
  const CliRun r = run("pipelines");
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  CHECK_THAT(r.output,
             Contains("\ntext-to-image: Stable Diffusion 1.x renders a prompt") &&
                 Contains("\nvoice: Text to speech") &&
                 Contains("\nprompt-to-image: A language model expands") &&
                 Contains("\navatar-video: A portrait speaks a script") &&
                 Contains("\nstory-video: A language model writes a short script") &&
                 Contains("  prompt           text     what the image shows (required)") &&
                 Contains("  steps            integer  sampling steps (0: the model's own, else "
                          "20) (default 0)"));
  const CliRun nodes = run("pipelines --nodes");
  REQUIRE(nodes.exit_code == 0);
  CHECK_THAT(nodes.output, Contains("\ndiffusion.txt2img: ") && Contains("vision.avatar_video: ") &&
                               Contains("io.save_video: "));
}

}  // namespace mmgen
