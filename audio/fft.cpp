#include "audio/fft.h"

#include <cmath>
#include <numbers>

#include "core/error.h"

namespace mmgen::audio {

namespace {

bool is_power_of_two(int n) { return n > 0 && (n & (n - 1)) == 0; }

// exp(-i pi k^2 / n), with k^2 reduced modulo 2n first so that large k keep
// their precision.
std::complex<double> chirp(int64_t k, int n) {
  const int64_t k2 = (k * k) % (2 * static_cast<int64_t>(n));
  const double angle = -std::numbers::pi * static_cast<double>(k2) / n;
  return {std::cos(angle), std::sin(angle)};
}

}  // namespace

// Bluestein: with c[n] = exp(-i pi n^2 / size), exp(-2 pi i k n / size) =
// c[n] c[k] conj(c[k - n]), so X[k] = c[k] sum_n (x[n] c[n]) conj(c[k - n]): a
// convolution, evaluated by a power-of-two FFT of length >= 2 size - 1.
struct Fft::Bluestein {
  std::unique_ptr<Fft> inner;
  std::vector<std::complex<double>> chirp;            // c[n] = exp(-i pi n^2 / size)
  std::vector<std::complex<double>> kernel_spectrum;  // FFT of conj(c) wrapped around
};

Fft::Fft(int size) : size_(size) {
  MMGEN_CHECK(size >= 1, "Fft: size must be at least 1, got ", size);
  if (is_power_of_two(size)) {
    int bits = 0;
    while ((1 << bits) < size) ++bits;
    bit_reverse_.resize(size);
    for (int i = 0; i < size; ++i) {
      int r = 0;
      for (int b = 0; b < bits; ++b) r |= ((i >> b) & 1) << (bits - 1 - b);
      bit_reverse_[i] = r;
    }
    twiddles_.resize(size / 2);
    for (int k = 0; k < size / 2; ++k) {
      const double angle = -2.0 * std::numbers::pi * k / size;
      twiddles_[k] = {std::cos(angle), std::sin(angle)};
    }
    return;
  }
  int padded = 1;
  while (padded < 2 * size - 1) padded <<= 1;
  bluestein_ = std::make_unique<Bluestein>();
  bluestein_->inner = std::make_unique<Fft>(padded);
  bluestein_->chirp.resize(size);
  for (int n = 0; n < size; ++n) bluestein_->chirp[n] = chirp(n, size);
  auto& kernel = bluestein_->kernel_spectrum;
  kernel.assign(padded, {0.0, 0.0});
  kernel[0] = std::conj(bluestein_->chirp[0]);
  for (int n = 1; n < size; ++n) {
    kernel[n] = kernel[padded - n] = std::conj(bluestein_->chirp[n]);
  }
  bluestein_->inner->forward(kernel.data());
}

Fft::~Fft() = default;
Fft::Fft(Fft&&) noexcept = default;
Fft& Fft::operator=(Fft&&) noexcept = default;

void Fft::radix2(std::complex<double>* data) const {
  const int n = size_;
  for (int i = 0; i < n; ++i) {
    if (i < bit_reverse_[i]) std::swap(data[i], data[bit_reverse_[i]]);
  }
  for (int len = 2; len <= n; len <<= 1) {
    const int half = len / 2;
    const int step = n / len;
    for (int start = 0; start < n; start += len) {
      for (int j = 0; j < half; ++j) {
        const std::complex<double> t = twiddles_[j * step] * data[start + j + half];
        data[start + j + half] = data[start + j] - t;
        data[start + j] += t;
      }
    }
  }
}

void Fft::forward(std::complex<double>* data) const {
  if (!bluestein_) {
    radix2(data);
    return;
  }
  const Fft& inner = *bluestein_->inner;
  const int padded = inner.size();
  std::vector<std::complex<double>> work(padded, {0.0, 0.0});
  for (int n = 0; n < size_; ++n) work[n] = data[n] * bluestein_->chirp[n];
  inner.forward(work.data());
  for (int k = 0; k < padded; ++k) work[k] *= bluestein_->kernel_spectrum[k];
  // The inverse transform as conj(FFT(conj(.))) / padded.
  for (auto& value : work) value = std::conj(value);
  inner.forward(work.data());
  const double inv = 1.0 / padded;
  for (int k = 0; k < size_; ++k) data[k] = std::conj(work[k]) * inv * bluestein_->chirp[k];
}

std::vector<std::complex<double>> Fft::forward_real(const double* input) const {
  std::vector<std::complex<double>> data(input, input + size_);
  forward(data.data());
  data.resize(size_ / 2 + 1);
  return data;
}

}  // namespace mmgen::audio
