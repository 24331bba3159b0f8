#include "vision/avatar_audio_drive.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"

namespace mmgen::vision {
namespace {

void check_audio(size_t count, int sample_rate, int64_t frames, int fps) {
  MMGEN_CHECK(sample_rate > 0, "the audio sample rate must be positive, got ", sample_rate);
  MMGEN_CHECK(fps > 0, "fps must be positive, got ", fps);
  MMGEN_CHECK(frames >= 0, "the frame count must not be negative, got ", frames);
  (void)count;
}

// The [begin, end) sample range of frame f's window.
std::pair<int64_t, int64_t> window(int64_t f, size_t count, int sample_rate, int fps,
                                   double window_scale) {
  const double centre = (f + 0.5) / fps, half = 0.5 * window_scale / fps;
  const auto begin = static_cast<int64_t>(std::floor((centre - half) * sample_rate));
  const auto end = static_cast<int64_t>(std::ceil((centre + half) * sample_rate));
  return {std::clamp<int64_t>(begin, 0, static_cast<int64_t>(count)),
          std::clamp<int64_t>(end, 0, static_cast<int64_t>(count))};
}

float percentile(std::vector<float> values, double q) {
  if (values.empty()) return 0;
  const auto k = static_cast<size_t>(std::clamp(q, 0.0, 1.0) * (values.size() - 1));
  std::nth_element(values.begin(), values.begin() + static_cast<std::ptrdiff_t>(k), values.end());
  return values[k];
}

}  // namespace

std::vector<float> audio_energy_envelope(const float* samples, size_t count, int sample_rate,
                                         int64_t frames, int fps, double window_scale) {
  check_audio(count, sample_rate, frames, fps);
  std::vector<float> out(frames);
  for (int64_t f = 0; f < frames; ++f) {
    const auto [begin, end] = window(f, count, sample_rate, fps, window_scale);
    double sum = 0;
    for (int64_t i = begin; i < end; ++i) sum += static_cast<double>(samples[i]) * samples[i];
    out[f] =
        end > begin ? static_cast<float>(std::sqrt(sum / static_cast<double>(end - begin))) : 0.0f;
  }
  return out;
}

std::vector<MouthShape> mouth_track_from_audio(const float* samples, size_t count, int sample_rate,
                                               int64_t frames, int fps) {
  check_audio(count, sample_rate, frames, fps);
  const std::vector<float> energy =
      audio_energy_envelope(samples, count, sample_rate, frames, fps, 1.5);
  // Brightness: RMS of the first difference over RMS of the signal, which grows
  // with the spectral centroid (2 sin(pi f / rate) for a tone at f).
  std::vector<float> brightness(frames, 0.0f);
  for (int64_t f = 0; f < frames; ++f) {
    const auto [begin, end] = window(f, count, sample_rate, fps, 1.5);
    double power = 0, diff_power = 0;
    for (int64_t i = std::max<int64_t>(begin, 1); i < end; ++i) {
      power += static_cast<double>(samples[i]) * samples[i];
      const double d = static_cast<double>(samples[i]) - samples[i - 1];
      diff_power += d * d;
    }
    brightness[f] = power > 0 ? static_cast<float>(std::sqrt(diff_power / power)) : 0.0f;
  }

  // Normalise: the floor is the quiet level (pauses), the top a loud vowel.
  const float top = percentile(energy, 0.95);
  const float floor = std::min(1.5f * percentile(energy, 0.1), 0.3f * top);
  const float range = std::max(top - floor, 1e-6f);
  double weighted = 0, weight = 0;
  for (int64_t f = 0; f < frames; ++f) {
    weighted += static_cast<double>(energy[f]) * brightness[f];
    weight += energy[f];
  }
  const float mean_brightness = weight > 0 ? static_cast<float>(weighted / weight) : 0.0f;

  std::vector<float> open(frames), width(frames), round(frames);
  for (int64_t f = 0; f < frames; ++f) {
    const float level = std::clamp((energy[f] - floor) / range, 0.0f, 1.0f);
    const float b =
        mean_brightness > 0
            ? std::clamp((brightness[f] - mean_brightness) / mean_brightness, -1.0f, 1.0f)
            : 0.0f;
    const float voiced = std::min(1.0f, 3.0f * level);  // shape the lips only while sounding
    open[f] = std::pow(level, 0.8f) * (1.0f - 0.15f * std::max(b, 0.0f));
    width[f] = voiced * 0.6f * std::max(b, 0.0f);
    round[f] = voiced * 0.7f * std::max(-b, 0.0f);
  }
  const double frame_seconds = 1.0 / fps;
  open = smooth_attack_release(open, frame_seconds, 0.02, 0.05);
  width = smooth_attack_release(width, frame_seconds, 0.05, 0.06);
  round = smooth_attack_release(round, frame_seconds, 0.05, 0.06);
  std::vector<MouthShape> out(frames);
  for (int64_t f = 0; f < frames; ++f) out[f] = {open[f], width[f] - 0.3f * round[f], round[f]};
  return out;
}

}  // namespace mmgen::vision
