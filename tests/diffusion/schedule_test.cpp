// The SD1.x noise schedule against the checkpoint buffers and the k-diffusion
// conventions (sigma <-> t, uniform and Karras sigmas, DDIM timesteps).
#include "diffusion/schedule.h"

#include <catch2/catch.hpp>
#include <cmath>

#include "core/model_file.h"
#include "tests/support/test_support.h"

namespace mmgen::diffusion {

TEST_CASE("scaled-linear schedule equals the checkpoint's alphas_cumprod buffer", "[schedule]") {
  const auto file = ModelFile::open(test::golden_file("sd1/sd1_tiny.safetensors"));
  const std::vector<float> stored = file->tensor("alphas_cumprod").to_f32_vector();
  const NoiseSchedule computed = NoiseSchedule::scaled_linear();
  REQUIRE(computed.timesteps() == 1000);
  REQUIRE(stored.size() == 1000);
  CHECK(computed.alphas_cumprod().front() == Approx(0.99915).epsilon(1e-6));
  CHECK(computed.alphas_cumprod().back() == Approx(0.0046601).epsilon(1e-4));
  double worst = 0;
  for (size_t i = 0; i < stored.size(); ++i)
    worst = std::max(worst, std::abs(double(stored[i]) - computed.alphas_cumprod()[i]));
  CHECK(worst < 1e-6);

  const NoiseSchedule loaded = NoiseSchedule::from_checkpoint(*file);
  CHECK(loaded.alphas_cumprod() == stored);
  // sigma_t = sqrt((1 - a) / a): 0.0292 at t = 0, 14.61 at t = 999.
  CHECK(loaded.sigma_min() == Approx(0.0291675).epsilon(1e-4));
  CHECK(loaded.sigma_max() == Approx(14.614643).epsilon(1e-5));
}

TEST_CASE("sigma_to_t inverts t_to_sigma and clamps outside the schedule", "[schedule]") {
  const NoiseSchedule s = NoiseSchedule::scaled_linear();
  for (double t : {0.0, 0.5, 1.0, 17.25, 250.0, 499.9, 666.0, 998.5, 999.0})
    CHECK(s.sigma_to_t(s.t_to_sigma(t)) == Approx(t).margin(1e-6));
  for (int t : {0, 1, 500, 999}) CHECK(s.t_to_sigma(t) == Approx(s.sigmas()[t]).epsilon(1e-6));
  // Halfway in t is the geometric mean of the neighbouring sigmas.
  CHECK(s.t_to_sigma(10.5) == Approx(std::sqrt(double(s.sigmas()[10]) * s.sigmas()[11])));
  CHECK(s.sigma_to_t(1e-4) == 0.0);
  CHECK(s.sigma_to_t(100.0) == 999.0);
  CHECK_THROWS_WITH(s.sigma_to_t(0.0), Catch::Contains("positive"));
}

TEST_CASE("uniform sigmas match CompVisDenoiser.get_sigmas of the fixtures", "[schedule]") {
  const auto file = ModelFile::open(test::golden_file("sd1/sd1_tiny.safetensors"));
  const auto cases = ModelFile::open(test::golden_file("sd1/txt2img_euler.safetensors"));
  const std::vector<float> expected = cases->tensor("sigmas").to_f32_vector();
  const std::vector<float> sigmas = NoiseSchedule::from_checkpoint(*file).uniform_sigmas(4);
  REQUIRE(sigmas.size() == expected.size());
  for (size_t i = 0; i < sigmas.size(); ++i) CHECK(sigmas[i] == Approx(expected[i]).epsilon(1e-5));
  CHECK(sigmas.back() == 0.0f);
}

TEST_CASE("Karras sigmas follow the rho-7 formula", "[schedule]") {
  const std::vector<float> sigmas = karras_sigmas(5, 0.1, 10.0, 7.0);
  REQUIRE(sigmas.size() == 6);
  CHECK(sigmas[0] == Approx(10.0));
  CHECK(sigmas[4] == Approx(0.1));
  CHECK(sigmas[5] == 0.0f);
  // ramp 0.5: ((10^(1/7) + 0.1^(1/7)) / 2)^7
  const double mid = std::pow((std::pow(10.0, 1 / 7.0) + std::pow(0.1, 1 / 7.0)) / 2, 7.0);
  CHECK(sigmas[2] == Approx(mid).epsilon(1e-6));
  CHECK(mid == Approx(1.4507).epsilon(1e-3));
  for (size_t i = 0; i + 2 < sigmas.size(); ++i) CHECK(sigmas[i + 1] < sigmas[i]);
  const NoiseSchedule s = NoiseSchedule::scaled_linear();
  const std::vector<float> k = s.karras_sigmas(10);
  CHECK(k.front() == Approx(s.sigma_max()));
  CHECK(k[9] == Approx(s.sigma_min()));
}

TEST_CASE("DDIM uniform timesteps follow ldm", "[schedule]") {
  CHECK(ddim_uniform_timesteps(4) == std::vector<int>{1, 251, 501, 751});
  CHECK(ddim_uniform_timesteps(1) == std::vector<int>{1});
  CHECK(ddim_uniform_timesteps(20).size() == 20);
  CHECK(ddim_uniform_timesteps(20).back() == 951);
  // 1000 / 7 is not an integer: like ldm, 8 timesteps.
  CHECK(ddim_uniform_timesteps(7).size() == 8);
  CHECK(ddim_uniform_timesteps(3) == std::vector<int>{1, 334, 667});
  CHECK_THROWS_WITH(ddim_uniform_timesteps(0), Catch::Contains("steps"));
}

TEST_CASE("malformed schedules are rejected with the index", "[schedule]") {
  CHECK_THROWS_WITH(NoiseSchedule::from_alphas_cumprod({0.9f}), Catch::Contains("at least 2"));
  CHECK_THROWS_WITH(NoiseSchedule::from_alphas_cumprod({0.9f, 1.5f}),
                    Catch::Contains("alphas_cumprod[1]"));
  CHECK_THROWS_WITH(NoiseSchedule::from_alphas_cumprod({0.5f, 0.9f}), Catch::Contains("decrease"));
}

}  // namespace mmgen::diffusion
