#include "audio/mel.h"

#include <algorithm>
#include <cmath>
#include <complex>
#include <numbers>

#include "audio/fft.h"
#include "core/error.h"

namespace mmgen::audio {

namespace {

// librosa's Slaney constants.
constexpr double kMelsPerHz = 3.0 / 200.0;
constexpr double kLogStartHz = 1000.0;
constexpr double kLogStartMel = kLogStartHz * kMelsPerHz;  // 15
const double kLogStep = std::log(6.4) / 27.0;

// Reflect padding (torch's 'reflect': the edge sample is not repeated).
std::vector<double> reflect_pad(const std::vector<double>& x, int64_t pad) {
  const auto n = static_cast<int64_t>(x.size());
  MMGEN_CHECK(pad < n, "mel_spectrogram: reflect padding of ", pad,
              " samples needs more than that many samples, got ", n);
  std::vector<double> out(static_cast<size_t>(n + 2 * pad));
  for (int64_t i = 0; i < n + 2 * pad; ++i) {
    int64_t j = i - pad;
    if (j < 0) j = -j;
    if (j >= n) j = 2 * (n - 1) - j;
    out[static_cast<size_t>(i)] = x[static_cast<size_t>(j)];
  }
  return out;
}

int64_t padded_length(int64_t samples, const MelSettings& s) {
  int64_t length = samples + 2 * ((s.n_fft - s.hop_size) / 2);
  if (s.center) length += 2 * (s.n_fft / 2);
  return length;
}

}  // namespace

void validate(const MelSettings& s) {
  MMGEN_CHECK(s.n_fft >= 2, "mel settings: n_fft must be at least 2, got ", s.n_fft);
  MMGEN_CHECK(s.num_mels >= 1, "mel settings: num_mels must be positive, got ", s.num_mels);
  MMGEN_CHECK(s.sampling_rate >= 1, "mel settings: sampling_rate must be positive, got ",
              s.sampling_rate);
  MMGEN_CHECK(s.hop_size >= 1 && s.hop_size <= s.n_fft, "mel settings: hop_size must be in [1, ",
              s.n_fft, "], got ", s.hop_size);
  MMGEN_CHECK(s.win_size >= 1 && s.win_size <= s.n_fft, "mel settings: win_size must be in [1, ",
              s.n_fft, "], got ", s.win_size);
  MMGEN_CHECK(s.fmin >= 0 && s.fmin < s.fmax, "mel settings: need 0 <= fmin < fmax, got fmin ",
              s.fmin, ", fmax ", s.fmax);
  MMGEN_CHECK(s.fmax <= s.sampling_rate / 2.0, "mel settings: fmax ", s.fmax,
              " is above the Nyquist frequency ", s.sampling_rate / 2.0);
  MMGEN_CHECK(s.log_clamp > 0, "mel settings: log_clamp must be positive, got ", s.log_clamp);
  MMGEN_CHECK(s.magnitude_eps >= 0, "mel settings: magnitude_eps must be non-negative, got ",
              s.magnitude_eps);
}

double hz_to_mel_slaney(double hz) {
  if (hz >= kLogStartHz) return kLogStartMel + std::log(hz / kLogStartHz) / kLogStep;
  return hz * kMelsPerHz;
}

double mel_to_hz_slaney(double mel) {
  if (mel >= kLogStartMel) return kLogStartHz * std::exp(kLogStep * (mel - kLogStartMel));
  return mel / kMelsPerHz;
}

Tensor mel_filterbank(int sampling_rate, int n_fft, int n_mels, double fmin, double fmax) {
  MMGEN_CHECK(sampling_rate >= 1 && n_fft >= 2 && n_mels >= 1,
              "mel_filterbank: need sampling_rate >= 1, n_fft >= 2, n_mels >= 1, got ",
              sampling_rate, ", ", n_fft, ", ", n_mels);
  MMGEN_CHECK(fmin >= 0 && fmin < fmax, "mel_filterbank: need 0 <= fmin < fmax, got fmin ", fmin,
              ", fmax ", fmax);
  const int bins = n_fft / 2 + 1;
  // n_mels + 2 edges, evenly spaced in mels (np.linspace).
  std::vector<double> edges(static_cast<size_t>(n_mels) + 2);
  const double mel_lo = hz_to_mel_slaney(fmin);
  const double mel_hi = hz_to_mel_slaney(fmax);
  const int last = n_mels + 1;
  for (int i = 0; i <= last; ++i) {
    const double mel = i == last ? mel_hi : mel_lo + (mel_hi - mel_lo) * i / last;
    edges[static_cast<size_t>(i)] = mel_to_hz_slaney(mel);
  }
  Tensor bank = Tensor::zeros({n_mels, bins}, DType::kF32);
  float* out = bank.typed_data<float>();
  for (int m = 0; m < n_mels; ++m) {
    const double lower = edges[m], centre = edges[m + 1], upper = edges[m + 2];
    const double norm = 2.0 / (upper - lower);
    for (int k = 0; k < bins; ++k) {
      const double freq = static_cast<double>(k) * sampling_rate / n_fft;
      const double rising = (freq - lower) / (centre - lower);
      const double falling = (upper - freq) / (upper - centre);
      // librosa keeps the unnormalised triangle in f32 before scaling it.
      const auto weight = static_cast<float>(std::max(0.0, std::min(rising, falling)));
      out[static_cast<size_t>(m) * bins + k] = static_cast<float>(weight * norm);
    }
  }
  return bank;
}

std::vector<double> hann_window(int size) {
  MMGEN_CHECK(size >= 1, "hann_window: size must be positive, got ", size);
  std::vector<double> window(static_cast<size_t>(size));
  for (int n = 0; n < size; ++n) {
    window[n] = 0.5 - 0.5 * std::cos(2.0 * std::numbers::pi * n / size);
  }
  return window;
}

int64_t mel_frame_count(int64_t samples, const MelSettings& settings) {
  const int64_t length = padded_length(samples, settings);
  if (length < settings.n_fft) return 0;
  return (length - settings.n_fft) / settings.hop_size + 1;
}

MelSpectrogram::MelSpectrogram(const MelSettings& settings) : settings_(settings) {
  validate(settings_);
  filterbank_ = mel_filterbank(settings_.sampling_rate, settings_.n_fft, settings_.num_mels,
                               settings_.fmin, settings_.fmax);
  // torch.stft centres a shorter window inside the n_fft frame.
  window_.assign(static_cast<size_t>(settings_.n_fft), 0.0);
  const auto hann = hann_window(settings_.win_size);
  const int offset = (settings_.n_fft - settings_.win_size) / 2;
  std::copy(hann.begin(), hann.end(), window_.begin() + offset);
}

Tensor MelSpectrogram::operator()(const Tensor& audio) const {
  MMGEN_CHECK(audio.ndim() == 1 || audio.ndim() == 2, "mel_spectrogram: audio must be ",
              "[samples] or [batch, samples], got ", audio.str());
  const Tensor batched = audio.ndim() == 1 ? audio.unsqueeze(0) : audio;
  const std::vector<float> samples_f32 = batched.cpu().to_f32_vector();
  const int64_t batch = batched.dim(0);
  const int64_t samples = batched.dim(1);
  const MelSettings& s = settings_;
  const int64_t frames = mel_frame_count(samples, s);
  MMGEN_CHECK(frames >= 1, "mel_spectrogram: ", samples, " samples give no frame of ", s.n_fft,
              " points");

  const Fft fft(s.n_fft);
  const int bins = s.n_fft / 2 + 1;
  const std::vector<float> bank = filterbank_.to_f32_vector();
  Tensor mel = Tensor::empty({batch, s.num_mels, frames}, DType::kF32);
  float* out = mel.typed_data<float>();
  std::vector<double> frame(static_cast<size_t>(s.n_fft));
  std::vector<double> magnitude(static_cast<size_t>(bins));
  for (int64_t b = 0; b < batch; ++b) {
    std::vector<double> signal(samples_f32.begin() + b * samples,
                               samples_f32.begin() + (b + 1) * samples);
    signal = reflect_pad(signal, (s.n_fft - s.hop_size) / 2);
    if (s.center) signal = reflect_pad(signal, s.n_fft / 2);
    for (int64_t t = 0; t < frames; ++t) {
      const double* start = signal.data() + t * s.hop_size;
      for (int n = 0; n < s.n_fft; ++n) frame[n] = start[n] * window_[n];
      const auto spectrum = fft.forward_real(frame.data());
      for (int k = 0; k < bins; ++k)
        magnitude[k] = std::sqrt(std::norm(spectrum[k]) + s.magnitude_eps);
      for (int m = 0; m < s.num_mels; ++m) {
        const float* row = bank.data() + static_cast<size_t>(m) * bins;
        double sum = 0.0;
        for (int k = 0; k < bins; ++k) sum += row[k] * magnitude[k];
        out[(b * s.num_mels + m) * frames + t] =
            static_cast<float>(std::log(std::max(sum, s.log_clamp)));
      }
    }
  }
  return mel;
}

Tensor mel_spectrogram(const Tensor& audio, const MelSettings& settings) {
  return MelSpectrogram(settings)(audio);
}

}  // namespace mmgen::audio
