// `mmgen tts`: text (from -t or stdin) to speech with a piper-style VITS voice,
// written as a 16-bit PCM WAV, or streamed as raw 16-bit PCM to stdout one
// sentence at a time (docs/tts.md).
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <iterator>
#include <optional>
#include <random>
#include <string>

#include "audio/resample.h"
#include "audio/tts.h"
#include "audio/wav.h"
#include "core/error.h"
#include "core/log.h"
#include "core/progress.h"
#include "examples/cli/commands.h"
#include "examples/cli/device_option.h"
#include "examples/cli/precision_option.h"
#include "examples/cli/voice_loading.h"

namespace mmgen::cli {
namespace {

namespace fs = std::filesystem;

struct TtsCliOptions {
  std::string model = kDefaultVoice;  // a path, or the name of a default voice (models/)
  std::string voice_config;
  std::string vits_config;
  std::string text;
  std::string output;
  bool output_raw = false;
  int64_t speaker = 0;
  std::optional<float> length_scale, noise_scale, noise_w;
  std::optional<uint64_t> seed;
  std::optional<int> sample_rate;
  std::string device = "cpu";
  std::string precision = "f32";
};

// Samples in (-1, 1) -> 16-bit little-endian PCM as encode_wav rounds them.
std::string pcm16_bytes(const std::vector<float>& samples) {
  std::string bytes(samples.size() * 2, '\0');
  for (size_t i = 0; i < samples.size(); ++i) {
    const float v = std::clamp(samples[i], -1.0f, 1.0f);
    const auto s = static_cast<int16_t>(std::min(32767.0f, std::round(v * 32768.0f)));
    const auto u = static_cast<uint16_t>(s);
    bytes[2 * i] = static_cast<char>(u & 0xff);
    bytes[2 * i + 1] = static_cast<char>(u >> 8);
  }
  return bytes;
}

int run_tts(const TtsCliOptions& o) {
  MMGEN_CHECK(o.output_raw != !o.output.empty(),
              o.output_raw ? "give either -o or --output-raw, not both"
                           : "no output: give -o out.wav or --output-raw");
  if (!o.output.empty()) {
    const fs::path dir = fs::path(o.output).parent_path();
    MMGEN_CHECK(dir.empty() || fs::is_directory(dir), o.output, ": the folder ", dir.string(),
                " does not exist");
  }
  MMGEN_CHECK(!o.sample_rate || *o.sample_rate > 0, "--sample-rate must be positive, got ",
              o.sample_rate.value_or(0), " Hz");
  const Device device = resolve_device(o.device);
  const Precision precision = resolve_precision(o.precision);
  std::string text = o.text;
  if (text.empty()) text.assign(std::istreambuf_iterator<char>(std::cin), {});
  MMGEN_CHECK(text.find_first_not_of(" \t\r\n") != std::string::npos,
              "the text is empty; give it with -t or on stdin");
  // A trailing newline (echo, files) would otherwise change the last clause.
  text.erase(text.find_last_not_of(" \t\r\n") + 1);

  const auto start = std::chrono::steady_clock::now();
  const audio::TtsVoice voice =
      load_cli_voice(o.model, o.voice_config, o.vits_config, device, precision);
  const int rate = o.sample_rate.value_or(voice.sample_rate());
  // Checks the rate pair before any synthesis (libsamplerate's factor limits).
  (void)audio::resampled_frames(0, voice.sample_rate(), rate);
  if (rate != voice.sample_rate())
    log_info("tts: resampling from the voice's ", voice.sample_rate(), " Hz to ", rate, " Hz");

  audio::TtsOptions options = voice.default_options();
  options.speaker = o.speaker;
  if (o.length_scale) options.length_scale = *o.length_scale;
  if (o.noise_scale) options.noise_scale = *o.noise_scale;
  if (o.noise_w) options.noise_w = *o.noise_w;
  options.seed = o.seed ? *o.seed : std::random_device{}();
  voice.check(options);

  // Each sentence is resampled on its own, so that the WAV and the raw stream
  // hold the same samples.
  audio::WavAudio wav;
  wav.sample_rate = rate;
  wav.channels = 1;
  int64_t total_samples = 0;
  const audio::TtsSentenceCallback on_sentence = [&](const audio::TtsSentence& sentence) {
    const std::vector<float> samples = audio::resample(sentence.samples, voice.sample_rate(), rate);
    total_samples += static_cast<int64_t>(samples.size());
    if (o.output_raw) {
      const std::string bytes = pcm16_bytes(samples);
      std::fwrite(bytes.data(), 1, bytes.size(), stdout);
      std::fflush(stdout);
    } else {
      wav.samples.insert(wav.samples.end(), samples.begin(), samples.end());
    }
  };
  (void)voice.synthesize(text, options, on_sentence);
  if (!o.output_raw) audio::write_wav(o.output, wav, audio::WavEncoding::kPcm16);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const double audio_seconds = static_cast<double>(total_samples) / wav.sample_rate;
  std::fprintf(stderr, "wrote %s (%.2f s of audio at %d Hz, seed %llu) in %s\n",
               o.output_raw ? "raw PCM to stdout" : o.output.c_str(), audio_seconds,
               wav.sample_rate, static_cast<unsigned long long>(options.seed),
               format_duration(seconds).c_str());
  return 0;
}

}  // namespace

Command make_tts_command() {
  auto options = std::make_shared<TtsCliOptions>();
  Command command;
  command.attach_fn = [options](CLI::App& parent, Command& self) {
    CLI::App* app = parent.add_subcommand("tts", "Speak text with a VITS (piper) voice");
    TtsCliOptions& o = *options;
    app->add_option("-m,--model", o.model,
                    "VITS generator checkpoint (.safetensors, .pth, .ckpt), or the name of a "
                    "default voice")
        ->capture_default_str();
    app->add_option("-c,--config", o.voice_config,
                    "Voice config (default: MODEL.json, else MODEL with .onnx.json); a bare file "
                    "name is also looked for beside the model");
    app->add_option("--vits-config", o.vits_config,
                    "VITS training config.json (default: the voice config's \"model\" block, "
                    "else config.json beside the model, else the medium-voice sizes)");
    app->add_option("-t,--text", o.text, "Text to speak (default: read stdin)");
    app->add_option("-o,--output", o.output, "Output WAV file (16-bit PCM)");
    app->add_flag("--output-raw", o.output_raw,
                  "Stream 16-bit little-endian PCM to stdout, one sentence at a time");
    app->add_option("--speaker", o.speaker, "Speaker id of a multi-speaker voice")
        ->capture_default_str();
    app->add_option("--length-scale", o.length_scale, "Speaking pace (> 1 is slower)");
    app->add_option("--noise-scale", o.noise_scale, "Prior noise scale");
    app->add_option("--noise-w", o.noise_w, "Duration noise scale");
    app->add_option("--seed", o.seed, "Random seed (default: random, printed)");
    app->add_option("--sample-rate", o.sample_rate,
                    "Output sample rate in Hz (default: the voice's; other rates are resampled)");
    add_device_option(*app, o.device);
    add_precision_option(*app, o.precision);
    self.app = app;
  };
  command.run = [options] { return run_tts(*options); };
  return command;
}

}  // namespace mmgen::cli
