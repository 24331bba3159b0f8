// Golden kind of the UNet. The manifest's "weights" holds one checkpoint (a full SD
// checkpoint); the UNet is loaded from it the normal way, sizes inferred from the
// tensors, and the head count read from config.unet (num_heads / num_head_channels),
// which the tensors cannot tell.
#include "diffusion/unet_golden.h"

#include <string>

#include "core/error.h"
#include "core/golden.h"
#include "diffusion/unet.h"

namespace mmgen::diffusion {

namespace {

UNetOptions manifest_options(const GoldenContext& context) {
  UNetOptions options;
  const nlohmann::json& config = context.config();
  if (!config.contains("unet")) return options;
  const nlohmann::json& unet = config.at("unet");
  const std::string where = context.manifest().path.string() + ": config.unet.";
  for (const char* field : {"num_heads", "num_head_channels"}) {
    if (!unet.contains(field)) continue;
    MMGEN_CHECK(unet.at(field).is_number_integer(), where, field, " must be an integer, got ",
                unet.at(field).dump());
  }
  if (unet.contains("num_heads")) options.num_heads = unet.at("num_heads").get<int>();
  if (unet.contains("num_head_channels"))
    options.num_head_channels = unet.at("num_head_channels").get<int>();
  return options;
}

GoldenOutputs unet_eps(const GoldenContext& context) {
  const nlohmann::json& weights = context.weights();
  MMGEN_CHECK(weights.size() == 1, context.manifest().path.string(),
              ": the unet_eps kind needs exactly one entry in \"weights\" (the checkpoint), found ",
              weights.size());
  const ModelFile& file = context.open(context.weights_path(weights.begin().key()));
  const Device device = context.device();
  const auto unet = UNet::load(file, manifest_options(context), device);
  GoldenOutputs out;
  out.values["eps"] =
      unet->predict_eps(context.tensor("x").to(device), context.tensor("timesteps").to(device),
                        context.tensor("context").to(device));
  return out;
}

}  // namespace

void register_unet_golden_kinds() { register_golden_kind("unet_eps", unet_eps); }

}  // namespace mmgen::diffusion
