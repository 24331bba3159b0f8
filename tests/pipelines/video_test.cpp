// The video workflows on the tiny golden voice and LLM and the face-api sample
// portrait: avatar-video and story-video write an MP4 that ffprobe reads as one
// H.264 video and one audio stream of the same length (within a frame), with a
// progress step per frame and the seed in the MP4's comment; a PNG sequence on
// request; and the avatar and save nodes' validation errors. Needs
// scripts/fetch_face_models.sh and ffprobe.
#include <catch2/catch.hpp>
#include <cmath>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>

#include "audio/wav.h"
#include "pipelines/builtin.h"
#include "tests/pipelines/pipeline_test_util.h"
#include "tests/support/cli_runner.h"
#include "tests/support/media_probe.h"
#include "vision/png.h"

namespace mmgen {
namespace {

namespace fs = std::filesystem;
using Catch::Matchers::Contains;
using pipelines::PipelineEvent;

fs::path face_api_dir() {
  const fs::path dir = test::test_data_dir() / ".." / ".." / "third_party" / "face-api";
  if (!fs::exists(dir / "model")) FAIL(dir.string() << ": run scripts/fetch_face_models.sh");
  return fs::canonical(dir);
}

std::string portrait() { return (face_api_dir() / "samples" / "sample2.jpg").string(); }

// The tiny voice, the sample portrait, 128 x 128 at 10 fps.
pipelines::InputValues avatar_inputs(const std::string& seed) {
  return {{"voice", test::tts_model()},
          {"voice_config", test::tts_voice()},
          {"vits_config", test::tts_vits_config()},
          {"portrait", portrait()},
          {"face_models", (face_api_dir() / "model").string()},
          {"fps", "10"},
          {"size", "128"},
          {"seed", seed}};
}

using Probe = test::MediaProbe;

Probe ffprobe(const fs::path& mp4) { return test::probe_media(mp4); }

// One video and one audio stream of the same length, within a frame.
void check_talking_head_mp4(const fs::path& mp4, int size, int fps) {
  REQUIRE(fs::exists(mp4));
  const Probe probe = ffprobe(mp4);
  CHECK(probe.video_streams == 1);
  CHECK(probe.audio_streams == 1);
  CHECK(probe.video_codec == "h264");
  CHECK(probe.width == size);
  CHECK(probe.height == size);
  CHECK(probe.audio_duration > 0.1);
  CHECK(std::abs(probe.video_duration - probe.audio_duration) <= 1.0 / fps);
}

}  // namespace

TEST_CASE("avatar-video speaks the script as an MP4 with a step per frame", "[pipelines][video]") {
  const fs::path dir = test::temp_dir("pipe_avatar");
  pipelines::ModelCache models;
  pipelines::RunOptions options;
  options.output_dir = dir;
  int64_t frame_steps = 0, frame_total = 0;
  options.progress = [&](const PipelineEvent& e) {
    if (e.kind == PipelineEvent::Kind::kNodeStep && e.node_type == "io.save_video") {
      ++frame_steps;
      CHECK(e.step.step == frame_steps);
      frame_total = e.step.total;
    }
    return true;
  };
  pipelines::InputValues values = avatar_inputs("4");
  values.emplace_back("script", "Hello there. How are you today?");
  const auto result =
      pipelines::run_pipeline(test::builtin_pipeline("avatar-video"), values, models, options);
  const auto* out = result.output("video");
  REQUIRE(out != nullptr);
  CHECK(out->value.text == (dir / "video.mp4").string());
  CHECK(out->value.meta("seed") == "4");
  CHECK(out->value.meta("mouth") == "phonemes");  // audio.tts's timings drove the mouth
  REQUIRE(out->value.video != nullptr);
  CHECK(frame_total == out->value.video->frame_count);
  CHECK(frame_steps == frame_total);
  check_talking_head_mp4(dir / "video.mp4", 128, 10);
  CHECK(ffprobe(dir / "video.mp4").comment == "Seed: 4");
  CHECK(test::count_files(dir) == 1);  // no temporary file left
}

TEST_CASE("audio.tts attaches phoneme timings spanning its audio", "[pipelines][video]") {
  const std::string json =
      R"({"nodes": {"speak": {"type": "audio.tts", "parameters": {"model": ")" + test::tts_model() +
      R"(", "config": ")" + test::tts_voice() + R"(", "vits_config": ")" + test::tts_vits_config() +
      R"(", "text": "Hello there. How are you?", "seed": 1}}},
      "outputs": {"speech": ["speak", "audio"]}})";
  pipelines::ModelCache models;
  pipelines::RunOptions options;
  options.output_dir = test::temp_dir("pipe_tts_phonemes");
  const auto result =
      pipelines::run_pipeline(pipelines::parse_pipeline(json, "tts.json"), {}, models, options);
  const pipelines::Value& speech = result.output("speech")->value;
  REQUIRE(speech.phonemes != nullptr);
  REQUIRE(speech.phonemes->size() > 10);
  const double seconds = static_cast<double>(speech.audio->frames()) / speech.audio->sample_rate;
  CHECK(speech.phonemes->front().start == 0.0);
  CHECK(std::abs(speech.phonemes->back().end - seconds) < 1e-3);
  int named = 0;
  for (size_t i = 0; i < speech.phonemes->size(); ++i) {
    const auto& p = (*speech.phonemes)[i];
    CHECK(p.end >= p.start);
    if (i > 0) CHECK(p.start == Approx((*speech.phonemes)[i - 1].end));
    named += !p.phoneme.empty();
  }
  CHECK(named > 5);
}

