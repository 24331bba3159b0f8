// Golden kinds of the VAE. The manifest's "weights" holds one checkpoint (a full SD
// checkpoint, "sd1_tiny" in the sd1 fixtures); the VAE is loaded from it the normal
// way, with every size inferred from the tensors.
#include "diffusion/vae_golden.h"

#include <string>

#include "core/error.h"
#include "core/golden.h"
#include "diffusion/vae.h"

namespace mmgen::diffusion {

namespace {

// The single checkpoint of the manifest's "weights".
Vae load_manifest_vae(const GoldenContext& context) {
  const nlohmann::json& weights = context.weights();
  MMGEN_CHECK(weights.size() == 1, context.manifest().path.string(),
              ": the VAE kinds need exactly one entry in \"weights\" (the checkpoint), found ",
              weights.size());
  return Vae::load(context.weights_path(weights.begin().key()), context.device());
}

GoldenOutputs vae_decode(const GoldenContext& context) {
  const Vae vae = load_manifest_vae(context);
  GoldenOutputs out;
  out.values["image"] = vae.decode(context.tensor("z").to(context.device()));
  return out;
}

GoldenOutputs vae_encode(const GoldenContext& context) {
  const Vae vae = load_manifest_vae(context);
  const VaeMoments moments = vae.encode(context.tensor("image").to(context.device()));
  GoldenOutputs out;
  out.values["moments"] = moments.moments;
  out.values["mean"] = moments.mean;
  out.values["logvar"] = moments.logvar;
  return out;
}

}  // namespace

void register_vae_golden_kinds() {
  register_golden_kind("vae_decode", vae_decode);
  register_golden_kind("vae_encode", vae_encode);
}

}  // namespace mmgen::diffusion
