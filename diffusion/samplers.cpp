#include "diffusion/samplers.h"

#include <cctype>
#include <cmath>

#include "core/error.h"
#include "kernels/ops.h"
#include "kernels/random.h"

namespace mmgen::diffusion {
namespace {

namespace k = mmgen::kernels;

void check_sigmas(const std::vector<float>& sigmas, const char* sampler) {
  MMGEN_CHECK(sigmas.size() >= 2, sampler, ": need at least 2 sigmas (one step), got ",
              sigmas.size());
  for (size_t i = 0; i + 1 < sigmas.size(); ++i)
    MMGEN_CHECK(sigmas[i] > 0 && sigmas[i + 1] >= 0 && sigmas[i + 1] < sigmas[i], sampler,
                ": sigmas must decrease from positive values to >= 0; index ", i + 1, " does not");
}

void report(const StepObserver& observer, int index, int total, float sigma_or_t, const Tensor& x,
            const Tensor& denoised) {
  if (!observer) return;
  SamplerStep step;
  step.index = index;
  step.total = total;
  step.sigma_or_t = sigma_or_t;
  step.x = &x;
  step.denoised = &denoised;
  if (!observer(step)) fail("sampling: cancelled");
}

// (x - denoised) / sigma
Tensor derivative(const Tensor& x, const Tensor& denoised, float sigma) {
  return k::scale(k::sub(x, denoised), 1.0f / sigma);
}

}  // namespace

NoiseSource philox_noise(uint64_t seed, uint64_t stream_base) {
  return [seed, stream_base](int step, const Shape& shape) {
    return k::random_normal(shape, seed, stream_base + static_cast<uint64_t>(step));
  };
}

Tensor sample_euler(const Denoiser& denoise, Tensor x, const std::vector<float>& sigmas,
                    const StepObserver& observer) {
  check_sigmas(sigmas, "Euler");
  const int total = static_cast<int>(sigmas.size()) - 1;
  for (int i = 0; i < total; ++i) {
    const Tensor denoised = denoise(x, sigmas[i]);
    report(observer, i, total, sigmas[i], x, denoised);
    const Tensor d = derivative(x, denoised, sigmas[i]);
    x = k::add(x, k::scale(d, sigmas[i + 1] - sigmas[i]));
  }
  return x;
}

Tensor sample_euler_ancestral(const Denoiser& denoise, Tensor x, const std::vector<float>& sigmas,
                              const NoiseSource& noise, const StepObserver& observer, float eta) {
  check_sigmas(sigmas, "Euler a");
  MMGEN_CHECK(noise, "Euler a: needs a noise source");
  const int total = static_cast<int>(sigmas.size()) - 1;
  for (int i = 0; i < total; ++i) {
    const Tensor denoised = denoise(x, sigmas[i]);
    report(observer, i, total, sigmas[i], x, denoised);
    const double from = sigmas[i], to = sigmas[i + 1];
    // k-diffusion get_ancestral_step.
    const double sigma_up =
        std::min(to, eta * std::sqrt(to * to * (from * from - to * to) / (from * from)));
    const double sigma_down = std::sqrt(to * to - sigma_up * sigma_up);
    const Tensor d = derivative(x, denoised, sigmas[i]);
    x = k::add(x, k::scale(d, static_cast<float>(sigma_down - from)));
    if (to > 0)
      x = k::add(x, k::scale(noise(i, x.shape()).to(x.device()), static_cast<float>(sigma_up)));
  }
  return x;
}

Tensor sample_dpmpp_2m(const Denoiser& denoise, Tensor x, const std::vector<float>& sigmas,
                       const StepObserver& observer) {
  check_sigmas(sigmas, "DPM++ 2M");
  const int total = static_cast<int>(sigmas.size()) - 1;
  Tensor old_denoised;
  for (int i = 0; i < total; ++i) {
    const Tensor denoised = denoise(x, sigmas[i]);
    report(observer, i, total, sigmas[i], x, denoised);
    if (sigmas[i + 1] == 0.0f) {
      // t_next = inf: the update reduces to x = denoised.
      x = denoised;
    } else {
      // t = -log sigma; x = (sigma_next / sigma) x - expm1(-h) * D.
      const double t = -std::log(static_cast<double>(sigmas[i]));
      const double t_next = -std::log(static_cast<double>(sigmas[i + 1]));
      const double h = t_next - t;
      Tensor d = denoised;
      if (old_denoised.defined()) {
        const double h_last = t + std::log(static_cast<double>(sigmas[i - 1]));
        const double r = h_last / h;
        d = k::sub(k::scale(denoised, static_cast<float>(1.0 + 1.0 / (2.0 * r))),
                   k::scale(old_denoised, static_cast<float>(1.0 / (2.0 * r))));
      }
      x = k::sub(k::scale(x, static_cast<float>(sigmas[i + 1] / static_cast<double>(sigmas[i]))),
                 k::scale(d, static_cast<float>(std::expm1(-h))));
    }
    old_denoised = denoised;
  }
  return x;
}

Tensor sample_lcm(const Denoiser& denoise, Tensor x, const std::vector<float>& sigmas,
                  const NoiseSource& noise, const StepObserver& observer) {
  check_sigmas(sigmas, "LCM");
  MMGEN_CHECK(noise, "LCM: needs a noise source");
  const int total = static_cast<int>(sigmas.size()) - 1;
  for (int i = 0; i < total; ++i) {
    const Tensor denoised = denoise(x, sigmas[i]);
    report(observer, i, total, sigmas[i], x, denoised);
    x = denoised;
    if (sigmas[i + 1] > 0)
      x = k::add(x, k::scale(noise(i, x.shape()).to(x.device()), sigmas[i + 1]));
  }
  return x;
}

Tensor sample_ddim(const EpsModel& eps_model, Tensor x, const std::vector<int>& timesteps,
                   const std::vector<float>& alphas_cumprod, const StepObserver& observer) {
  MMGEN_CHECK(!timesteps.empty(), "DDIM: no timesteps");
  const int n = static_cast<int>(alphas_cumprod.size());
  for (size_t i = 0; i < timesteps.size(); ++i)
    MMGEN_CHECK(
        timesteps[i] >= 0 && timesteps[i] < n && (i == 0 || timesteps[i] > timesteps[i - 1]),
        "DDIM: timesteps must increase within [0, ", n, "); index ", i, " does not");
  const int total = static_cast<int>(timesteps.size());
  for (int step = 0; step < total; ++step) {
    const int index = total - 1 - step;
    const int t = timesteps[index];
    const double a_t = alphas_cumprod[t];
    const double a_prev = index > 0 ? alphas_cumprod[timesteps[index - 1]] : alphas_cumprod[0];
    const Tensor eps = eps_model(x, static_cast<float>(t));
    // pred_x0 = (x - sqrt(1 - a_t) eps) / sqrt(a_t)
    const Tensor pred_x0 =
        k::scale(k::sub(x, k::scale(eps, static_cast<float>(std::sqrt(1.0 - a_t)))),
                 static_cast<float>(1.0 / std::sqrt(a_t)));
    report(observer, step, total, static_cast<float>(t), x, pred_x0);
    // x_prev = sqrt(a_prev) pred_x0 + sqrt(1 - a_prev) eps (eta = 0: no noise)
    x = k::add(k::scale(pred_x0, static_cast<float>(std::sqrt(a_prev))),
               k::scale(eps, static_cast<float>(std::sqrt(1.0 - a_prev))));
  }
  return x;
}

SamplerKind parse_sampler(std::string_view name) {
  std::string key;
  for (char c : name)
    if (c != ' ' && c != '_' && c != '-')
      key += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (key == "euler") return SamplerKind::kEuler;
  if (key == "eulera" || key == "eulerancestral") return SamplerKind::kEulerAncestral;
  if (key == "ddim") return SamplerKind::kDdim;
  if (key == "dpm++2m" || key == "dpmpp2m") return SamplerKind::kDpmpp2m;
  if (key == "dpm++2mkarras" || key == "dpmpp2mkarras") return SamplerKind::kDpmpp2mKarras;
  if (key == "lcm") return SamplerKind::kLcm;
  fail("unknown sampler '", name, "'; expected one of: ", sampler_choices());
}

std::string sampler_name(SamplerKind kind) {
  switch (kind) {
    case SamplerKind::kEuler:
      return "Euler";
    case SamplerKind::kEulerAncestral:
      return "Euler a";
    case SamplerKind::kDdim:
      return "DDIM";
    case SamplerKind::kDpmpp2m:
      return "DPM++ 2M";
    case SamplerKind::kDpmpp2mKarras:
      return "DPM++ 2M Karras";
    case SamplerKind::kLcm:
      return "LCM";
  }
  return "?";
}

std::string sampler_choices() { return "euler, euler_a, ddim, dpm++2m, dpm++2m_karras, lcm"; }

}  // namespace mmgen::diffusion