TEST_CASE("Cancelling avatar-video mid-render leaves no file", "[pipelines][video]") {
  const fs::path dir = test::temp_dir("pipe_avatar_cancel");
  pipelines::ModelCache models;
  pipelines::RunOptions options;
  options.output_dir = dir;
  int64_t frames_seen = 0;
  options.progress = [&](const PipelineEvent& e) {
    if (e.kind == PipelineEvent::Kind::kNodeStep && e.node_type == "io.save_video") ++frames_seen;
    return frames_seen < 3;
  };
  pipelines::InputValues values = avatar_inputs("4");
  values.emplace_back("script", "Hello there. How are you today?");
  CHECK_THROWS_AS(
      pipelines::run_pipeline(test::builtin_pipeline("avatar-video"), values, models, options),
      pipelines::Cancelled);
  CHECK(frames_seen == 3);
  CHECK(test::count_files(dir) == 0);
}

TEST_CASE("story-video writes a script with the LLM and speaks it", "[pipelines][video]") {
  const fs::path dir = test::temp_dir("pipe_story");
  pipelines::ModelCache models;
  pipelines::RunOptions options;
  options.output_dir = dir;
  pipelines::InputValues values = avatar_inputs("2");
  values.insert(values.end(), {{"topic", "a lighthouse keeper"},
                               {"llm", test::llm_model()},
                               {"max_tokens", "6"},
                               {"text_seed", "5"}});
  const auto result =
      pipelines::run_pipeline(test::builtin_pipeline("story-video"), values, models, options);
  CHECK_THAT(result.output("script")->value.text,
             Catch::Matchers::StartsWith("a lighthouse keeper. "));
  check_talking_head_mp4(dir / "video.mp4", 128, 10);
}

TEST_CASE("A loaded JPEG portrait saved as a PNG sequence and a WAV", "[pipelines][video]") {
  const fs::path dir = test::temp_dir("pipe_png_seq");
  const std::string json =
      R"({"nodes": {
      "speak": {"type": "audio.tts", "parameters": {"model": ")" +
      test::tts_model() + R"(", "config": ")" + test::tts_voice() + R"(", "vits_config": ")" +
      test::tts_vits_config() + R"(", "text": "Hi.", "seed": 1}},
      "face": {"type": "vision.load_image", "parameters": {"path": ")" +
      portrait() + R"("}},
      "animate": {"type": "vision.avatar_video",
                  "inputs": {"audio": ["speak", "audio"], "image": ["face", "image"]},
                  "parameters": {"face_models": ")" +
      (face_api_dir() / "model").string() +
      R"(", "fps": 8, "size": 64, "seed": 6}},
      "save": {"type": "io.save_video", "inputs": {"video": ["animate", "video"]},
               "parameters": {"filename": "frames"}}}})";
  pipelines::ModelCache models;
  pipelines::RunOptions options;
  options.output_dir = dir;
  const auto result =
      pipelines::run_pipeline(pipelines::parse_pipeline(json, "seq.json"), {}, models, options);
  const auto* out = result.output("save");
  REQUIRE(out != nullptr);
  REQUIRE(out->value.video != nullptr);
  const int64_t frames = out->value.video->frame_count;
  CHECK(test::count_files(dir / "frames") == static_cast<size_t>(frames) + 1);
  const vision::PngFile first = vision::read_png(dir / "frames" / "frame_000001.png");
  CHECK(first.image.width == 64);
  CHECK(first.text_value("seed") == "6");
  const audio::WavAudio wav = audio::read_wav(dir / "frames" / "audio.wav");
  const double seconds = static_cast<double>(wav.frames()) / wav.sample_rate;
  CHECK(frames == static_cast<int64_t>(std::ceil(seconds * 8 - 1e-9)));
}

