#include "tests/diffusion/shapes_sd_support.h"

#include <catch2/catch.hpp>
#include <fstream>
#include <nlohmann/json.hpp>

#include "core/shipped_files.h"
#include "tests/diffusion/shapes_detector.h"
#include "vision/image.h"

namespace mmgen::test {

std::filesystem::path shapes_sd_dir() {
  const auto dir = find_default_model("shapes-sd");
  if (!dir) FAIL("the default image model shapes-sd is missing (models/shapes-sd)");
  return *dir;
}

HeldoutSet read_heldout_prompts() {
  const auto path = shapes_sd_dir() / "heldout_prompts.json";
  std::ifstream in(path);
  if (!in) FAIL("missing " << path);
  const nlohmann::json json = nlohmann::json::parse(in);
  HeldoutSet set;
  set.sampler = diffusion::parse_sampler(json.at("sampler").get<std::string>());
  set.steps = json.at("steps").get<int>();
  set.cfg = json.at("cfg").get<float>();
  const auto prompts = [&](const char* key) {
    std::vector<HeldoutPrompt> out;
    for (const auto& p : json.at(key)) {
      out.push_back({p.at("prompt").get<std::string>(), p.at("ids").get<std::vector<int32_t>>(),
                     p.at("seed").get<uint64_t>()});
    }
    return out;
  };
  set.prompts = prompts("prompts");
  set.count_prompts = prompts("count_prompts");
  return set;
}

Acceptance count_accepted(const diffusion::StableDiffusion& sd, const HeldoutSet& set,
                          const std::vector<HeldoutPrompt>& prompts) {
  Acceptance tally;
  for (const HeldoutPrompt& p : prompts) {
    diffusion::GenerationParams params;
    params.prompt = p.prompt;
    params.sampler = set.sampler;
    params.steps = set.steps;
    params.cfg_scale = set.cfg;
    params.seed = p.seed;
    params.width = params.height = static_cast<int>(sd.native_size());
    const diffusion::GenerationResult result = diffusion::txt2img(sd, params);
    const vision::Image picture = vision::image_from_tensor(result.images.cpu());
    const ShapesVerdict verdict = check_shapes_picture(picture, p.prompt);
    const bool loose = verdict.accepted || check_shapes_picture(picture, p.prompt, false).accepted;
    WARN((verdict.accepted ? "accepted: "
          : loose          ? "accepted with the shapes aside: "
                           : "rejected: ")
         << p.prompt << " (" << verdict.why << ")");
    tally.accepted += verdict.accepted;
    tally.accepted_shapes_aside += loose;
  }
  return tally;
}

}  // namespace mmgen::test
