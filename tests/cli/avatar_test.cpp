// `mmgen avatar` as a user runs it: a portrait and a WAV file (or text and the
// tiny golden voice) give an MP4 that ffprobe reads as one H.264 video and one
// audio stream as long as the speech; a picture without a face is one clear
// line and no output file. Needs scripts/fetch_face_models.sh and ffprobe.
#include <sys/wait.h>

#include <catch2/catch.hpp>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "audio/wav.h"
#include "tests/support/cli_runner.h"
#include "tests/support/media_probe.h"
#include "tests/support/test_support.h"
#include "vision/image.h"
#include "vision/png.h"

namespace mmgen {
namespace {

namespace fs = std::filesystem;
using Catch::Matchers::Contains;

using CliRun = test::CommandRun;
using test::run_command;

std::string quoted(const fs::path& path) { return test::shell_quoted(path.string()); }

CliRun run_mmgen(const std::string& arguments) {
  return run_command(test::shell_quoted(MMGEN_CLI_PATH) + " " + arguments + " 2>&1");
}

fs::path face_api_dir() {
  const fs::path dir = test::test_data_dir() / ".." / ".." / "third_party" / "face-api";
  if (!fs::exists(dir / "model")) FAIL(dir.string() << ": run scripts/fetch_face_models.sh");
  return fs::canonical(dir);
}

std::string portrait_args() {
  const fs::path dir = face_api_dir();
  return "-i " + quoted(dir / "samples" / "sample2.jpg") + " --models " + quoted(dir / "model");
}

// Voiced syllables with pauses, 16-bit PCM.
fs::path write_speech(const fs::path& dir, double seconds, int rate) {
  audio::WavAudio wav;
  wav.sample_rate = rate;
  wav.samples.assign(static_cast<size_t>(seconds * rate), 0.0f);
  for (size_t i = 0; i < wav.samples.size(); ++i) {
    const double t = static_cast<double>(i) / rate;
    const double syllable = std::max(0.0, std::sin(2 * M_PI * 2.5 * t));
    wav.samples[i] = static_cast<float>(0.3 * syllable * std::sin(2 * M_PI * 150 * t));
  }
  const fs::path path = dir / "speech.wav";
  audio::write_wav(path, wav, audio::WavEncoding::kPcm16);
  return path;
}

using Probe = test::MediaProbe;

Probe ffprobe(const fs::path& mp4) { return test::probe_media(mp4); }

}  // namespace

TEST_CASE("mmgen avatar turns a portrait and a WAV file into an MP4 as long as the speech",
          "[cli][avatar]") {
  const fs::path dir = test::temp_dir("avatar_cli_wav");
  const double seconds = 2.3;
  const fs::path wav = write_speech(dir, seconds, 22050);
  const fs::path out = dir / "out.mp4";
  const CliRun run = run_mmgen("avatar " + portrait_args() + " -a " + quoted(wav) + " -o " +
                               quoted(out) + " --size 256 --fps 25 --seed 3");
  INFO(run.output);
  REQUIRE(run.exit_code == 0);
  CHECK_THAT(run.output, Contains("58 frames"));  // ceil(2.3 * 25)
  const Probe probe = ffprobe(out);
  CHECK(probe.video_streams == 1);
  CHECK(probe.audio_streams == 1);
  CHECK(probe.video_codec == "h264");
  CHECK(probe.width == 256);
  CHECK(probe.height == 256);
  CHECK(std::abs(probe.video_duration - seconds) <= 1.0 / 25);
  CHECK(std::abs(probe.audio_duration - seconds) <= 1.0 / 25);
}

TEST_CASE("mmgen avatar speaks text with a voice", "[cli][avatar]") {
  const fs::path dir = test::temp_dir("avatar_cli_text");
  const fs::path out = dir / "out.mp4";
  const std::string voice = "-m " + quoted(test::golden_file("tts/vits_generator.safetensors")) +
                            " -c " + quoted(test::golden_file("tts/vits_voice.onnx.json")) +
                            " --vits-config " + quoted(test::golden_file("tts/vits_config.json"));
  const CliRun run = run_mmgen("avatar " + portrait_args() + " -t 'Hello, how are you?' " + voice +
                               " -o " + quoted(out) + " --size 128 --fps 20 --seed 1");
  INFO(run.output);
  REQUIRE(run.exit_code == 0);
  CHECK_THAT(run.output, Contains("mouth from the phonemes"));
  const Probe probe = ffprobe(out);
  CHECK(probe.video_streams == 1);
  CHECK(probe.audio_streams == 1);
  CHECK(probe.audio_duration > 0.2);
  CHECK(std::abs(probe.video_duration - probe.audio_duration) <= 1.0 / 20);
}

TEST_CASE("mmgen avatar refuses a portrait without a face and writes nothing", "[cli][avatar]") {
  const fs::path dir = test::temp_dir("avatar_cli_noface");
  vision::Image grey(320, 240);
  std::fill(grey.pixels.begin(), grey.pixels.end(), uint8_t{128});
  vision::write_png(dir / "grey.png", grey);
  const fs::path wav = write_speech(dir, 1.0, 16000);
  const fs::path out = dir / "out.mp4";
  const CliRun run =
      run_mmgen("avatar -i " + quoted(dir / "grey.png") + " --models " +
                quoted(face_api_dir() / "model") + " -a " + quoted(wav) + " -o " + quoted(out));
  CHECK(run.exit_code != 0);
  CHECK_THAT(run.output, Contains("grey.png") && Contains("no face found"));
  CHECK(!fs::exists(out));
  const CliRun both =
      run_mmgen("avatar " + portrait_args() + " -a " + quoted(wav) + " -t hi -o " + quoted(out));
  CHECK(both.exit_code != 0);
  CHECK_THAT(both.output, Contains("not both"));
}

}  // namespace mmgen
