// Resampling (audio/resample.h): a sine keeps its frequency and amplitude
// through 22050 -> 16000 -> 22050, stereo channels stay apart, lengths round
// as documented, and impossible rates are refused with the rates named.
#include "audio/resample.h"

#include <catch2/catch.hpp>
#include <cmath>
#include <string>
#include <vector>

#include "core/error.h"

using namespace mmgen;
using namespace mmgen::audio;

namespace {

constexpr double kPi = 3.14159265358979323846;

std::vector<float> sine(double frequency, double amplitude, int rate, int64_t frames) {
  std::vector<float> out(static_cast<size_t>(frames));
  for (int64_t i = 0; i < frames; ++i)
    out[i] = static_cast<float>(amplitude * std::sin(2 * kPi * frequency * i / rate));
  return out;
}

struct SineFit {
  double amplitude = 0;
  double residual_rms = 0;  // what the fitted sine leaves
};

// Least-squares sine of `frequency` over samples [begin, end) of a mono signal
// (a whole number of periods, so sin and cos are orthogonal there).
SineFit fit_sine(const std::vector<float>& x, double frequency, int rate, int64_t begin,
                 int64_t end) {
  double s = 0, c = 0;
  for (int64_t i = begin; i < end; ++i) {
    const double phase = 2 * kPi * frequency * i / rate;
    s += x[i] * std::sin(phase);
    c += x[i] * std::cos(phase);
  }
  const double n = static_cast<double>(end - begin);
  const double a = 2 * s / n, b = 2 * c / n;
  double residual = 0;
  for (int64_t i = begin; i < end; ++i) {
    const double phase = 2 * kPi * frequency * i / rate;
    const double r = x[i] - (a * std::sin(phase) + b * std::cos(phase));
    residual += r * r;
  }
  return {std::hypot(a, b), std::sqrt(residual / n)};
}

// Mean frequency from the upward zero crossings (linearly interpolated) in [begin, end).
double zero_crossing_frequency(const std::vector<float>& x, int rate, int64_t begin, int64_t end) {
  double first = -1, last = -1;
  int crossings = 0;
  for (int64_t i = begin; i + 1 < end; ++i) {
    if (x[i] < 0 && x[i + 1] >= 0) {
      const double t = i + x[i] / (x[i] - x[i + 1]);
      if (first < 0) first = t;
      last = t;
      ++crossings;
    }
  }
  REQUIRE(crossings >= 2);
  return (crossings - 1) * rate / (last - first);
}

}  // namespace

TEST_CASE("a sine resampled 22050 to 16000 and back keeps frequency and amplitude",
          "[audio][resample]") {
  const double frequency = 1000.0, amplitude = 0.5;
  const std::vector<float> original = sine(frequency, amplitude, 22050, 22050);  // 1 s

  for (const ResampleQuality quality : {ResampleQuality::kBest, ResampleQuality::kMedium}) {
    DYNAMIC_SECTION(resample_quality_name(quality)) {
      const std::vector<float> down = resample(original, 22050, 16000, 1, quality);
      REQUIRE(down.size() == 16000);
      // 1000 Hz at 16 kHz: 16 samples a period; 0.25 s to 0.75 s is 500 periods,
      // clear of the filter's edges.
      const SineFit at16 = fit_sine(down, frequency, 16000, 4000, 12000);
      CHECK(at16.amplitude == Approx(amplitude).margin(1e-4));
      CHECK(at16.residual_rms < 1e-4);
      CHECK(zero_crossing_frequency(down, 16000, 4000, 12000) == Approx(frequency).margin(0.01));

      const std::vector<float> back = resample(down, 16000, 22050, 1, quality);
      REQUIRE(back.size() == original.size());
      const SineFit at22 = fit_sine(back, frequency, 22050, 5512, 16537);  // 0.25 s .. 0.75 s
      CHECK(at22.amplitude == Approx(amplitude).margin(1e-4));
      CHECK(at22.residual_rms < 1e-4);
      CHECK(zero_crossing_frequency(back, 22050, 5512, 16537) == Approx(frequency).margin(0.01));
      // Away from the ends the round trip returns the original samples.
      double max_error = 0;
      for (int64_t i = 2205; i < 22050 - 2205; ++i)
        max_error = std::max(max_error, std::abs(static_cast<double>(back[i] - original[i])));
      CHECK(max_error < 1e-3);
    }
  }
}

