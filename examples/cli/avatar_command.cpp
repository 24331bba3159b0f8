// `mmgen avatar`: a talking-head video from a portrait and speech, either a WAV
// file or text spoken by a VITS (piper) voice (docs/avatar.md).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "audio/tts.h"
#include "audio/wav.h"
#include "core/error.h"
#include "core/progress.h"
#include "examples/cli/commands.h"
#include "examples/cli/device_option.h"
#include "examples/cli/precision_option.h"
#include "examples/cli/voice_loading.h"
#include "pipelines/phoneme_timings.h"
#include "vision/avatar_audio_drive.h"
#include "vision/avatar_motion.h"
#include "vision/avatar_renderer.h"
#include "vision/avatar_visemes.h"
#include "vision/face_analysis.h"
#include "vision/jpeg.h"
#include "vision/video_writer.h"

namespace mmgen::cli {
namespace {

namespace fs = std::filesystem;

struct AvatarCliOptions {
  std::string input;
  std::string text;
  std::string model = kDefaultVoice;  // a path, or the name of a default voice
  std::string voice_config;
  std::string vits_config;
  std::string audio;
  std::string output;
  int fps = 25;
  int size = 512;
  int crf = 20;
  int64_t speaker = 0;
  std::optional<uint64_t> seed;
  std::string models;
  std::string device = "cpu";
  std::string precision = "f32";
};

// The speech to animate: mono samples and, for text, when each phoneme sounds.
struct Speech {
  std::vector<float> samples;
  int sample_rate = 0;
  std::vector<vision::PhonemeTiming> phonemes;  // empty for a WAV file
};

Speech speech_from_wav(const std::string& path) {
  const audio::WavAudio wav = audio::read_wav(path);
  Speech speech;
  speech.sample_rate = wav.sample_rate;
  const int64_t frames = wav.frames();
  MMGEN_CHECK(frames > 0, path, ": the WAV file holds no audio");
  speech.samples.resize(frames);
  for (int64_t i = 0; i < frames; ++i) {
    float sum = 0;
    for (int c = 0; c < wav.channels; ++c) sum += wav.samples[i * wav.channels + c];
    speech.samples[i] = sum / static_cast<float>(wav.channels);
  }
  return speech;
}

Speech speech_from_text(const AvatarCliOptions& o, uint64_t seed, Device device,
                        Precision precision) {
  const audio::TtsVoice voice =
      load_cli_voice(o.model, o.voice_config, o.vits_config, device, precision);
  audio::TtsOptions options = voice.default_options();
  options.speaker = o.speaker;
  options.seed = seed;
  voice.check(options);
  const std::map<int64_t, std::string> symbols = pipelines::phoneme_symbols(voice);

  Speech speech;
  speech.sample_rate = voice.sample_rate();
  const auto on_sentence = [&](const audio::TtsSentence& sentence) {
    pipelines::append_phoneme_timings(
        sentence, symbols, static_cast<double>(speech.samples.size()) / speech.sample_rate,
        speech.sample_rate, speech.phonemes);
    speech.samples.insert(speech.samples.end(), sentence.samples.begin(), sentence.samples.end());
  };
  (void)voice.synthesize(o.text, options, on_sentence);
  return speech;
}

int run_avatar(const AvatarCliOptions& o) {
  const bool has_text = !o.text.empty();
  MMGEN_CHECK(has_text != !o.audio.empty(), has_text
                                                ? "give either -t TEXT or -a speech.wav, not both"
                                                : "no speech: give -a speech.wav, or -t TEXT");
  MMGEN_CHECK(o.fps >= 1 && o.fps <= 120, "--fps must be in [1, 120], got ", o.fps);
  MMGEN_CHECK(o.size >= 64 && o.size <= 4096 && o.size % 2 == 0,
              "--size must be even and in [64, 4096], got ", o.size);
  const fs::path dir = fs::path(o.output).parent_path();
  MMGEN_CHECK(dir.empty() || fs::is_directory(dir), o.output, ": the folder ", dir.string(),
              " does not exist");
  const Device device = resolve_device(o.device);
  const Precision precision = resolve_precision(o.precision);  // fails before any work
  const uint64_t seed = o.seed ? *o.seed : std::random_device{}();
  const auto start = std::chrono::steady_clock::now();

  // The face first: a portrait without one fails before any speech is made.
  const vision::Image portrait = vision::read_image(o.input);
  const fs::path models = o.models.empty() ? vision::default_face_model_dir() : fs::path(o.models);
  const vision::FaceAnalyzer analyzer = vision::FaceAnalyzer::load(models, {}, device);
  const vision::AvatarRenderer renderer =
      vision::AvatarRenderer::from_portrait(portrait, o.input, analyzer, o.size);

  const Speech speech =
      has_text ? speech_from_text(o, seed, device, precision) : speech_from_wav(o.audio);
  const double seconds = static_cast<double>(speech.samples.size()) / speech.sample_rate;
  const int64_t frames = vision::frames_for_duration(seconds, o.fps);
  const std::vector<vision::MouthShape> mouth =
      speech.phonemes.empty()
          ? vision::mouth_track_from_audio(speech.samples.data(), speech.samples.size(),
                                           speech.sample_rate, frames, o.fps)
          : vision::mouth_track_from_phonemes(speech.phonemes, frames, o.fps);
  const std::vector<vision::AvatarFrameSignals> signals =
      vision::combine_signals(mouth, vision::blink_track(frames, o.fps, seed),
                              vision::head_motion_track(frames, o.fps, seed));

  vision::VideoOptions video;
  video.width = video.height = o.size;
  video.fps = o.fps;
  video.audio_sample_rate = speech.sample_rate;
  video.crf = o.crf;
  vision::Mp4Writer writer(o.output, video);
  writer.add_audio(speech.samples.data(), speech.samples.size());
  ProgressReporter progress(stderr_is_terminal() ? terminal_progress_bar() : ProgressCallback(),
                            "rendering", frames);
  vision::Image frame;
  for (int64_t f = 0; f < frames; ++f) {
    renderer.render(signals[f], f, o.fps, frame);
    writer.add_frame(frame);
    progress.update(f + 1);
    progress.throw_if_cancelled();
  }
  writer.finish();
  const double elapsed =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::fprintf(stderr, "wrote %s (%lld frames, %.2f s at %d fps, %dx%d, %s, seed %llu) in %s\n",
               o.output.c_str(), static_cast<long long>(frames), seconds, o.fps, o.size, o.size,
               speech.phonemes.empty() ? "mouth from the audio" : "mouth from the phonemes",
               static_cast<unsigned long long>(seed), format_duration(elapsed).c_str());
  return 0;
}

}  // namespace

Command make_avatar_command() {
  auto options = std::make_shared<AvatarCliOptions>();
  Command command;
  command.attach_fn = [options](CLI::App& parent, Command& self) {
    CLI::App* app = parent.add_subcommand(
        "avatar", "Render a talking-head video (MP4) from a portrait and speech");
    AvatarCliOptions& o = *options;
    app->add_option("-i,--input", o.input,
                    "Portrait picture (PNG, JPEG or WebP) with one clear face")
        ->required();
    app->add_option("-t,--text", o.text, "Text to speak with the voice of -m");
    app->add_option("-m,--model", o.model,
                    "VITS voice checkpoint for -t, or a default voice's name (as for `mmgen tts`)")
        ->capture_default_str();
    app->add_option("-c,--config", o.voice_config,
                    "Voice config (default: MODEL.json, else MODEL with .onnx.json); a bare file "
                    "name is also looked for beside the model");
    app->add_option("--vits-config", o.vits_config,
                    "VITS training config.json (as for `mmgen tts`)");
    app->add_option("--speaker", o.speaker, "Speaker id of a multi-speaker voice")
        ->capture_default_str();
    app->add_option("-a,--audio", o.audio, "Speech WAV file (instead of -t)");
    app->add_option("-o,--output", o.output, "Output video (MP4: H.264 + AAC)")->required();
    app->add_option("--fps", o.fps, "Frames per second")->capture_default_str();
    app->add_option("--size", o.size, "Video width and height in pixels (even)")
        ->capture_default_str();
    app->add_option("--crf", o.crf, "H.264 quality (lower is better, larger)")
        ->capture_default_str();
    app->add_option("--seed", o.seed,
                    "Seed of the blinks, head motion and voice (default: random)");
    app->add_option("--models", o.models,
                    "Folder with the face-api model files (default: $MMGEN_FACE_MODELS_DIR or "
                    "the one scripts/fetch_face_models.sh fills)");
    add_device_option(*app, o.device);
    add_precision_option(*app, o.precision);
    self.app = app;
  };
  command.run = [options] { return run_avatar(*options); };
  return command;
}

}  // namespace mmgen::cli
