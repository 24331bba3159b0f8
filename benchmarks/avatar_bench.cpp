// avatar_bench: frames per second of the talking-head renderer at 512x512 on
// the CPU, against the real-time target of 25 fps.
//
// It crops face-api's sample portrait (third_party/face-api/samples/sample2.jpg,
// fetched by scripts/fetch_face_models.sh) to 512x512, drives the mouth from 10 s
// of speech-like audio (voiced syllables and pauses) with blinks and head
// motion, and times (1) rendering alone (mesh warp + mouth interior), with one
// thread and with all threads, and (2) rendering plus H.264/AAC encoding into an
// MP4 in a temporary folder. Face detection runs once, before the clock starts.
//
//   avatar_bench [--threads N] [--quick]
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "benchmarks/bench_util.h"
#include "core/error.h"
#include "core/thread_pool.h"
#include "vision/avatar_audio_drive.h"
#include "vision/avatar_motion.h"
#include "vision/avatar_renderer.h"
#include "vision/face_analysis.h"
#include "vision/jpeg.h"
#include "vision/video_writer.h"

namespace mmgen::bench {
namespace {

namespace fs = std::filesystem;

constexpr int kSize = 512;
constexpr int kFps = 25;
constexpr int kRate = 22050;

std::vector<float> syllables(double seconds) {
  std::vector<float> out(static_cast<size_t>(seconds * kRate), 0.0f);
  double t = 0.2;
  for (int k = 0; t < seconds - 0.3; ++k) {
    const double len = 0.12 + 0.06 * (k % 4), gap = 0.05 + 0.04 * (k % 3);
    const auto begin = static_cast<size_t>(t * kRate), end = static_cast<size_t>((t + len) * kRate);
    for (size_t i = begin; i < end && i < out.size(); ++i) {
      const double u = static_cast<double>(i - begin) / static_cast<double>(end - begin);
      out[i] = static_cast<float>(0.3 * std::sin(M_PI * u) *
                                  std::sin(2 * M_PI * 140.0 * static_cast<double>(i) / kRate));
    }
    t += len + gap;
  }
  return out;
}

double render_fps(const vision::AvatarRenderer& renderer,
                  const std::vector<vision::AvatarFrameSignals>& signals,
                  vision::Mp4Writer* writer) {
  vision::Image frame;
  renderer.render(signals[0], 0, kFps, frame);  // warm-up: allocation
  const auto start = Clock::now();
  for (size_t f = 0; f < signals.size(); ++f) {
    renderer.render(signals[f], static_cast<int64_t>(f), kFps, frame);
    if (writer) writer->add_frame(frame);
  }
  if (writer) writer->finish();
  return static_cast<double>(signals.size()) / seconds_since(start);
}

int run(int argc, char** argv) {
  Options options;
  if (auto code =
          parse_options(argc, argv, "avatar_bench", "4 s of video instead of 10 s", false, options))
    return *code;
  if (options.threads > 0) set_num_threads(options.threads);
  const fs::path models = vision::default_face_model_dir();
  const fs::path portrait_path = models / ".." / "samples" / "sample2.jpg";
  MMGEN_CHECK(fs::exists(portrait_path), portrait_path.string(),
              ": sample portrait not found (run scripts/fetch_face_models.sh)");
  const vision::FaceAnalyzer analyzer = vision::FaceAnalyzer::load(models);
  const vision::AvatarRenderer renderer = vision::AvatarRenderer::from_portrait(
      vision::read_image(portrait_path), portrait_path.string(), analyzer, kSize);

  const double seconds = options.quick ? 4.0 : 10.0;
  const std::vector<float> audio = syllables(seconds);
  const int64_t frames = vision::frames_for_duration(seconds, kFps);
  const std::vector<vision::AvatarFrameSignals> signals = vision::combine_signals(
      vision::mouth_track_from_audio(audio.data(), audio.size(), kRate, frames, kFps),
      vision::blink_track(frames, kFps, 1), vision::head_motion_track(frames, kFps, 1));

  std::printf("avatar_bench: %dx%d, %lld frames, CPU %s, %d threads\n", kSize, kSize,
              static_cast<long long>(frames), cpu_model().c_str(), num_threads());
  const int threads = num_threads();
  const auto line = [](const std::string& name, double fps) {
    std::printf("%-44s %7.1f fps  (%.0f%% of real time, %d fps)\n", name.c_str(), fps,
                100.0 * fps / kFps, kFps);
  };
  set_num_threads(1);
  line("render (warp + mouth), 1 thread", render_fps(renderer, signals, nullptr));
  set_num_threads(threads);
  line(
      "render (warp + mouth), " + std::to_string(threads) + (threads == 1 ? " thread" : " threads"),
      render_fps(renderer, signals, nullptr));

  const fs::path dir = fs::temp_directory_path() / "mmgen_avatar_bench";
  fs::create_directories(dir);
  vision::VideoOptions video;
  video.width = video.height = kSize;
  video.fps = kFps;
  video.audio_sample_rate = kRate;
  {
    vision::Mp4Writer writer(dir / "bench.mp4", video);
    writer.add_audio(audio.data(), audio.size());
    const double encoded = render_fps(renderer, signals, &writer);
    line("render + MP4 encode (" + std::string(writer.video_encoder()) + "), " +
             std::to_string(threads) + (threads == 1 ? " thread" : " threads"),
         encoded);
  }
  fs::remove_all(dir);
  return 0;
}

}  // namespace
}  // namespace mmgen::bench

int main(int argc, char** argv) {
  return mmgen::bench::run_main("avatar_bench", mmgen::bench::run, argc, argv);
}
