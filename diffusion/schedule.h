// The DDPM noise schedule of Stable Diffusion 1.x and its k-diffusion view:
// alphas_cumprod over the 1000 training timesteps, sigma_t = sqrt((1 - a_t) / a_t),
// conversions between sigma and (fractional) timestep by interpolating log sigma,
// and the sigma sequences the samplers step through. docs/txt2img.md.
#pragma once

#include <cstdint>
#include <vector>

#include "core/model_file.h"

namespace mmgen::diffusion {

class NoiseSchedule {
 public:
  // ldm's "linear" schedule (a scaled linear one):
  // betas = linspace(sqrt(linear_start), sqrt(linear_end), timesteps)^2 in f64,
  // alphas_cumprod = cumprod(1 - betas), kept as f32 as the checkpoints store it.
  static NoiseSchedule scaled_linear(int timesteps = 1000, double linear_start = 0.00085,
                                     double linear_end = 0.012);
  // From alphas_cumprod as given (f32 values, increasing noise). Throws Error for
  // fewer than 2 values or values outside (0, 1).
  static NoiseSchedule from_alphas_cumprod(std::vector<float> alphas_cumprod);
  // From a checkpoint's buffers: "alphas_cumprod" when present, else "betas",
  // else the SD1.x defaults (0.00085, 0.012, 1000 steps).
  static NoiseSchedule from_checkpoint(const ModelFile& file);

  int timesteps() const { return static_cast<int>(alphas_cumprod_.size()); }
  const std::vector<float>& alphas_cumprod() const { return alphas_cumprod_; }
  // sigma_t per timestep (f32, increasing).
  const std::vector<float>& sigmas() const { return sigmas_; }
  float sigma_min() const { return sigmas_.front(); }
  float sigma_max() const { return sigmas_.back(); }

  // k-diffusion's DiscreteSchedule.sigma_to_t (quantize=False): the fractional
  // timestep whose interpolated log sigma equals log(sigma), clamped to [0, T-1].
  double sigma_to_t(double sigma) const;
  // DiscreteSchedule.t_to_sigma: exp of log sigma interpolated linearly in t.
  double t_to_sigma(double t) const;

  // CompVisDenoiser.get_sigmas(n): n sigmas at t = linspace(T-1, 0, n), then 0.
  std::vector<float> uniform_sigmas(int n) const;
  // Karras et al. (2022) sigmas between this schedule's sigma_min and sigma_max, then 0.
  std::vector<float> karras_sigmas(int n, double rho = 7.0) const;

 private:
  std::vector<float> alphas_cumprod_;
  std::vector<float> sigmas_;
  std::vector<float> log_sigmas_;
};

// (sigma_max^(1/rho) + i/(n-1) * (sigma_min^(1/rho) - sigma_max^(1/rho)))^rho for
// i = 0..n-1, then 0 (k-diffusion get_sigmas_karras). n >= 1.
std::vector<float> karras_sigmas(int n, double sigma_min, double sigma_max, double rho = 7.0);

// ldm DDIMSampler's "uniform" timesteps for `steps` steps over `timesteps` training
// steps: range(0, T, T / steps) + 1 below T, ascending (run from the last to the
// first). Like ldm this can hold a few more entries than `steps` when T / steps
// is not an integer (7 steps give 8).
std::vector<int> ddim_uniform_timesteps(int steps, int timesteps = 1000);

}  // namespace mmgen::diffusion
