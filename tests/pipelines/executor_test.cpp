// The executor on the built-in definitions and the tiny golden models: files
// written atomically with their seeds, the model cache, progress events and
// cancellation.
#include <atomic>
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>

#include "audio/wav.h"
#include "core/sha256.h"
#include "diffusion/png_parameters.h"
#include "pipelines/builtin.h"
#include "tests/pipelines/pipeline_test_util.h"
#include "vision/png.h"

namespace mmgen {
namespace {

namespace fs = std::filesystem;
using Catch::Matchers::Contains;
using pipelines::PipelineEvent;

pipelines::InputValues tiny_image(const std::string& seed) {
  return {{"model", test::sd_model()},
          {"prompt", "a red circle"},
          {"width", "64"},
          {"height", "64"},
          {"steps", "2"},
          {"seed", seed}};
}

}  // namespace

TEST_CASE("text-to-image writes a 64x64 PNG with its seed in the parameters", "[pipelines]") {
  const fs::path dir = test::temp_dir("pipe_t2i");
  pipelines::ModelCache models;
  std::vector<PipelineEvent> events;
  pipelines::RunOptions options;
  options.output_dir = dir;
  options.progress = [&](const PipelineEvent& e) {
    events.push_back(e);
    return true;
  };
  const auto result = pipelines::run_pipeline(test::builtin_pipeline("text-to-image"),
                                              tiny_image("7"), models, options);
  const auto* image = result.output("image");
  REQUIRE(image != nullptr);
  CHECK(image->type == pipelines::PortType::kFile);
  CHECK(image->value.text == (dir / "image.png").string());
  CHECK(image->value.meta("seed") == "7");
  CHECK(result.random_seeds.empty());
  const vision::PngFile png = vision::read_png(image->value.text);
  CHECK(png.image.width == 64);
  CHECK(png.image.height == 64);
  const auto p = diffusion::parse_png_parameters(png.text_value("parameters"));
  CHECK(p.prompt == "a red circle");
  CHECK(p.field("Seed") == "7");
  CHECK(p.field("Steps") == "2");
  CHECK(p.field("Size") == "64x64");
  CHECK(p.field("Model") == "sd1_tiny");
  CHECK(p.field("Model hash") == sha256_file_hex(test::sd_model()).substr(0, 10));
  // Only the PNG: no temporary file is left behind.
  CHECK(test::count_files(dir) == 1);

  // Events: each node starts and finishes, in order; the render node reports its 2 steps.
  std::vector<std::string> sequence;
  int steps = 0;
  for (const auto& e : events) {
    if (e.kind == PipelineEvent::Kind::kNodeStarted) sequence.push_back("start " + e.node_id);
    if (e.kind == PipelineEvent::Kind::kNodeFinished) sequence.push_back("done " + e.node_id);
    if (e.kind == PipelineEvent::Kind::kNodeStep) {
      CHECK(e.node_id == "render");
      CHECK(e.node_count == 2);
      CHECK(e.step.total == 2);
      steps = static_cast<int>(e.step.step);
    }
  }
  CHECK(sequence ==
        std::vector<std::string>{"start render", "done render", "start save", "done save"});
  CHECK(steps == 2);

  // A second run with the same cache loads nothing again, and the same seed
  // gives the same pixels.
  const size_t loads = models.loads();
  CHECK(loads == 2);  // the checkpoint and its hash
  const fs::path again_dir = test::temp_dir("pipe_t2i_again");
  options.output_dir = again_dir;
  pipelines::run_pipeline(test::builtin_pipeline("text-to-image"), tiny_image("7"), models,
                          options);
  CHECK(models.loads() == loads);
  CHECK(vision::read_png(again_dir / "image.png").image.pixels == png.image.pixels);
}

TEST_CASE("A random seed is chosen, reported and written into the PNG", "[pipelines]") {
  const fs::path dir = test::temp_dir("pipe_seed");
  pipelines::ModelCache models;
  pipelines::RunOptions options;
  options.output_dir = dir;
  const auto result = pipelines::run_pipeline(test::builtin_pipeline("text-to-image"),
                                              tiny_image("-1"), models, options);
  REQUIRE(result.random_seeds.size() == 1);
  CHECK(result.random_seeds[0].first == "seed");
  const std::string seed = std::to_string(result.random_seeds[0].second);
  CHECK(result.output("image")->value.meta("seed") == seed);
  const auto p =
      diffusion::parse_png_parameters(vision::read_png(dir / "image.png").text_value("parameters"));
  CHECK(p.field("Seed") == seed);
}

TEST_CASE("Cancellation stops between nodes and between steps, writing nothing", "[pipelines]") {
  pipelines::ModelCache models;
  pipelines::RunOptions options;
  // The flag set before the run: nothing runs.
  std::atomic<bool> cancel{true};
  const fs::path dir = test::temp_dir("pipe_cancel");
  options.output_dir = dir;
  options.cancel = &cancel;
  CHECK_THROWS_AS(pipelines::run_pipeline(test::builtin_pipeline("text-to-image"), tiny_image("1"),
                                          models, options),
                  pipelines::Cancelled);
  CHECK(models.loads() == 0);
  // The progress callback says stop at the first sampling step.
  cancel = false;
  int steps = 0;
  options.progress = [&](const PipelineEvent& e) {
    if (e.kind == PipelineEvent::Kind::kNodeStep) ++steps;
    return e.kind != PipelineEvent::Kind::kNodeStep;
  };
  auto values = tiny_image("1");
  values.emplace_back("steps", "5");
  try {
    pipelines::run_pipeline(test::builtin_pipeline("text-to-image"), values, models, options);
    FAIL("the run was not cancelled");
  } catch (const pipelines::Cancelled& e) {
    CHECK_THAT(e.what(), Contains("cancelled at node \"render\""));
  }
  CHECK(steps == 1);
  CHECK(test::count_files(dir) == 0);
}

TEST_CASE("voice speaks the text into a WAV at the voice's rate", "[pipelines]") {
  const fs::path dir = test::temp_dir("pipe_voice");
  pipelines::ModelCache models;
  pipelines::RunOptions options;
  options.output_dir = dir;
  const pipelines::InputValues values = {{"model", test::tts_model()},
                                         {"config", test::tts_voice()},
                                         {"vits_config", test::tts_vits_config()},
                                         {"text", "Hello there. How are you?"},
                                         {"seed", "3"}};
  const auto result =
      pipelines::run_pipeline(test::builtin_pipeline("voice"), values, models, options);
  const auto* out = result.output("audio");
  REQUIRE(out != nullptr);
  CHECK(out->value.meta("seed") == "3");
  const audio::WavAudio wav = audio::read_wav(dir / "speech.wav");
  CHECK(wav.sample_rate == 22050);
  CHECK(wav.channels == 1);
  CHECK(wav.frames() > 0);
  REQUIRE(out->value.audio != nullptr);
  CHECK(out->value.audio->frames() == wav.frames());
  // Same seed, same samples.
  const auto again =
      pipelines::run_pipeline(test::builtin_pipeline("voice"), values, models, options);
  CHECK(again.output("audio")->value.audio->samples == out->value.audio->samples);
  CHECK(models.loads() == 1);
}

TEST_CASE("prompt-to-image expands the idea with the LLM and renders it", "[pipelines]") {
  const fs::path dir = test::temp_dir("pipe_p2i");
  pipelines::ModelCache models;
  pipelines::RunOptions options;
  options.output_dir = dir;
  std::string streamed;
  options.progress = [&](const PipelineEvent& e) {
    if (e.kind == PipelineEvent::Kind::kNodeText) streamed += e.text;
    return true;
  };
  const pipelines::InputValues values = {{"llm", test::llm_model()},
                                         {"model", test::sd_model()},
                                         {"idea", "a lighthouse"},
                                         {"max_tokens", "8"},
                                         {"text_seed", "5"},
                                         {"width", "64"},
                                         {"height", "64"},
                                         {"steps", "2"},
                                         {"seed", "9"}};
  const auto result =
      pipelines::run_pipeline(test::builtin_pipeline("prompt-to-image"), values, models, options);
  const std::string prompt = result.output("prompt")->value.text;
  CHECK_THAT(prompt, Catch::Matchers::StartsWith("a lighthouse, ") &&
                         Catch::Matchers::EndsWith(", highly detailed, sharp focus"));
  const auto p =
      diffusion::parse_png_parameters(vision::read_png(dir / "image.png").text_value("parameters"));
  CHECK(p.prompt == prompt);
  CHECK(p.field("Seed") == "9");
  // The generated text streamed as it grew, and went (trimmed) into the prompt.
  const size_t a = streamed.find_first_not_of(" \t\r\n");
  const std::string trimmed =
      a == std::string::npos ? ""
                             : streamed.substr(a, streamed.find_last_not_of(" \t\r\n") - a + 1);
  CHECK(prompt == "a lighthouse, " + trimmed + ", highly detailed, sharp focus");
}

TEST_CASE("img2img and vocode nodes chain with load and save nodes", "[pipelines]") {
  const fs::path dir = test::temp_dir("pipe_chain");
  pipelines::ModelCache models;
  pipelines::RunOptions options;
  options.output_dir = dir;
  pipelines::run_pipeline(test::builtin_pipeline("text-to-image"), tiny_image("4"), models,
                          options);
  const std::string def =
      R"({
    "nodes": {
      "load": {"type": "vision.load_image", "inputs": {"path": ")" +
      (dir / "image.png").string() + R"("}},
      "redraw": {"type": "diffusion.img2img", "inputs": {"model": ")" +
      test::sd_model() +
      R"(", "image": ["load", "image"], "prompt": "a blue square",
                 "steps": 4, "strength": 0.5, "seed": 11}},
      "save": {"type": "io.save_image", "inputs": {"image": ["redraw", "image"],
               "filename": "sub/redrawn.png"}},
      "speak": {"type": "audio.tts", "inputs": {"model": ")" +
      test::tts_model() + R"(", "config": ")" + test::tts_voice() + R"(", "vits_config": ")" +
      test::tts_vits_config() + R"(", "text": "Hi.", "seed": 2}},
      "vocode": {"type": "audio.vocode", "inputs": {"model": ")" +
      test::golden_file("tts/hifigan_generator.safetensors").string() + R"(", "config": ")" +
      test::golden_file("tts/hifigan_config.json").string() +
      R"(", "audio": ["speak", "audio"]}},
      "wav": {"type": "io.save_audio", "inputs": {"audio": ["vocode", "audio"],
              "encoding": "float32"}}
    }})";
  const auto result =
      pipelines::run_pipeline(pipelines::parse_pipeline(def, "chain.json"), {}, models, options);
  REQUIRE(result.outputs.size() == 2);
  const auto png = vision::read_png(dir / "sub" / "redrawn.png");
  CHECK(png.image.width == 64);
  const auto p = diffusion::parse_png_parameters(png.text_value("parameters"));
  CHECK(p.field("Seed") == "11");
  CHECK(p.field("Denoising strength") == "0.5");
  const audio::WavAudio wav = audio::read_wav(dir / "wav.wav");
  CHECK(wav.encoding == audio::WavEncoding::kFloat32);
  CHECK(wav.sample_rate == 22050);
  CHECK(wav.frames() > 0);
  CHECK(result.output("wav")->value.meta("seed") == "2");
}

