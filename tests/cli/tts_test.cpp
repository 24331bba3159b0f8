// `mmgen tts` and `mmgen vocode` as a user runs them on the tiny golden VITS
// and HiFi-GAN: WAV headers and lengths, raw streaming equal to the WAV, stdin
// input, and one-line errors that leave no output file.
#include <sys/wait.h>

#include <catch2/catch.hpp>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "audio/wav.h"
#include "tests/support/cli_runner.h"
#include "tests/support/test_support.h"

namespace mmgen {
namespace {

namespace fs = std::filesystem;
using Catch::Matchers::Contains;

using CliRun = test::CommandRun;

std::string quoted(const std::string& s) { return test::shell_quoted(s); }

// Runs mmgen with `args`; stdin from `input` (or /dev/null); stderr merged into
// the output unless `stdout_only`.
CliRun run(const std::string& args, const std::string& input = "/dev/null",
           bool stdout_only = false) {
  return test::run_command(quoted(MMGEN_CLI_PATH) + " " + args +
                           (stdout_only ? " 2>/dev/null" : " 2>&1") + " <" + quoted(input));
}

std::string golden(const std::string& name) {
  return quoted(test::golden_file("tts/" + name).string());
}

std::string voice_args() {
  return "-m " + golden("vits_generator.safetensors") + " -c " + golden("vits_voice.onnx.json") +
         " --vits-config " + golden("vits_config.json");
}

int count_lines(const std::string& text) {
  int lines = 0;
  for (char c : text) lines += c == '\n';
  return lines;
}

bool all_finite(const std::vector<float>& samples) {
  for (float v : samples)
    if (!std::isfinite(v)) return false;
  return true;
}

}  // namespace

TEST_CASE("mmgen tts writes a WAV at the voice's rate, as long as its durations", "[cli][tts]") {
  const fs::path dir = test::temp_dir("cli_tts");
  const fs::path out = dir / "hello.wav";
  const CliRun r = run("tts " + voice_args() + " -t 'Hello world. How are you?' --seed 5 -o " +
                       quoted(out.string()));
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  CHECK_THAT(r.output, Contains("seed 5") && Contains("wrote"));
  const audio::WavAudio wav = audio::read_wav(out);
  CHECK(wav.sample_rate == 22050);
  CHECK(wav.channels == 1);
  CHECK(wav.encoding == audio::WavEncoding::kPcm16);
  // Whole frames of 256 samples, at least one per phoneme id of two sentences.
  CHECK(wav.samples.size() % 256 == 0);
  CHECK(wav.samples.size() >= 256 * 20);
  CHECK(all_finite(wav.samples));
  float peak = 0;
  for (float v : wav.samples) peak = std::max(peak, std::fabs(v));
  CHECK(peak > 0);

  // --output-raw streams the same 16-bit samples.
  const CliRun raw =
      run("tts " + voice_args() + " -t 'Hello world. How are you?' --seed 5 --output-raw",
          "/dev/null", true);
  REQUIRE(raw.exit_code == 0);
  REQUIRE(raw.output.size() == wav.samples.size() * 2);
  std::vector<uint8_t> bytes(raw.output.begin(), raw.output.end());
  std::ifstream file(out, std::ios::binary);
  const std::vector<uint8_t> wav_bytes((std::istreambuf_iterator<char>(file)), {});
  REQUIRE(wav_bytes.size() == 44 + bytes.size());
  CHECK(std::equal(bytes.begin(), bytes.end(), wav_bytes.begin() + 44));

  // A slower pace makes a longer file.
  const fs::path slow = dir / "slow.wav";
  REQUIRE(run("tts " + voice_args() + " -t 'Hello world. How are you?' --seed 5 " +
              "--noise-w 0 --length-scale 2 -o " + quoted(slow.string()))
              .exit_code == 0);
  CHECK(audio::read_wav(slow).samples.size() > wav.samples.size());
}

TEST_CASE("mmgen tts without -m speaks with the default voice in either language", "[cli][tts]") {
  const fs::path dir = test::temp_dir("cli_tts_default");
  const fs::path english = dir / "en.wav";
  const CliRun r = run("tts -t 'Hello world.' --seed 1 -o " + quoted(english.string()));
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  const fs::path by_name = dir / "by_name.wav";
  REQUIRE(run("tts -m espeak-vits -t 'Hello world.' --seed 1 -o " + quoted(by_name.string()))
              .exit_code == 0);
  const audio::WavAudio wav = audio::read_wav(english);
  CHECK(wav.sample_rate == 16000);
  CHECK(wav.samples == audio::read_wav(by_name).samples);
  CHECK(wav.samples.size() > 8000);  // "Hello world." lasts more than half a second

  // The Mandarin config is found beside the default voice by its file name.
  const fs::path mandarin = dir / "zh.wav";
  const CliRun zh =
      run("tts -c espeak-vits-cmn.onnx.json -t '你好。' --seed 1 -o " + quoted(mandarin.string()));
  INFO(zh.output);
  REQUIRE(zh.exit_code == 0);
  CHECK(audio::read_wav(mandarin).samples.size() > 4000);
  const CliRun missing = run("tts -c no-such-voice.onnx.json -t Hi -o " + quoted(english.string()));
  CHECK(missing.exit_code == 1);
  CHECK_THAT(missing.output, Contains("no-such-voice.onnx.json: voice config not found"));
}

TEST_CASE("mmgen tts reads the text from stdin", "[cli][tts]") {
  const fs::path dir = test::temp_dir("cli_tts_stdin");
  { std::ofstream(dir / "text.txt") << "Hello world. How are you?\n"; }
  const fs::path out = dir / "stdin.wav";
  const CliRun r = run("tts " + voice_args() + " --seed 5 -o " + quoted(out.string()),
                       (dir / "text.txt").string());
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  const fs::path direct = dir / "direct.wav";
  REQUIRE(run("tts " + voice_args() + " -t 'Hello world. How are you?' --seed 5 -o " +
              quoted(direct.string()))
              .exit_code == 0);
  CHECK(audio::read_wav(out).samples == audio::read_wav(direct).samples);
}

TEST_CASE("mmgen tts errors are one line and leave no file", "[cli][tts]") {
  const fs::path dir = test::temp_dir("cli_tts_errors");
  const fs::path out = dir / "bad.wav";
  const auto expect_error = [&](const std::string& args, const std::string& message) {
    const CliRun r = run("tts " + args + " -o " + quoted(out.string()));
    INFO(r.output);
    CHECK(r.exit_code == 1);
    CHECK_THAT(r.output, Contains(message));
    CHECK(count_lines(r.output) == 1);
    CHECK_FALSE(fs::exists(out));
  };
  expect_error(voice_args() + " -t ''", "the text is empty");
  expect_error(voice_args(), "the text is empty");  // empty stdin
  expect_error(voice_args() + " -t Hi --speaker 3", "speaker 3 is out of range");

  nlohmann::json json;
  std::ifstream(test::golden_file("tts/vits_voice.onnx.json")) >> json;
  json["espeak"]["voice"] = "no-such-voice";
  std::ofstream(dir / "bad_voice.onnx.json") << json.dump();
  expect_error("-m " + golden("vits_generator.safetensors") + " -c " +
                   quoted((dir / "bad_voice.onnx.json").string()) + " --vits-config " +
                   golden("vits_config.json") + " -t Hi",
               "no-such-voice");
  json.erase("phoneme_id_map");
  std::ofstream(dir / "no_map.onnx.json") << json.dump();
  expect_error("-m " + golden("vits_generator.safetensors") + " -c " +
                   quoted((dir / "no_map.onnx.json").string()) + " --vits-config " +
                   golden("vits_config.json") + " -t Hi",
               "phoneme_id_map");
  // No config beside a model that has none.
  expect_error("-m " + golden("vits_generator.safetensors") + " -t Hi", "no voice config");
}

TEST_CASE("mmgen vocode resynthesises a WAV through HiFi-GAN", "[cli][tts]") {
  const fs::path dir = test::temp_dir("cli_vocode");
  audio::WavAudio tone;
  tone.sample_rate = 22050;
  tone.samples.resize(22050 / 4);
  for (size_t i = 0; i < tone.samples.size(); ++i)
    tone.samples[i] = 0.5f * std::sin(2.0 * M_PI * 220.0 * static_cast<double>(i) / 22050.0);
  audio::write_wav(dir / "tone.wav", tone, audio::WavEncoding::kPcm16);
  const fs::path out = dir / "vocoded.wav";
  const std::string model =
      "-m " + golden("hifigan_generator.safetensors") + " -c " + golden("hifigan_config.json");
  const CliRun r = run("vocode " + model + " -i " + quoted((dir / "tone.wav").string()) + " -o " +
                       quoted(out.string()));
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  const audio::WavAudio wav = audio::read_wav(out);
  CHECK(wav.sample_rate == 22050);
  // hifi-gan's frames: (samples + 2 * (n_fft - hop) / 2 - n_fft) / hop + 1.
  const size_t frames = (tone.samples.size() + 768 - 1024) / 256 + 1;
  CHECK(wav.samples.size() == frames * 256);
  CHECK(all_finite(wav.samples));

  // A WAV at another rate is resampled to the vocoder's 22050 Hz first:
  // round(samples * 22050 / 16000) samples, then the same frame count rule.
  tone.sample_rate = 16000;
  audio::write_wav(dir / "tone16k.wav", tone, audio::WavEncoding::kPcm16);
  const fs::path resampled = dir / "resampled.wav";
  const CliRun other = run("vocode " + model + " -i " + quoted((dir / "tone16k.wav").string()) +
                           " -o " + quoted(resampled.string()));
  INFO(other.output);
  REQUIRE(other.exit_code == 0);
  const audio::WavAudio from16k = audio::read_wav(resampled);
  CHECK(from16k.sample_rate == 22050);
  const size_t at22k = static_cast<size_t>(
      std::llround(static_cast<double>(tone.samples.size()) * 22050.0 / 16000.0));
  CHECK(from16k.samples.size() == ((at22k + 768 - 1024) / 256 + 1) * 256);
  CHECK(all_finite(from16k.samples));
}

TEST_CASE("mmgen tts --sample-rate resamples the voice's output", "[cli][tts]") {
  const fs::path dir = test::temp_dir("cli_tts_rate");
  const fs::path native = dir / "native.wav";
  const fs::path at16k = dir / "at16k.wav";
  REQUIRE(run("tts " + voice_args() + " -t 'Hello world.' --seed 3 -o " + quoted(native.string()))
              .exit_code == 0);
  const CliRun r =
      run("tts " + voice_args() + " -t 'Hello world.' --seed 3 --sample-rate 16000 -o " +
          quoted(at16k.string()));
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  CHECK_THAT(r.output, Contains("at 16000 Hz"));
  const audio::WavAudio a = audio::read_wav(native);
  const audio::WavAudio b = audio::read_wav(at16k);
  CHECK(a.sample_rate == 22050);
  CHECK(b.sample_rate == 16000);
  // One sentence: round(samples * 16000 / 22050) samples.
  CHECK(b.samples.size() == static_cast<size_t>(std::llround(static_cast<double>(a.samples.size()) *
                                                             16000.0 / 22050.0)));

  const CliRun bad = run("tts " + voice_args() + " -t Hi --sample-rate 50 -o " +
                         quoted((dir / "bad.wav").string()));
  CHECK(bad.exit_code == 1);
  CHECK_THAT(bad.output, Contains("22050 Hz to 50 Hz"));
  CHECK(count_lines(bad.output) == 1);
  CHECK_FALSE(fs::exists(dir / "bad.wav"));
  const CliRun zero = run("tts " + voice_args() + " -t Hi --sample-rate 0 -o " +
                          quoted((dir / "bad.wav").string()));
  CHECK(zero.exit_code == 1);
  CHECK_THAT(zero.output, Contains("--sample-rate must be positive"));
}

TEST_CASE("mmgen tts and vocode refuse a device this build or machine lacks", "[cli][tts]") {
  const fs::path dir = test::temp_dir("cli_tts_device");
  const CliRun r =
      run("tts " + voice_args() + " -t Hi --device tpu -o " + quoted((dir / "bad.wav").string()));
  CHECK(r.exit_code == 1);
  CHECK_THAT(r.output, Contains("unknown device 'tpu'"));
  CHECK_FALSE(fs::exists(dir / "bad.wav"));
  const CliRun v = run("vocode -m " + golden("hifigan_generator.safetensors") + " -c " +
                       golden("hifigan_config.json") + " -i x.wav -o " +
                       quoted((dir / "bad.wav").string()) + " --device cuda:99");
  CHECK(v.exit_code == 1);
  CHECK_THAT(v.output, Contains("cuda:99"));
  CHECK_FALSE(fs::exists(dir / "bad.wav"));
}

}  // namespace mmgen

