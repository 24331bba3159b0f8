#include "vision/avatar_signals.h"

#include <cmath>

#include "core/error.h"

namespace mmgen::vision {

int64_t frames_for_duration(double seconds, int fps) {
  MMGEN_CHECK(fps > 0, "fps must be positive, got ", fps);
  MMGEN_CHECK(seconds >= 0 && std::isfinite(seconds), "the duration must be finite and not ",
              "negative, got ", seconds, " s");
  // The small tolerance keeps an exact multiple (2.0 s at 25 fps) from gaining a frame.
  const auto frames = static_cast<int64_t>(std::ceil(seconds * fps - 1e-6));
  return frames < 1 ? 1 : frames;
}

std::vector<float> smooth_attack_release(const std::vector<float>& values, double frame_seconds,
                                         double attack_seconds, double release_seconds) {
  std::vector<float> out(values.size());
  const auto rate = [&](double tau) {
    return tau <= 0 ? 1.0f : static_cast<float>(1.0 - std::exp(-frame_seconds / tau));
  };
  const float attack = rate(attack_seconds), release = rate(release_seconds);
  float state = values.empty() ? 0.0f : values[0];
  for (size_t i = 0; i < values.size(); ++i) {
    const float target = values[i];
    state += (target > state ? attack : release) * (target - state);
    out[i] = state;
  }
  return out;
}

std::vector<AvatarFrameSignals> combine_signals(const std::vector<MouthShape>& mouth,
                                                const std::vector<float>& blink,
                                                const std::vector<HeadPose>& head) {
  MMGEN_CHECK(mouth.size() == blink.size() && mouth.size() == head.size(),
              "signal tracks differ in length: mouth ", mouth.size(), ", blink ", blink.size(),
              ", head ", head.size(), " frames");
  std::vector<AvatarFrameSignals> out(mouth.size());
  for (size_t i = 0; i < out.size(); ++i) out[i] = {mouth[i], blink[i], head[i]};
  return out;
}

}  // namespace mmgen::vision
