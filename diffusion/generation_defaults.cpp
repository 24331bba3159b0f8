#include "diffusion/generation_defaults.h"

#include <fstream>
#include <nlohmann/json.hpp>

#include "core/error.h"

namespace mmgen::diffusion {

GenerationDefaults read_generation_defaults(const std::filesystem::path& file) {
  const std::string where = file.string();
  std::ifstream in(file);
  MMGEN_CHECK(in.good(), where, ": cannot be read");
  nlohmann::json config;
  try {
    config = nlohmann::json::parse(in);
  } catch (const nlohmann::json::exception& e) {
    fail(where, ": malformed JSON: ", e.what());
  }
  MMGEN_CHECK(config.is_object(), where, ": expected a JSON object");
  GenerationDefaults out;
  if (config.contains("num_inference_steps")) {
    const auto& v = config["num_inference_steps"];
    MMGEN_CHECK(v.is_number_integer() && v.get<int64_t>() >= 1 && v.get<int64_t>() <= 1000, where,
                ": field 'num_inference_steps' must be an integer in [1, 1000], got ", v.dump());
    out.steps = v.get<int>();
  }
  if (config.contains("guidance_scale")) {
    const auto& v = config["guidance_scale"];
    MMGEN_CHECK(v.is_number() && v.get<double>() >= 0.0 && v.get<double>() <= 100.0, where,
                ": field 'guidance_scale' must be a number in [0, 100], got ", v.dump());
    out.cfg_scale = v.get<float>();
  }
  if (config.contains("sampler")) {
    const auto& v = config["sampler"];
    MMGEN_CHECK(v.is_string(), where, ": field 'sampler' must be a sampler name, got ", v.dump());
    try {
      out.sampler = parse_sampler(v.get<std::string>());
    } catch (const Error& e) {
      fail(where, ": field 'sampler': ", e.what());
    }
  }
  return out;
}

}  // namespace mmgen::diffusion
