#include "vision/avatar_motion.h"

#include <cmath>
#include <numbers>
#include <random>

#include "core/error.h"

namespace mmgen::vision {
namespace {

// Uniform in [lo, hi) from the engine's raw bits (std:: distributions differ
// between standard libraries; mt19937_64's output does not).
double uniform(std::mt19937_64& rng, double lo, double hi) {
  return lo + (hi - lo) * static_cast<double>(rng() >> 11) * 0x1p-53;
}

}  // namespace

std::vector<float> blink_track(int64_t frames, int fps, uint64_t seed, const BlinkOptions& o) {
  MMGEN_CHECK(fps > 0, "fps must be positive, got ", fps);
  MMGEN_CHECK(o.min_interval_seconds > 0 && o.max_interval_seconds >= o.min_interval_seconds,
              "blink intervals must satisfy 0 < min <= max, got ", o.min_interval_seconds, " and ",
              o.max_interval_seconds, " s");
  std::mt19937_64 rng(seed ^ 0xb11c4ull);
  std::vector<float> out(frames, 0.0f);
  const double frame_seconds = 1.0 / fps;
  double peak = uniform(rng, 0.5, 3.0);
  while (true) {
    // Snap the peak to a frame centre.
    const auto peak_frame = static_cast<int64_t>(std::floor(peak * fps));
    if (peak_frame >= frames) break;
    const double peak_time = (peak_frame + 0.5) * frame_seconds;
    for (int64_t f = std::max<int64_t>(0, peak_frame - 4); f < std::min(frames, peak_frame + 6);
         ++f) {
      const double t = (f + 0.5) * frame_seconds - peak_time;
      double closure = 0;
      if (t <= 0)
        closure = 1.0 + t / o.close_seconds;
      else
        closure = 1.0 - t / o.open_seconds;
      if (closure > 0) out[f] = std::max(out[f], static_cast<float>(closure));
    }
    peak += uniform(rng, o.min_interval_seconds, o.max_interval_seconds);
  }
  return out;
}

std::vector<HeadPose> head_motion_track(int64_t frames, int fps, uint64_t seed,
                                        const HeadMotionOptions& o) {
  MMGEN_CHECK(fps > 0, "fps must be positive, got ", fps);
  std::mt19937_64 rng(seed ^ 0x4eadull);
  struct Wave {
    double frequency, phase;
  };
  // Four degrees of freedom, three waves each.
  Wave waves[4][3];
  for (auto& dof : waves)
    for (Wave& w : dof) w = {uniform(rng, 0.05, 0.4), uniform(rng, 0.0, 2.0 * std::numbers::pi)};
  const auto sway = [&](int dof, double t) {
    double sum = 0;
    for (const Wave& w : waves[dof])
      sum += std::sin(2.0 * std::numbers::pi * w.frequency * t + w.phase);
    return static_cast<float>(sum / 3.0);
  };
  std::vector<HeadPose> out(frames);
  for (int64_t f = 0; f < frames; ++f) {
    const double t = static_cast<double>(f) / fps;
    out[f] = {o.roll_radians * sway(0, t), o.shift * sway(1, t), o.shift * sway(2, t),
              1.0f + o.scale * sway(3, t)};
  }
  return out;
}

}  // namespace mmgen::vision