TEST_CASE("audio nodes take the vocoder's precision", "[pipelines]") {
  const fs::path dir = test::temp_dir("pipe_precision");
  const auto speak = [&](const std::string& precision) {
    return pipelines::parse_pipeline(
        R"({"nodes": {"speak": {"type": "audio.tts", "inputs": {"model": ")" + test::tts_model() +
            R"(", "config": ")" + test::tts_voice() + R"(", "vits_config": ")" +
            test::tts_vits_config() + R"(", "text": "Hello there.", "seed": 5, "precision": ")" +
            precision + R"("}}}, "outputs": {"audio": ["speak", "audio"]}})",
        "speak.json");
  };
  pipelines::ModelCache models;
  pipelines::RunOptions options;
  options.output_dir = dir;
  const auto f32 = pipelines::run_pipeline(speak("f32"), {}, models, options);
  const auto bf16 = pipelines::run_pipeline(speak("bf16"), {}, models, options);
  // Two voices in the cache: the precision is part of the model's key.
  CHECK(models.loads() == 2);
  const auto& a = f32.output("audio")->value.audio->samples;
  const auto& b = bf16.output("audio")->value.audio->samples;
  REQUIRE(a.size() == b.size());  // the durations stay f32
  double largest = 0;
  for (size_t i = 0; i < a.size(); ++i) largest = std::max<double>(largest, std::abs(a[i] - b[i]));
  // Within bf16 rounding (equal where the CPU has no AMX and the vocoder stays f32).
  CHECK(largest < 0.05);
  CHECK_THROWS_WITH(pipelines::run_pipeline(speak("f16"), {}, models, options),
                    Contains("field \"precision\": must be \"f32\" or \"bf16\", got \"f16\""));
}

