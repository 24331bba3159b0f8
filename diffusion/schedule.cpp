#include "diffusion/schedule.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"

namespace mmgen::diffusion {

NoiseSchedule NoiseSchedule::scaled_linear(int timesteps, double linear_start, double linear_end) {
  MMGEN_CHECK(timesteps >= 2, "noise schedule: need at least 2 timesteps, got ", timesteps);
  MMGEN_CHECK(linear_start > 0 && linear_end < 1 && linear_start <= linear_end,
              "noise schedule: expected 0 < linear_start <= linear_end < 1, got ", linear_start,
              ", ", linear_end);
  const double a = std::sqrt(linear_start), b = std::sqrt(linear_end);
  std::vector<float> alphas_cumprod(timesteps);
  double product = 1.0;
  for (int i = 0; i < timesteps; ++i) {
    const double root = a + (b - a) * i / (timesteps - 1);
    product *= 1.0 - root * root;
    alphas_cumprod[i] = static_cast<float>(product);
  }
  return from_alphas_cumprod(std::move(alphas_cumprod));
}

NoiseSchedule NoiseSchedule::from_alphas_cumprod(std::vector<float> alphas_cumprod) {
  MMGEN_CHECK(alphas_cumprod.size() >= 2, "noise schedule: need at least 2 alphas_cumprod, got ",
              alphas_cumprod.size());
  NoiseSchedule s;
  for (size_t i = 0; i < alphas_cumprod.size(); ++i) {
    const float a = alphas_cumprod[i];
    MMGEN_CHECK(a > 0.0f && a < 1.0f, "noise schedule: alphas_cumprod[", i, "] = ", a,
                " is outside (0, 1)");
    // f32 arithmetic, as the reference computes it from the f32 buffer.
    const float sigma = std::sqrt((1.0f - a) / a);
    s.sigmas_.push_back(sigma);
    s.log_sigmas_.push_back(std::log(sigma));
  }
  for (size_t i = 1; i < s.sigmas_.size(); ++i)
    MMGEN_CHECK(s.sigmas_[i] >= s.sigmas_[i - 1],
                "noise schedule: alphas_cumprod must decrease; index ", i, " does not");
  s.alphas_cumprod_ = std::move(alphas_cumprod);
  return s;
}

NoiseSchedule NoiseSchedule::from_checkpoint(const ModelFile& file) {
  if (file.contains("alphas_cumprod"))
    return from_alphas_cumprod(file.tensor("alphas_cumprod").to_f32_vector());
  if (file.contains("betas")) {
    const std::vector<float> betas = file.tensor("betas").to_f32_vector();
    std::vector<float> alphas_cumprod(betas.size());
    double product = 1.0;
    for (size_t i = 0; i < betas.size(); ++i) {
      product *= 1.0 - static_cast<double>(betas[i]);
      alphas_cumprod[i] = static_cast<float>(product);
    }
    return from_alphas_cumprod(std::move(alphas_cumprod));
  }
  return scaled_linear();
}

double NoiseSchedule::sigma_to_t(double sigma) const {
  MMGEN_CHECK(sigma > 0 && std::isfinite(sigma), "sigma_to_t: sigma must be positive, got ", sigma);
  const double log_sigma = std::log(sigma);
  const int n = static_cast<int>(log_sigmas_.size());
  // The last index whose log sigma is <= log_sigma (0 when none), at most n - 2.
  int low = 0;
  for (int i = 0; i < n; ++i)
    if (log_sigma - log_sigmas_[i] >= 0) low = i;
  low = std::min(low, n - 2);
  const double lo = log_sigmas_[low], hi = log_sigmas_[low + 1];
  const double w = std::clamp((lo - log_sigma) / (lo - hi), 0.0, 1.0);
  return (1.0 - w) * low + w * (low + 1);
}

double NoiseSchedule::t_to_sigma(double t) const {
  const double clamped = std::clamp(t, 0.0, static_cast<double>(log_sigmas_.size() - 1));
  const int low = static_cast<int>(std::floor(clamped));
  const int high = static_cast<int>(std::ceil(clamped));
  const double w = clamped - low;
  return std::exp((1.0 - w) * log_sigmas_[low] + w * log_sigmas_[high]);
}

std::vector<float> NoiseSchedule::uniform_sigmas(int n) const {
  MMGEN_CHECK(n >= 1, "uniform_sigmas: need at least 1 step, got ", n);
  const double t_max = timesteps() - 1;
  std::vector<float> out;
  for (int i = 0; i < n; ++i) {
    const double t = n == 1 ? t_max : t_max - t_max * i / (n - 1);
    out.push_back(static_cast<float>(t_to_sigma(t)));
  }
  out.push_back(0.0f);
  return out;
}

std::vector<float> NoiseSchedule::karras_sigmas(int n, double rho) const {
  return diffusion::karras_sigmas(n, sigma_min(), sigma_max(), rho);
}

std::vector<float> karras_sigmas(int n, double sigma_min, double sigma_max, double rho) {
  MMGEN_CHECK(n >= 1, "karras_sigmas: need at least 1 step, got ", n);
  MMGEN_CHECK(sigma_min > 0 && sigma_max >= sigma_min && rho > 0,
              "karras_sigmas: expected 0 < sigma_min <= sigma_max and rho > 0");
  const double min_inv = std::pow(sigma_min, 1.0 / rho), max_inv = std::pow(sigma_max, 1.0 / rho);
  std::vector<float> out;
  for (int i = 0; i < n; ++i) {
    const double ramp = n == 1 ? 0.0 : static_cast<double>(i) / (n - 1);
    out.push_back(static_cast<float>(std::pow(max_inv + ramp * (min_inv - max_inv), rho)));
  }
  out.push_back(0.0f);
  return out;
}

std::vector<int> ddim_uniform_timesteps(int steps, int timesteps) {
  MMGEN_CHECK(steps >= 1 && steps <= timesteps, "DDIM: steps must be in [1, ", timesteps, "], got ",
              steps);
  const int stride = timesteps / steps;
  std::vector<int> out;
  // As ldm's make_ddim_timesteps; a step past the last timestep (T / steps not
  // an integer) is dropped rather than read out of range.
  for (int t = 0; t + 1 < timesteps; t += stride) out.push_back(t + 1);
  return out;
}

}  // namespace mmgen::diffusion
