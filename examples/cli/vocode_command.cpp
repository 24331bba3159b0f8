// `mmgen vocode`: a WAV through the HiFi-GAN mel front end and generator
// (analysis-synthesis), written as a 16-bit PCM WAV (docs/tts.md).
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "audio/hifigan.h"
#include "audio/hifigan_config.h"
#include "audio/mel.h"
#include "audio/resample.h"
#include "audio/wav.h"
#include "core/error.h"
#include "core/log.h"
#include "core/progress.h"
#include "examples/cli/commands.h"
#include "examples/cli/device_option.h"
#include "examples/cli/precision_option.h"

namespace mmgen::cli {
namespace {

namespace fs = std::filesystem;

struct VocodeOptions {
  std::string model;
  std::string config;
  std::string input;
  std::string output;
  std::string device = "cpu";
  std::string precision = "f32";
};

nlohmann::json read_json(const fs::path& path) {
  std::ifstream in(path);
  MMGEN_CHECK(in.good(), path.string(), ": cannot open the HiFi-GAN config");
  try {
    return nlohmann::json::parse(in);
  } catch (const nlohmann::json::exception& e) {
    fail(path.string(), ": invalid JSON: ", e.what());
  }
}

int run_vocode(const VocodeOptions& o) {
  MMGEN_CHECK(fs::exists(o.model), o.model, ": model file not found");
  const Device device = resolve_device(o.device);
  const Precision precision = resolve_precision(o.precision);
  const fs::path config_path =
      o.config.empty() ? fs::path(o.model).parent_path() / "config.json" : fs::path(o.config);
  MMGEN_CHECK(fs::exists(config_path), config_path.string(),
              ": HiFi-GAN config not found; give it with -c");
  const fs::path dir = fs::path(o.output).parent_path();
  MMGEN_CHECK(dir.empty() || fs::is_directory(dir), o.output, ": the folder ", dir.string(),
              " does not exist");
  const nlohmann::json json = read_json(config_path);
  const audio::HifiganConfig config = audio::hifigan_config_from_json(json, config_path.string());
  const audio::MelSettings mel = audio::mel_settings_from_json(json, config_path.string());

  const audio::WavAudio input = audio::read_wav(o.input);
  // Stereo is mixed down to mono.
  std::vector<float> mono(static_cast<size_t>(input.frames()));
  for (int64_t i = 0; i < input.frames(); ++i) {
    float sum = 0;
    for (int c = 0; c < input.channels; ++c) sum += input.samples[i * input.channels + c];
    mono[i] = sum / static_cast<float>(input.channels);
  }
  MMGEN_CHECK(!mono.empty(), o.input, ": the WAV has no samples");
  if (input.sample_rate != mel.sampling_rate) {
    log_info("vocode: resampling ", o.input, " from ", input.sample_rate, " Hz to the vocoder's ",
             mel.sampling_rate, " Hz (", config_path.string(), " sampling_rate)");
    try {
      mono = audio::resample(mono, input.sample_rate, mel.sampling_rate);
    } catch (const Error& e) {
      fail(o.input, ": ", e.what());
    }
  }

  const auto start = std::chrono::steady_clock::now();
  const audio::Hifigan vocoder = audio::Hifigan::load(o.model, config, "", device, precision);
  const Tensor spectrogram =
      audio::mel_spectrogram(Tensor::from_vector(mono, {static_cast<int64_t>(mono.size())}), mel);
  audio::WavAudio out;
  out.sample_rate = mel.sampling_rate;
  out.channels = 1;
  out.samples = vocoder.vocode(spectrogram).to_f32_vector();
  audio::write_wav(o.output, out, audio::WavEncoding::kPcm16);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::fprintf(stderr, "wrote %s (%lld mel frames, %.2f s of audio at %d Hz) in %s\n",
               o.output.c_str(), static_cast<long long>(spectrogram.dim(2)),
               static_cast<double>(out.samples.size()) / out.sample_rate, out.sample_rate,
               format_duration(seconds).c_str());
  return 0;
}

}  // namespace

Command make_vocode_command() {
  auto options = std::make_shared<VocodeOptions>();
  Command command;
  command.attach_fn = [options](CLI::App& parent, Command& self) {
    CLI::App* app = parent.add_subcommand(
        "vocode", "Resynthesise a WAV through its mel spectrogram and HiFi-GAN");
    VocodeOptions& o = *options;
    app->add_option("-m,--model", o.model, "HiFi-GAN generator checkpoint")->required();
    app->add_option("-c,--config", o.config,
                    "HiFi-GAN config.json (default: config.json beside the model)");
    app->add_option("-i,--input", o.input,
                    "Input WAV (resampled to the config's sampling_rate when it differs)")
        ->required();
    app->add_option("-o,--output", o.output, "Output WAV file (16-bit PCM)")->required();
    add_device_option(*app, o.device);
    add_precision_option(*app, o.precision);
    self.app = app;
  };
  command.run = [options] { return run_vocode(*options); };
  return command;
}

}  // namespace mmgen::cli
