// The HiFi-GAN mel front end (docs/audio.md): the Slaney-style mel filterbank of
// librosa.filters.mel(htk=False, norm='slaney') and the log-mel spectrogram of
// hifi-gan's meldataset.mel_spectrogram (reflect padding by (n_fft - hop) / 2, a
// periodic Hann window, magnitude sqrt(re^2 + im^2 + 1e-9), log(max(x, 1e-5))).
// Everything is computed in double precision and returned as f32.
#pragma once

#include <vector>

#include "core/tensor.h"

namespace mmgen::audio {

struct MelSettings {
  int n_fft = 1024;
  int num_mels = 80;
  int sampling_rate = 22050;
  int hop_size = 256;
  int win_size = 1024;
  double fmin = 0.0;
  double fmax = 8000.0;  // <= sampling_rate / 2
  // meldataset's `center`: torch.stft's own n_fft / 2 reflect padding on top of
  // the (n_fft - hop) / 2 one. HiFi-GAN trains and infers with false.
  bool center = false;
  double magnitude_eps = 1e-9;  // added to re^2 + im^2 before the square root
  double log_clamp = 1e-5;      // log(max(mel, log_clamp))
};

// Throws Error naming the field when a setting is out of range.
void validate(const MelSettings& settings);

// Slaney's mel scale as librosa has it: linear below 1 kHz (3 mels per 200 Hz),
// logarithmic above (27 mels per factor 6.4).
double hz_to_mel_slaney(double hz);
double mel_to_hz_slaney(double mel);

// librosa.filters.mel(sr, n_fft, n_mels, fmin, fmax, htk=False, norm='slaney'):
// f32 [n_mels, n_fft / 2 + 1], triangles between n_mels + 2 mel-spaced edges,
// each scaled by 2 / (upper edge - lower edge) in Hz.
Tensor mel_filterbank(int sampling_rate, int n_fft, int n_mels, double fmin, double fmax);

// torch.hann_window(size) (periodic): 0.5 - 0.5 cos(2 pi n / size).
std::vector<double> hann_window(int size);

// Number of STFT frames for `samples` input samples.
int64_t mel_frame_count(int64_t samples, const MelSettings& settings);

// Log-mel spectrogram of audio in [-1, 1]: [samples] or [N, samples] ->
// f32 [N, num_mels, frames] ([1, ...] for 1-D input).
class MelSpectrogram {
 public:
  explicit MelSpectrogram(const MelSettings& settings);

  const MelSettings& settings() const { return settings_; }
  const Tensor& filterbank() const { return filterbank_; }

  Tensor operator()(const Tensor& audio) const;

 private:
  MelSettings settings_;
  Tensor filterbank_;           // f32 [num_mels, n_fft / 2 + 1]
  std::vector<double> window_;  // Hann of win_size, centred in n_fft
};

// One-shot form of MelSpectrogram.
Tensor mel_spectrogram(const Tensor& audio, const MelSettings& settings);

}  // namespace mmgen::audio
