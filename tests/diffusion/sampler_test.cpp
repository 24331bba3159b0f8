// Samplers on data whose exact denoiser is known: x0 ~ N(mu, s^2) per element,
// so E[x0 | x0 + sigma n = x] = mu + s^2 / (s^2 + sigma^2) (x - mu), and the
// probability-flow ODE carries x_T to mu + s (x_T - mu) / sqrt(s^2 + sigma_max^2).
#include <catch2/catch.hpp>
#include <cmath>

#include "diffusion/samplers.h"
#include "diffusion/schedule.h"
#include "kernels/ops.h"
#include "kernels/random.h"

namespace mmgen::diffusion {
namespace {

constexpr float kMu = 0.3f;
constexpr float kS = 0.5f;

Tensor exact_denoise(const Tensor& x, float sigma) {
  const float w = kS * kS / (kS * kS + sigma * sigma);
  return kernels::add_scalar(kernels::scale(kernels::add_scalar(x, -kMu), w), kMu);
}

// max |x - ode endpoint|
double ode_error(const Tensor& result, const Tensor& start, float sigma_max) {
  const std::vector<float> r = result.to_f32_vector(), x = start.to_f32_vector();
  double worst = 0;
  for (size_t i = 0; i < r.size(); ++i) {
    const double expected = kMu + kS * (x[i] - kMu) / std::sqrt(kS * kS + sigma_max * sigma_max);
    worst = std::max(worst, std::abs(r[i] - expected));
  }
  return worst;
}

struct Moments {
  double mean = 0, stddev = 0;
};
Moments moments(const Tensor& t) {
  const std::vector<float> v = t.to_f32_vector();
  double sum = 0, sq = 0;
  for (float f : v) sum += f;
  const double mean = sum / v.size();
  for (float f : v) sq += (f - mean) * (f - mean);
  return {mean, std::sqrt(sq / v.size())};
}

}  // namespace

TEST_CASE("Euler and DPM++ 2M follow the probability-flow ODE to the exact endpoint", "[sampler]") {
  const NoiseSchedule schedule = NoiseSchedule::scaled_linear();
  const Tensor z = kernels::random_normal({1, 4, 8, 8}, 7);
  std::vector<double> euler, dpm;
  for (int steps : {40, 400}) {
    const std::vector<float> sigmas = schedule.uniform_sigmas(steps);
    const Tensor x = kernels::scale(z, sigmas[0]);
    euler.push_back(ode_error(sample_euler(exact_denoise, x, sigmas), x, sigmas[0]));
    dpm.push_back(ode_error(sample_dpmpp_2m(exact_denoise, x, sigmas), x, sigmas[0]));
  }
  INFO("euler " << euler[0] << " -> " << euler[1] << ", dpm++ 2m " << dpm[0] << " -> " << dpm[1]);
  // First order: ten times the steps, about a tenth of the error.
  CHECK(euler[0] < 0.15);
  CHECK(euler[1] < euler[0] / 5);
  // Second order: far below Euler at 400 steps.
  CHECK(dpm[0] < 0.15);
  CHECK(dpm[1] < 0.002);
  CHECK(dpm[1] < euler[1] / 10);
  const std::vector<float> karras = schedule.karras_sigmas(200);
  const Tensor x = kernels::scale(z, karras[0]);
  const double karras_error = ode_error(sample_dpmpp_2m(exact_denoise, x, karras), x, karras[0]);
  INFO("dpm++ 2m karras, 200 steps: " << karras_error);
  // The last step returns the denoised value at sigma_min, which differs from the
  // ODE's end at sigma 0 by about w sigma_min^2 / (2 s) (0.0026 for |w| = 3).
  CHECK(karras_error < 0.004);
}

TEST_CASE("Euler a draws samples whose spread approaches the data's", "[sampler]") {
  // Ancestral Euler is first order: the spread is short by a few percent at 30
  // steps and closes in as the steps grow.
  const NoiseSchedule schedule = NoiseSchedule::scaled_linear();
  const Tensor z = kernels::random_normal({1, 4, 64, 64}, 11);
  std::vector<double> spreads;
  for (int steps : {30, 300}) {
    const std::vector<float> sigmas = schedule.uniform_sigmas(steps);
    const Tensor out = sample_euler_ancestral(exact_denoise, kernels::scale(z, sigmas[0]), sigmas,
                                              philox_noise(5));
    const Moments m = moments(out);
    INFO(steps << " steps: mean " << m.mean << ", stddev " << m.stddev);
    CHECK(m.mean == Approx(kMu).margin(0.02));
    spreads.push_back(m.stddev);
  }
  CHECK(spreads[0] == Approx(0.43).margin(0.02));
  CHECK(spreads[1] == Approx(kS).epsilon(0.04));
  // Same seed, same result; another seed, another result.
  const std::vector<float> sigmas = schedule.uniform_sigmas(10);
  const Tensor x = kernels::scale(z, sigmas[0]);
  const Tensor a = sample_euler_ancestral(exact_denoise, x, sigmas, philox_noise(5));
  const Tensor b = sample_euler_ancestral(exact_denoise, x, sigmas, philox_noise(5));
  const Tensor c = sample_euler_ancestral(exact_denoise, x, sigmas, philox_noise(6));
  CHECK(a.to_f32_vector() == b.to_f32_vector());
  CHECK(a.to_f32_vector() != c.to_f32_vector());
}

TEST_CASE("LCM takes the denoised value and re-noises it to the next sigma", "[sampler]") {
  const std::vector<float> sigmas = {10.0f, 2.0f, 0.0f};
  const Tensor x = kernels::scale(kernels::random_normal({1, 2, 4, 4}, 4), sigmas[0]);
  const NoiseSource noise = philox_noise(9);
  const Tensor x1 =
      kernels::add(exact_denoise(x, 10.0f), kernels::scale(noise(0, x.shape()), 2.0f));
  const Tensor expected = exact_denoise(x1, 2.0f);
  const std::vector<float> got = sample_lcm(exact_denoise, x, sigmas, noise).to_f32_vector();
  const std::vector<float> want = expected.to_f32_vector();
  REQUIRE(got.size() == want.size());
  for (size_t i = 0; i < got.size(); ++i) CHECK(got[i] == Approx(want[i]).margin(1e-6));
}

TEST_CASE("DDIM with eta 0 reaches the ODE endpoint in ldm scale", "[sampler]") {
  const NoiseSchedule schedule = NoiseSchedule::scaled_linear();
  const std::vector<float>& ac = schedule.alphas_cumprod();
  // eps from the exact denoiser in k-diffusion scale: x_k = x_t / sqrt(a), sigma = sqrt((1-a)/a).
  const EpsModel eps = [&](const Tensor& x_t, float t) {
    const double a = ac[static_cast<int>(t)];
    const float sigma = static_cast<float>(std::sqrt((1 - a) / a));
    const Tensor x_k = kernels::scale(x_t, static_cast<float>(1 / std::sqrt(a)));
    return kernels::scale(kernels::sub(x_k, exact_denoise(x_k, sigma)), 1.0f / sigma);
  };
  const Tensor x_t = kernels::random_normal({1, 4, 8, 8}, 3);
  // DDIM is first order: the error to the exact endpoint shrinks about fourfold
  // from 50 to 200 steps.
  std::vector<double> errors;
  for (int steps : {50, 200}) {
    const std::vector<int> timesteps = ddim_uniform_timesteps(steps);
    std::vector<float> seen;
    const Tensor out = sample_ddim(eps, x_t, timesteps, ac, [&](const SamplerStep& step) {
      seen.push_back(step.sigma_or_t);
      CHECK(step.total == steps);
      return true;
    });
    REQUIRE(seen.size() == static_cast<size_t>(steps));
    CHECK(seen.front() == static_cast<float>(timesteps.back()));
    CHECK(seen.back() == 1.0f);
    // Expected: sqrt(a0) (mu + sqrt(s^2 + sigma_0^2) w), w from x_T in k-diffusion scale.
    const double a_t = ac[timesteps.back()], a0 = ac[0];
    const double sigma_t = std::sqrt((1 - a_t) / a_t), sigma_0 = std::sqrt((1 - a0) / a0);
    const std::vector<float> r = out.to_f32_vector(), x = x_t.to_f32_vector();
    double worst = 0;
    for (size_t i = 0; i < r.size(); ++i) {
      const double w = (x[i] / std::sqrt(a_t) - kMu) / std::sqrt(kS * kS + sigma_t * sigma_t);
      const double expected = std::sqrt(a0) * (kMu + std::sqrt(kS * kS + sigma_0 * sigma_0) * w);
      worst = std::max(worst, std::abs(r[i] - expected));
    }
    errors.push_back(worst);
  }
  INFO("max error: 50 steps " << errors[0] << ", 200 steps " << errors[1]);
  CHECK(errors[0] < 0.1);
  CHECK(errors[1] < errors[0] / 3);
  CHECK(errors[1] < 0.025);
}

TEST_CASE("observers see every step and can cancel", "[sampler]") {
  const std::vector<float> sigmas = NoiseSchedule::scaled_linear().uniform_sigmas(5);
  const Tensor x = kernels::scale(kernels::random_normal({1, 1, 2, 2}, 1), sigmas[0]);
  std::vector<float> seen;
  sample_euler(exact_denoise, x, sigmas, [&](const SamplerStep& step) {
    seen.push_back(step.sigma_or_t);
    CHECK(step.index == static_cast<int>(seen.size()) - 1);
    CHECK(step.x->shape() == x.shape());
    return true;
  });
  CHECK(seen == std::vector<float>(sigmas.begin(), sigmas.end() - 1));
  int calls = 0;
  CHECK_THROWS_WITH(
      sample_dpmpp_2m(exact_denoise, x, sigmas, [&](const SamplerStep&) { return ++calls < 2; }),
      Catch::Contains("cancelled"));
  CHECK(calls == 2);
  CHECK_THROWS_WITH(sample_euler(exact_denoise, x, {1.0f}), Catch::Contains("at least 2"));
  CHECK_THROWS_WITH(sample_euler(exact_denoise, x, {1.0f, 2.0f}), Catch::Contains("decrease"));
}

TEST_CASE("sampler names parse in the web UI and short forms", "[sampler]") {
  CHECK(parse_sampler("Euler a") == SamplerKind::kEulerAncestral);
  CHECK(parse_sampler("euler_a") == SamplerKind::kEulerAncestral);
  CHECK(parse_sampler("euler") == SamplerKind::kEuler);
  CHECK(parse_sampler("DDIM") == SamplerKind::kDdim);
  CHECK(parse_sampler("dpm++2m") == SamplerKind::kDpmpp2m);
  CHECK(parse_sampler("DPM++ 2M Karras") == SamplerKind::kDpmpp2mKarras);
  CHECK(parse_sampler("dpm++2m_karras") == SamplerKind::kDpmpp2mKarras);
  CHECK(parse_sampler("lcm") == SamplerKind::kLcm);
  CHECK(sampler_name(SamplerKind::kDpmpp2mKarras) == "DPM++ 2M Karras");
  CHECK(sampler_name(parse_sampler(sampler_name(SamplerKind::kEulerAncestral))) == "Euler a");
  CHECK_THROWS_WITH(parse_sampler("heun"), Catch::Contains("unknown sampler 'heun'"));
}

}  // namespace mmgen::diffusion