namespace mmgen {
namespace {

// Signal-to-noise ratio of `b` against `a`, in dB (infinity when equal).
double snr_db(const std::vector<float>& a, const std::vector<float>& b) {
  double signal = 0, noise = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    signal += static_cast<double>(a[i]) * a[i];
    noise += static_cast<double>(a[i] - b[i]) * (a[i] - b[i]);
  }
  return noise == 0 ? INFINITY : 10.0 * std::log10(signal / noise);
}

TEST_CASE("mmgen tts --precision bf16 speaks within bf16 rounding of f32", "[cli][tts][bf16]") {
  const fs::path dir = test::temp_dir("cli_tts_precision");
  const std::string text = " -t 'The quick brown fox jumps over the lazy dog.' --seed 2 -o ";
  const fs::path f32 = dir / "f32.wav", bf16 = dir / "bf16.wav";
  REQUIRE(run("tts" + text + quoted(f32.string())).exit_code == 0);
  const CliRun r = run("tts --precision bf16" + text + quoted(bf16.string()));
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  const audio::WavAudio a = audio::read_wav(f32), b = audio::read_wav(bf16);
  // The durations come from the f32 parts of the model: the same length.
  REQUIRE(a.samples.size() == b.samples.size());
  const double snr = snr_db(a.samples, b.samples);
  INFO("SNR " << snr << " dB");
  if (r.output.find("need a CPU with AMX") == std::string::npos) {
    CHECK(snr > 40.0);  // the default voice measures about 52 dB
    CHECK(snr < 120.0);
  } else {
    CHECK(snr == INFINITY);  // no AMX: the vocoder stays f32
  }

  const CliRun bad = run("tts --precision f16 -t Hi -o " + quoted((dir / "bad.wav").string()));
  CHECK(bad.exit_code == 1);
  CHECK_THAT(bad.output, Contains("--precision: unknown precision 'f16': expected f32 or bf16"));
  CHECK(count_lines(bad.output) == 1);
  CHECK_FALSE(fs::exists(dir / "bad.wav"));
}

}  // namespace
}  // namespace mmgen
