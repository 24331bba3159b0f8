// diffusion.txt2img and diffusion.img2img: Stable Diffusion 1.x images, with the
// settings recorded as the image's "parameters" metadata (the PNG text chunk
// io.save_image writes, in the web UI's format; docs/txt2img.md).
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/sha256.h"
#include "diffusion/png_parameters.h"
#include "diffusion/samplers.h"
#include "diffusion/txt2img.h"
#include "pipelines/node_context.h"
#include "pipelines/node_types.h"
#include "vision/image.h"

namespace mmgen::pipelines {
namespace {

namespace fs = std::filesystem;

std::shared_ptr<const diffusion::StableDiffusion> load_sd(NodeContext& c) {
  const fs::path path = c.file("model");
  return c.models().get<diffusion::StableDiffusion>(ModelCache::key("sd", path, c.device()), [&] {
    return std::shared_ptr<const diffusion::StableDiffusion>(
        diffusion::StableDiffusion::load(path, {}, c.device()));
  });
}

// The web UI's model hash, computed once per checkpoint; empty for a diffusers folder,
// which has no single file to hash (its name is recorded alone, as by mmgen txt2img).
std::string model_hash(NodeContext& c) {
  const fs::path path = c.file("model");
  if (fs::is_directory(path)) return "";
  const auto hash =
      c.models().get<std::string>(ModelCache::key("sha256", path, Device::cpu()), [&] {
        return std::make_shared<const std::string>(diffusion::model_hash(sha256_file_hex(path)));
      });
  return *hash;
}

// steps and cfg_scale 0 and an empty sampler: the model's own settings
// (diffusion/generation_defaults.h).
diffusion::GenerationParams read_params(const NodeContext& c,
                                        const diffusion::GenerationDefaults& defaults) {
  diffusion::GenerationParams p;
  p.prompt = c.text("prompt");
  p.negative_prompt = c.text("negative_prompt");
  const int64_t steps = c.integer("steps");
  p.steps = steps > 0 ? static_cast<int>(steps) : defaults.steps;
  const double cfg = c.number("cfg_scale");
  p.cfg_scale = cfg > 0.0 ? static_cast<float>(cfg) : defaults.cfg_scale;
  const std::string& sampler = c.text("sampler");
  p.sampler = sampler.empty() ? defaults.sampler : diffusion::parse_sampler(sampler);
  p.seed = c.seed("seed");
  p.clip_skip = static_cast<int>(c.integer("clip_skip"));
  p.batch = 1;
  return p;
}

void generate(NodeContext& c, bool img2img) {
  const auto sd = load_sd(c);
  diffusion::GenerationParams params = read_params(c, sd->defaults());
  Tensor init;
  if (img2img) {
    const vision::Image& image = *c.value("image").image;
    params.width = image.width;
    params.height = image.height;
    params.strength = static_cast<float>(c.number("strength"));
    init = vision::image_to_tensor(image);
  }
  if (!img2img) {
    // 0: the model's native size when its config states one, else 512.
    const auto size = [&](const char* field) {
      const int64_t v = c.integer(field);
      return static_cast<int>(v > 0 ? v : sd->native_size() > 0 ? sd->native_size() : 512);
    };
    params.width = size("width");
    params.height = size("height");
  }
  c.check_cancelled();
  diffusion::check_generation_params(*sd, params);
  const diffusion::GenerationResult result =
      img2img ? diffusion::img2img(*sd, init, params, c.step_progress())
              : diffusion::txt2img(*sd, params, c.step_progress());
  c.check_cancelled();

  diffusion::PngParameters meta;
  meta.prompt = params.prompt;
  meta.negative_prompt = params.negative_prompt;
  meta.fields = {{"Steps", std::to_string(params.steps)},
                 {"Sampler", diffusion::sampler_name(params.sampler)},
                 {"CFG scale", nlohmann::json(params.cfg_scale).dump()},
                 {"Seed", std::to_string(result.seeds[0])},
                 {"Size", std::to_string(params.width) + "x" + std::to_string(params.height)}};
  if (const std::string hash = model_hash(c); !hash.empty())
    meta.fields.emplace_back("Model hash", hash);
  meta.fields.emplace_back("Model", diffusion::model_name(c.file("model")));
  if (params.clip_skip > 1) meta.fields.emplace_back("Clip skip", std::to_string(params.clip_skip));
  if (img2img)
    meta.fields.emplace_back("Denoising strength", nlohmann::json(params.strength).dump());
  c.set_output("image",
               Value::of_image(vision::image_from_tensor(result.images.narrow(0, 0, 1).cpu()),
                               {{"seed", std::to_string(result.seeds[0])},
                                {"parameters", diffusion::format_png_parameters(meta)}}));
}

std::vector<FieldSpec> common_fields() {
  FieldSpec prompt = text_field("prompt", "what the image shows");
  prompt.non_empty = true;
  FieldSpec sampler = text_field("sampler", "sampler name (empty: the model's, else Euler a)", "");
  sampler.check = [](const Value& v) {
    if (!v.text.empty()) diffusion::parse_sampler(v.text);
  };
  return {file_field("model", "Stable Diffusion 1.x checkpoint (.safetensors or .ckpt)"),
          prompt,
          text_field("negative_prompt", "what the image should not show", ""),
          int_field("steps", "sampling steps (0: the model's, else 20)", 0, 0, 1000),
          number_field("cfg_scale", "classifier-free guidance scale (0: the model's, else 7.5)",
                       0.0, 0.0),
          sampler,
          seed_field(),
          int_field("clip_skip", "use the CLIP layer this far from the last", 1, 1)};
}

NodeSpec txt2img_node() {
  NodeSpec s;
  s.type = "diffusion.txt2img";
  s.help = "Stable Diffusion 1.x: an image from a prompt";
  s.fields = common_fields();
  FieldSpec width = int_field(
      "width", "image width in pixels (0: the model's native size, else 512)", 0, 0, 4096);
  FieldSpec height = int_field("height", "image height in pixels (0: as for width)", 0, 0, 4096);
  width.multiple_of = height.multiple_of = 8;
  s.fields.push_back(width);
  s.fields.push_back(height);
  s.outputs = {{"image", PortType::kImage, "the image, its settings in the metadata"}};
  s.run = [](NodeContext& c) { generate(c, false); };
  return s;
}

NodeSpec img2img_node() {
  NodeSpec s;
  s.type = "diffusion.img2img";
  s.help = "Stable Diffusion 1.x: an image redrawn following a prompt";
  s.fields = common_fields();
  s.fields.push_back(
      port_field("image", PortType::kImage, "the starting image (its size is kept)"));
  FieldSpec strength = number_field(
      "strength", "how much to change the image: 0 keeps it, 1 ignores it", 0.75, 0.0, 1.0);
  strength.exclusive_min = true;
  s.fields.push_back(strength);
  s.outputs = {{"image", PortType::kImage, "the image, its settings in the metadata"}};
  s.run = [](NodeContext& c) { generate(c, true); };
  return s;
}

}  // namespace

void add_diffusion_nodes(std::vector<NodeSpec>& specs) {
  specs.push_back(txt2img_node());
  specs.push_back(img2img_node());
}

}  // namespace mmgen::pipelines
