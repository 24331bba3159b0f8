#include "audio/resample.h"

#include <samplerate.h>

#include <cmath>

#include "core/error.h"

namespace mmgen::audio {

namespace {

// libsamplerate accepts ratios in [1/256, 256] (SRC_MAX_RATIO).
constexpr double kMaxRatio = 256.0;

int converter_type(ResampleQuality quality) {
  return quality == ResampleQuality::kBest ? SRC_SINC_BEST_QUALITY : SRC_SINC_MEDIUM_QUALITY;
}

void check_rates(int from_rate, int to_rate) {
  MMGEN_CHECK(from_rate > 0, "resample: the source sample rate must be positive, got ", from_rate,
              " Hz");
  MMGEN_CHECK(to_rate > 0, "resample: the target sample rate must be positive, got ", to_rate,
              " Hz");
  const double ratio = static_cast<double>(to_rate) / from_rate;
  MMGEN_CHECK(ratio <= kMaxRatio && ratio >= 1.0 / kMaxRatio, "resample: ", from_rate, " Hz to ",
              to_rate, " Hz is a factor of ", ratio,
              "; libsamplerate converts by factors between 1/256 and 256");
}

}  // namespace

const char* resample_quality_name(ResampleQuality quality) {
  return quality == ResampleQuality::kBest ? "best" : "medium";
}

int64_t resampled_frames(int64_t frames, int from_rate, int to_rate) {
  check_rates(from_rate, to_rate);
  MMGEN_CHECK(frames >= 0, "resample: negative frame count ", frames);
  return static_cast<int64_t>(
      std::llround(static_cast<double>(frames) * to_rate / static_cast<double>(from_rate)));
}

std::vector<float> resample(const std::vector<float>& samples, int from_rate, int to_rate,
                            int channels, ResampleQuality quality) {
  check_rates(from_rate, to_rate);
  MMGEN_CHECK(channels >= 1, "resample: the channel count must be at least 1, got ", channels);
  MMGEN_CHECK(samples.size() % static_cast<size_t>(channels) == 0, "resample: ", samples.size(),
              " samples are not a whole number of ", channels, "-channel frames");
  if (from_rate == to_rate || samples.empty()) return samples;
  const auto frames = static_cast<int64_t>(samples.size()) / channels;
  const int64_t out_frames = resampled_frames(frames, from_rate, to_rate);
  // Room for the converter's rounding; the result is cut to out_frames.
  std::vector<float> out(static_cast<size_t>((out_frames + 64) * channels), 0.0f);
  SRC_DATA data{};
  data.data_in = samples.data();
  data.data_out = out.data();
  data.input_frames = static_cast<long>(frames);
  data.output_frames = static_cast<long>(out_frames + 64);
  data.end_of_input = 1;
  data.src_ratio = static_cast<double>(to_rate) / from_rate;
  const int status = src_simple(&data, converter_type(quality), channels);
  MMGEN_CHECK(status == 0, "resample: ", from_rate, " Hz to ", to_rate,
              " Hz failed in libsamplerate: ", src_strerror(status));
  // src_simple flushes the filter at the end of input; a frame short of the
  // rounded length (the converter's own rounding) is filled with silence.
  out.resize(static_cast<size_t>(out_frames * channels), 0.0f);
  return out;
}

WavAudio resample(const WavAudio& audio, int to_rate, ResampleQuality quality) {
  WavAudio out = audio;
  out.sample_rate = to_rate;
  out.samples = resample(audio.samples, audio.sample_rate, to_rate, audio.channels, quality);
  return out;
}

}  // namespace mmgen::audio
