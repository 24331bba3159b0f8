// Diffusion samplers over a denoiser callback: the k-diffusion samplers (Euler,
// Euler ancestral, DPM++ 2M, LCM) that step through a sigma sequence, and ldm's
// DDIM (eta 0) over an eps-prediction callback. Classifier-free guidance is the
// caller's business (inside the callback). docs/txt2img.md.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "core/tensor.h"

namespace mmgen::diffusion {

// k-diffusion scale: x = x0 + sigma * noise -> the denoised estimate of x0.
using Denoiser = std::function<Tensor(const Tensor& x, float sigma)>;
// ldm scale: x_t = sqrt(a_t) x0 + sqrt(1 - a_t) eps, timestep t -> predicted eps.
using EpsModel = std::function<Tensor(const Tensor& x, float t)>;
// Fresh standard-normal noise of `shape` for ancestral step `step` (0-based).
using NoiseSource = std::function<Tensor(int step, const Shape& shape)>;

// What a sampler reports at each step, after the model ran and before the update.
struct SamplerStep {
  int index = 0;                     // 0-based
  int total = 0;                     // steps in the run
  float sigma_or_t = 0;              // sigma (k-diffusion samplers) or the timestep (DDIM)
  const Tensor* x = nullptr;         // the state the step starts from
  const Tensor* denoised = nullptr;  // the model's x0 estimate at this step
};
// Returning false cancels: the sampler throws Error("sampling: cancelled").
using StepObserver = std::function<bool(const SamplerStep&)>;

// Philox noise: step i gets kernels::random_normal(shape, seed, stream_base + i).
NoiseSource philox_noise(uint64_t seed, uint64_t stream_base = 1);

// sample_euler with s_churn = 0: x += (x - denoised) / sigma * (sigma_next - sigma).
Tensor sample_euler(const Denoiser& denoise, Tensor x, const std::vector<float>& sigmas,
                    const StepObserver& observer = {});
// sample_euler_ancestral: an Euler step to sigma_down, then noise * sigma_up.
Tensor sample_euler_ancestral(const Denoiser& denoise, Tensor x, const std::vector<float>& sigmas,
                              const NoiseSource& noise, const StepObserver& observer = {},
                              float eta = 1.0f);
// sample_dpmpp_2m: second-order multistep in log sigma, first order on the first
// and the final (sigma_next = 0) step.
Tensor sample_dpmpp_2m(const Denoiser& denoise, Tensor x, const std::vector<float>& sigmas,
                       const StepObserver& observer = {});
// sample_lcm: x = denoised, re-noised to sigma_next with fresh noise.
Tensor sample_lcm(const Denoiser& denoise, Tensor x, const std::vector<float>& sigmas,
                  const NoiseSource& noise, const StepObserver& observer = {});

// ldm DDIMSampler with eta = 0. `timesteps` ascending (ddim_uniform_timesteps, or a
// prefix of it for img2img); the run goes from the last to the first. alphas_cumprod
// is the full training schedule; the step after timesteps[0] uses alphas_cumprod[0]
// as ldm does. x is x_T in ldm scale (unit noise at the start).
Tensor sample_ddim(const EpsModel& eps_model, Tensor x, const std::vector<int>& timesteps,
                   const std::vector<float>& alphas_cumprod, const StepObserver& observer = {});

enum class SamplerKind { kEuler, kEulerAncestral, kDdim, kDpmpp2m, kDpmpp2mKarras, kLcm };

// Accepts the web UI names ("Euler a", "DPM++ 2M Karras") and the short ones
// (euler, euler_a, ddim, dpm++2m, dpm++2m_karras, lcm), in any case, with spaces,
// '_' and '-' ignored. Throws Error listing the choices.
SamplerKind parse_sampler(std::string_view name);
// The web UI's name: "Euler", "Euler a", "DDIM", "DPM++ 2M", "DPM++ 2M Karras", "LCM".
std::string sampler_name(SamplerKind kind);
// Short names for help texts: "euler, euler_a, ddim, dpm++2m, dpm++2m_karras, lcm".
std::string sampler_choices();

}  // namespace mmgen::diffusion
