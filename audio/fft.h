// A complex discrete Fourier transform of any size, in double precision: an
// iterative radix-2 transform for powers of two, Bluestein's chirp-z algorithm
// (built on the radix-2 one) for every other size. The mel front end uses it for
// its short-time spectra; it has no dependencies beyond the standard library.
#pragma once

#include <complex>
#include <memory>
#include <vector>

namespace mmgen::audio {

class Fft {
 public:
  // A plan for transforms of `size` points (size >= 1).
  explicit Fft(int size);
  ~Fft();
  Fft(Fft&&) noexcept;
  Fft& operator=(Fft&&) noexcept;

  int size() const { return size_; }

  // X[k] = sum_n x[n] exp(-2 pi i k n / size), in place on `size()` values.
  void forward(std::complex<double>* data) const;
  // The forward transform of real input: the size / 2 + 1 non-negative frequencies.
  std::vector<std::complex<double>> forward_real(const double* input) const;

 private:
  struct Bluestein;
  void radix2(std::complex<double>* data) const;

  int size_ = 0;
  std::vector<int> bit_reverse_;                // radix-2 only
  std::vector<std::complex<double>> twiddles_;  // exp(-2 pi i k / size), k < size / 2
  std::unique_ptr<Bluestein> bluestein_;        // sizes that are not powers of two
};

}  // namespace mmgen::audio