TEST_CASE("text.template fills placeholders and escapes braces", "[pipelines]") {
  const auto def = pipelines::parse_pipeline(R"({
      "inputs": {"who": {"type": "text", "default": "world"}},
      "nodes": {"t": {"type": "text.template", "inputs": {"template": "{{hello}} {who}!",
                      "who": {"input": "who"}}}},
      "outputs": {"greeting": ["t", "text"]}})",
                                             "t.json");
  pipelines::ModelCache models;
  pipelines::RunOptions options;
  options.output_dir = "";
  CHECK(pipelines::run_pipeline(def, {}, models, options).output("greeting")->value.text ==
        "{hello} world!");
  CHECK(pipelines::run_pipeline(def, {{"who", "you"}}, models, options)
            .output("greeting")
            ->value.text == "{hello} you!");
}

TEST_CASE("A node that fails at run time is named in the error", "[pipelines]") {
  // A PNG that is not one: found by the file check, refused by the loader.
  const fs::path dir = test::temp_dir("pipe_fail");
  { std::ofstream(dir / "bad.png") << "not a png"; }
  const auto def = pipelines::parse_pipeline(
      R"({"nodes": {"load": {"type": "vision.load_image", "inputs": {"path": "bad.png"}}}})",
      "bad.json", dir);
  pipelines::ModelCache models;
  pipelines::RunOptions options;
  options.output_dir = dir;
  CHECK_THROWS_WITH(
      pipelines::run_pipeline(def, {}, models, options),
      Contains("bad.json: node \"load\" (vision.load_image): ") && Contains("bad.png"));
}

}  // namespace mmgen