TEST_CASE("resampling removes what lies above the new Nyquist frequency", "[audio][resample]") {
  // 10 kHz is representable at 22050 Hz but not at 16000 Hz (Nyquist 8 kHz).
  std::vector<float> mix = sine(500.0, 0.4, 22050, 22050);
  const std::vector<float> high = sine(10000.0, 0.4, 22050, 22050);
  for (size_t i = 0; i < mix.size(); ++i) mix[i] += high[i];
  const std::vector<float> down = resample(mix, 22050, 16000);
  CHECK(fit_sine(down, 500.0, 16000, 4000, 12000).amplitude == Approx(0.4).margin(1e-4));
  // The alias 10 kHz would fold to (6 kHz) is absent.
  CHECK(fit_sine(down, 6000.0, 16000, 4000, 12000).amplitude < 1e-3);
}

TEST_CASE("stereo channels are resampled independently", "[audio][resample]") {
  const std::vector<float> left = sine(440.0, 0.3, 16000, 16000);
  const std::vector<float> right = sine(1200.0, 0.6, 16000, 16000);
  std::vector<float> stereo(32000);
  for (size_t i = 0; i < left.size(); ++i) stereo[2 * i] = left[i], stereo[2 * i + 1] = right[i];
  WavAudio wav;
  wav.sample_rate = 16000;
  wav.channels = 2;
  wav.samples = stereo;
  const WavAudio up = resample(wav, 48000);
  REQUIRE(up.sample_rate == 48000);
  REQUIRE(up.channels == 2);
  REQUIRE(up.frames() == 48000);
  std::vector<float> l(48000), r(48000);
  for (int64_t i = 0; i < 48000; ++i) l[i] = up.samples[2 * i], r[i] = up.samples[2 * i + 1];
  // 0.25 s .. 0.75 s: whole periods of both tones.
  CHECK(fit_sine(l, 440.0, 48000, 12000, 36000).amplitude == Approx(0.3).margin(1e-4));
  CHECK(fit_sine(l, 1200.0, 48000, 12000, 36000).amplitude < 1e-4);
  CHECK(fit_sine(r, 1200.0, 48000, 12000, 36000).amplitude == Approx(0.6).margin(1e-4));
  CHECK(fit_sine(r, 440.0, 48000, 12000, 36000).amplitude < 1e-4);
}

TEST_CASE("resampled lengths round the scaled frame count", "[audio][resample]") {
  CHECK(resampled_frames(22050, 22050, 16000) == 16000);
  CHECK(resampled_frames(1000, 22050, 16000) == 726);   // 725.6
  CHECK(resampled_frames(1001, 16000, 22050) == 1380);  // 1379.503
  CHECK(resampled_frames(0, 8000, 48000) == 0);
  const std::vector<float> samples = sine(300.0, 0.5, 22050, 1001);
  CHECK(resample(samples, 22050, 16000).size() == 726);  // 726.3
  CHECK(resample(samples, 22050, 44100).size() == 2002);
  // Very short input still gives the rounded length.
  CHECK(resample(std::vector<float>{0.25f}, 8000, 48000).size() == 6);
}

TEST_CASE("equal rates copy and empty input gives empty output", "[audio][resample]") {
  const std::vector<float> samples = {0.1f, -0.2f, 0.3f};
  CHECK(resample(samples, 22050, 22050) == samples);
  CHECK(resample(std::vector<float>{}, 22050, 16000).empty());
}

TEST_CASE("impossible rates and layouts are refused with the values named", "[audio][resample]") {
  const std::vector<float> samples(100, 0.0f);
  CHECK_THROWS_WITH(resample(samples, 0, 16000),
                    Catch::Contains("source sample rate must be positive, got 0 Hz"));
  CHECK_THROWS_WITH(resample(samples, 22050, -8000),
                    Catch::Contains("target sample rate must be positive, got -8000 Hz"));
  CHECK_THROWS_WITH(resample(samples, 100, 48000),
                    Catch::Contains("100 Hz to 48000 Hz") && Catch::Contains("1/256 and 256"));
  CHECK_THROWS_WITH(resample(samples, 96000, 300),
                    Catch::Contains("96000 Hz to 300 Hz") && Catch::Contains("1/256 and 256"));
  CHECK_THROWS_WITH(resample(samples, 22050, 16000, 0),
                    Catch::Contains("channel count must be at least 1, got 0"));
  CHECK_THROWS_WITH(resample(std::vector<float>(101, 0.0f), 22050, 16000, 2),
                    Catch::Contains("101 samples are not a whole number of 2-channel frames"));
  CHECK_THROWS_AS(resampled_frames(10, 22050, 0), Error);
}
