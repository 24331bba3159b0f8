// Pipelines on a CUDA device: the built-in text-to-image and voice runs match
// the CPU's, the model cache keeps one model per device, and avatar-video
// renders as many frames as on the CPU.
#include <catch2/catch.hpp>
#include <cmath>

#include "audio/wav.h"
#include "diffusion/png_parameters.h"
#include "pipelines/builtin.h"
#include "tests/pipelines/pipeline_test_util.h"
#include "vision/png.h"

namespace mmgen {
namespace {

pipelines::RunResult run_on(Device device, const std::string& name,
                            const pipelines::InputValues& values, pipelines::ModelCache& models,
                            const std::filesystem::path& dir) {
  pipelines::RunOptions options;
  options.output_dir = dir;
  options.device = device;
  return pipelines::run_pipeline(
      pipelines::load_pipeline_file(pipelines::resolve_pipeline_path(name)), values, models,
      options);
}

}  // namespace

TEST_CASE("text-to-image on CUDA matches the CPU run", "[cuda][pipelines]") {
  const pipelines::InputValues values = {{"model", test::sd_model()},
                                         {"prompt", "a red circle"},
                                         {"width", "64"},
                                         {"height", "64"},
                                         {"steps", "2"},
                                         {"seed", "7"}};
  pipelines::ModelCache models;
  const auto cpu_dir = test::temp_dir("pipe_cuda_cpu"), gpu_dir = test::temp_dir("pipe_cuda_gpu");
  run_on(Device::cpu(), "text-to-image", values, models, cpu_dir);
  const auto gpu = run_on(Device::cuda(), "text-to-image", values, models, gpu_dir);
  // One checkpoint per device, one hash.
  CHECK(models.loads() == 3);
  CHECK(gpu.output("image")->value.meta("seed") == "7");
  const auto a = vision::read_png(cpu_dir / "image.png"),
             b = vision::read_png(gpu_dir / "image.png");
  REQUIRE(a.image.pixels.size() == b.image.pixels.size());
  int max_diff = 0;
  for (size_t i = 0; i < a.image.pixels.size(); ++i)
    max_diff = std::max(max_diff, std::abs(int(a.image.pixels[i]) - int(b.image.pixels[i])));
  CHECK(max_diff <= 3);
  CHECK(diffusion::parse_png_parameters(b.text_value("parameters")).field("Seed") == "7");
}

TEST_CASE("voice on CUDA matches the CPU run", "[cuda][pipelines]") {
  const pipelines::InputValues values = {{"model", test::tts_model()},
                                         {"config", test::tts_voice()},
                                         {"vits_config", test::tts_vits_config()},
                                         {"text", "Hello there."},
                                         {"seed", "3"}};
  pipelines::ModelCache models;
  const auto cpu = run_on(Device::cpu(), "voice", values, models, test::temp_dir("voice_cpu"));
  const auto gpu = run_on(Device::cuda(), "voice", values, models, test::temp_dir("voice_gpu"));
  const auto& x = cpu.output("audio")->value.audio->samples;
  const auto& y = gpu.output("audio")->value.audio->samples;
  REQUIRE(x.size() == y.size());
  double max_diff = 0;
  for (size_t i = 0; i < x.size(); ++i)
    max_diff = std::max(max_diff, double(std::fabs(x[i] - y[i])));
  CHECK(max_diff < 1e-2);
}

TEST_CASE("avatar-video on CUDA renders the clip the CPU renders", "[cuda][pipelines]") {
  const std::filesystem::path face_api =
      test::test_data_dir() / ".." / ".." / "third_party" / "face-api";
  const pipelines::InputValues values = {
      {"voice", test::tts_model()},
      {"voice_config", test::tts_voice()},
      {"vits_config", test::tts_vits_config()},
      {"portrait", (face_api / "samples" / "sample2.jpg").string()},
      {"face_models", (face_api / "model").string()},
      {"script", "Hello there."},
      {"fps", "10"},
      {"size", "128"},
      {"seed", "3"}};
  pipelines::ModelCache models;
  const auto cpu_dir = test::temp_dir("avatar_cpu"), gpu_dir = test::temp_dir("avatar_gpu");
  const auto cpu = run_on(Device::cpu(), "avatar-video", values, models, cpu_dir);
  const auto gpu = run_on(Device::cuda(), "avatar-video", values, models, gpu_dir);
  REQUIRE(gpu.output("video")->value.video != nullptr);
  CHECK(gpu.output("video")->value.video->frame_count ==
        cpu.output("video")->value.video->frame_count);
  CHECK(gpu.output("video")->value.meta("mouth") == "phonemes");
  CHECK(std::filesystem::file_size(gpu_dir / "video.mp4") > 0);
}

}  // namespace mmgen
