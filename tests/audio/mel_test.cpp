// The mel front end: the FFT against a direct DFT, the Slaney filterbank against
// hand-computed values, the spectrogram's framing and a pure tone's mel band,
// and the settings read from a HiFi-GAN config.json.
#include "audio/mel.h"

#include <catch2/catch.hpp>
#include <cmath>
#include <complex>
#include <numbers>
#include <random>

#include "audio/fft.h"
#include "audio/hifigan_config.h"
#include "core/error.h"
#include "kernels/ops.h"
#include "tests/support/test_support.h"

namespace mmgen::audio {
namespace {

using Catch::Matchers::Contains;

std::vector<std::complex<double>> direct_dft(const std::vector<std::complex<double>>& x) {
  const auto n = static_cast<int>(x.size());
  std::vector<std::complex<double>> out(x.size());
  for (int k = 0; k < n; ++k) {
    std::complex<double> sum = 0;
    for (int t = 0; t < n; ++t) {
      const double angle = -2.0 * std::numbers::pi * static_cast<double>((int64_t{k} * t) % n) / n;
      sum += x[t] * std::complex<double>(std::cos(angle), std::sin(angle));
    }
    out[k] = sum;
  }
  return out;
}

TEST_CASE("FFT matches a direct DFT for powers of two and other sizes", "[audio][mel]") {
  std::mt19937_64 rng(7);
  std::uniform_real_distribution<double> dist(-1.0, 1.0);
  for (int size : {1, 2, 8, 64, 1024, 3, 7, 12, 100, 97, 400}) {
    CAPTURE(size);
    std::vector<std::complex<double>> x(size);
    for (auto& v : x) v = {dist(rng), dist(rng)};
    const auto expected = direct_dft(x);
    auto actual = x;
    Fft(size).forward(actual.data());
    double worst = 0;
    for (int k = 0; k < size; ++k) worst = std::max(worst, std::abs(actual[k] - expected[k]));
    CHECK(worst < 1e-9 * size);

    std::vector<double> real(size);
    for (int i = 0; i < size; ++i) real[i] = x[i].real();
    std::vector<std::complex<double>> as_complex(real.begin(), real.end());
    const auto real_expected = direct_dft(as_complex);
    const auto half = Fft(size).forward_real(real.data());
    REQUIRE(half.size() == static_cast<size_t>(size / 2 + 1));
    for (int k = 0; k <= size / 2; ++k) CHECK(std::abs(half[k] - real_expected[k]) < 1e-9 * size);
  }
  CHECK_THROWS_AS(Fft(0), Error);
}

TEST_CASE("Slaney mel scale is linear below 1 kHz and logarithmic above", "[audio][mel]") {
  CHECK(hz_to_mel_slaney(0.0) == 0.0);
  CHECK(hz_to_mel_slaney(200.0) == Approx(3.0));
  CHECK(hz_to_mel_slaney(1000.0) == Approx(15.0));
  // 27 mels per factor 6.4 above 1 kHz.
  CHECK(hz_to_mel_slaney(6400.0) == Approx(42.0));
  CHECK(mel_to_hz_slaney(42.0) == Approx(6400.0));
  for (double hz : {10.0, 440.0, 999.0, 1000.0, 3000.0, 8000.0, 11025.0}) {
    CHECK(mel_to_hz_slaney(hz_to_mel_slaney(hz)) == Approx(hz).epsilon(1e-12));
  }
}

TEST_CASE("mel filterbank values match a hand computation", "[audio][mel]") {
  // 0..1000 Hz is the linear part of the scale: 3 bands give edges at 0, 250,
  // 500, 750 and 1000 Hz; 8000 Hz / 64 points puts FFT bins 125 Hz apart. Each
  // triangle spans 500 Hz, so its Slaney weight is 2 / 500 = 0.004 at the apex.
  const Tensor bank = mel_filterbank(8000, 64, 3, 0.0, 1000.0);
  REQUIRE(bank.shape() == Shape{3, 33});
  const auto v = bank.to_f32_vector();
  auto at = [&](int m, int k) { return v[static_cast<size_t>(m) * 33 + k]; };
  for (int m = 0; m < 3; ++m) {
    CAPTURE(m);
    const int apex = 2 * (m + 1);  // 250 (m + 1) Hz
    CHECK(at(m, apex) == Approx(0.004f).epsilon(1e-6));
    CHECK(at(m, apex - 1) == Approx(0.002f).epsilon(1e-6));
    CHECK(at(m, apex + 1) == Approx(0.002f).epsilon(1e-6));
    for (int k = 0; k < 33; ++k) {
      if (std::abs(k - apex) > 1) CHECK(at(m, k) == 0.0f);
    }
  }
}

TEST_CASE("HiFi-GAN's mel filterbank has the triangle shape and Slaney normalisation",
          "[audio][mel]") {
  const int sr = 22050, n_fft = 1024, n_mels = 80;
  const Tensor bank = mel_filterbank(sr, n_fft, n_mels, 0.0, 8000.0);
  REQUIRE(bank.shape() == Shape{80, 513});
  const auto v = bank.to_f32_vector();
  const double top_mel = hz_to_mel_slaney(8000.0);
  for (int m = 0; m < n_mels; m += 7) {
    CAPTURE(m);
    const double lower = mel_to_hz_slaney(top_mel * m / (n_mels + 1));
    const double centre = mel_to_hz_slaney(top_mel * (m + 1) / (n_mels + 1));
    const double upper = mel_to_hz_slaney(top_mel * (m + 2) / (n_mels + 1));
    // The peak sits on the bin nearest the centre, never above 2 / bandwidth.
    int peak = 0;
    for (int k = 1; k < 513; ++k) {
      if (v[m * 513 + k] > v[m * 513 + peak]) peak = k;
    }
    const double bin_hz = static_cast<double>(sr) / n_fft;
    CHECK(std::abs(peak * bin_hz - centre) <= bin_hz);
    CHECK(v[m * 513 + peak] <= 2.0 / (upper - lower) * (1 + 1e-6));
    // Every bin by the triangle formula.
    for (int k = 0; k < 513; ++k) {
      const double f = k * bin_hz;
      const double tri =
          std::max(0.0, std::min((f - lower) / (centre - lower), (upper - f) / (upper - centre)));
      CHECK(v[m * 513 + k] == Approx(tri * 2.0 / (upper - lower)).margin(1e-8));
    }
  }
  CHECK_THROWS_WITH(mel_filterbank(sr, n_fft, n_mels, 8000.0, 100.0), Contains("fmin < fmax"));
}

TEST_CASE("hann window is periodic like torch.hann_window", "[audio][mel]") {
  const auto w = hann_window(8);
  const double expected[] = {0.0, 0.1464466, 0.5, 0.8535534, 1.0, 0.8535534, 0.5, 0.1464466};
  for (int i = 0; i < 8; ++i) CHECK(w[i] == Approx(expected[i]).margin(1e-7));
}

TEST_CASE("mel spectrogram framing follows meldataset's padding", "[audio][mel]") {
  MelSettings s;  // HiFi-GAN's defaults: n_fft 1024, hop 256, center false
  // (n_fft - hop) / 2 = 384 samples of reflection each side: 12800 samples give 50 frames.
  CHECK(mel_frame_count(12800, s) == 50);
  CHECK(mel_frame_count(256, s) == 1);
  const Tensor mel = mel_spectrogram(test::random_tensor({2, 1000}, 3, -0.5f, 0.5f), s);
  CHECK(mel.shape() == Shape{2, 80, mel_frame_count(1000, s)});
  const Tensor mono = mel_spectrogram(test::random_tensor({1000}, 3, -0.5f, 0.5f), s);
  // 1000 + 2 * 384 = 1768 samples hold (1768 - 1024) / 256 + 1 = 3 frames.
  CHECK(mono.shape() == Shape{1, 80, 3});

  // Silence sits at the clamp: log(max(sum of filter * sqrt(1e-9), 1e-5)) = log(1e-5).
  const Tensor silent = mel_spectrogram(Tensor::zeros({1, 2048}), s);
  for (float value : silent.to_f32_vector()) CHECK(value == Approx(std::log(1e-5)).margin(1e-6));

  // Reflection needs more samples than the padding.
  CHECK_THROWS_WITH(mel_spectrogram(Tensor::zeros({1, 300}), s), Contains("reflect padding"));
  MelSettings bad = s;
  bad.fmax = 12000.0;
  CHECK_THROWS_WITH(MelSpectrogram(bad), Contains("Nyquist"));
}

TEST_CASE("a pure tone peaks in the mel band around its frequency", "[audio][mel]") {
  MelSettings s;
  const double tone_hz = 1000.0;
  std::vector<float> samples(8192);
  for (size_t i = 0; i < samples.size(); ++i) {
    samples[i] = 0.5f * static_cast<float>(std::sin(2.0 * std::numbers::pi * tone_hz * i / 22050));
  }
  const Tensor mel = mel_spectrogram(Tensor::from_vector(samples, {1, 8192}), s);
  const int64_t frames = mel.dim(2);
  // Bands of equal width below 1 kHz: the tone's band is the one centred
  // nearest to 15 mels, edge index round(15 / step) with step = top / 81.
  const double step = hz_to_mel_slaney(8000.0) / 81.0;
  const int expected = static_cast<int>(std::lround(hz_to_mel_slaney(tone_hz) / step)) - 1;
  CHECK(expected == 26);
  const Tensor peaks = kernels::argmax(mel.permute({0, 2, 1}).contiguous());
  for (int64_t t = 0; t < frames; ++t) CHECK(peaks.to_i64_vector()[t] == expected);
}

TEST_CASE("mel settings come from a HiFi-GAN config.json", "[audio][mel]") {
  const nlohmann::json config = {{"n_fft", 1024},    {"num_mels", 80},         {"hop_size", 256},
                                 {"win_size", 1024}, {"sampling_rate", 22050}, {"fmin", 0},
                                 {"fmax", nullptr}};
  const MelSettings s = mel_settings_from_json(config, "config.json");
  CHECK(s.fmax == 11025.0);
  CHECK(s.n_fft == 1024);
  CHECK(s.win_size == 1024);
  nlohmann::json missing = config;
  missing.erase("hop_size");
  CHECK_THROWS_WITH(mel_settings_from_json(missing, "config.json"),
                    Contains("config.json: field 'hop_size' is missing"));
}

}  // namespace
}  // namespace mmgen::audio