TEST_CASE("The video nodes check fps, size, the portrait and the format", "[pipelines][video]") {
  using test::validation_error;
  const std::string tts = R"("speak": {"type": "audio.tts", "parameters": {"model": ")" +
                          test::tts_model() + R"(", "config": ")" + test::tts_voice() +
                          R"(", "vits_config": ")" + test::tts_vits_config() +
                          R"(", "text": "Hi."}})";
  const auto avatar = [&](const std::string& parameters) {
    return R"({"nodes": {)" + tts +
           R"(, "v": {"type": "vision.avatar_video", "inputs": {"audio": ["speak", "audio"]},
                      "parameters": {)" +
           parameters + R"(}}}})";
  };
  const std::string face = R"("portrait": ")" + portrait() + R"(")";
  CHECK(validation_error(avatar(face)) == "");
  CHECK_THAT(
      validation_error(avatar(face + R"(, "fps": 0)")),
      Contains("node \"v\" (vision.avatar_video), field \"fps\": must be in [1, 120], got 0"));
  CHECK_THAT(validation_error(avatar(face + R"(, "size": 129)")),
             Contains("field \"size\": must be a multiple of 2, got 129"));
  CHECK_THAT(validation_error(avatar(R"("fps": 10)")),
             Contains("node \"v\" (vision.avatar_video), field \"portrait\": no portrait"));
  // The portrait given twice: a file and a connected image.
  std::string twice = avatar(face);
  const std::string audio_in = R"("audio": ["speak", "audio"])";
  twice.replace(twice.find(audio_in), audio_in.size(), audio_in + R"(, "image": ["i", "image"])");
  twice.insert(
      twice.size() - 2,
      R"(, "i": {"type": "vision.load_image", "parameters": {"path": ")" + portrait() + R"("}})");
  CHECK_THAT(validation_error(twice), Contains("field \"image\": give the portrait once"));
  CHECK_THAT(validation_error(avatar(R"("portrait": "/no/such/face.jpg")")),
             Contains("field \"portrait\": /no/such/face.jpg: file not found"));
  CHECK_THAT(validation_error(R"({"nodes": {"s": {"type": "io.save_video"}}})"),
             Contains("node \"s\" (io.save_video)") && Contains("\"video\""));
  CHECK_THAT(
      validation_error(avatar(face).substr(0, avatar(face).size() - 2) +
                       R"(, "s": {"type": "io.save_video", "inputs": {"video": ["v", "video"]},
                                   "parameters": {"format": "gif"}}}})"),
      Contains("field \"format\": must be \"auto\", \"mp4\" or \"png\", got \"gif\""));
  // The built-in definition: valid with its inputs, a bad fps named with the input.
  const pipelines::PipelineDefinition def = test::builtin_pipeline("avatar-video");
  pipelines::InputValues values = avatar_inputs("1");
  values.emplace_back("script", "Hi.");
  CHECK_NOTHROW(pipelines::plan_pipeline(def, values));
  for (auto& [name, value] : values)
    if (name == "fps") value = "0";
  CHECK_THROWS_WITH(pipelines::plan_pipeline(def, values),
                    Contains("field \"fps\": must be in [1, 120], got 0 (from input \"fps\")"));
}

}  // namespace mmgen
