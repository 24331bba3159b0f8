#include "pipelines/comfyui.h"

#include "core/error.h"

namespace mmgen::pipelines {

using json = nlohmann::ordered_json;

namespace {

constexpr const char* kSupported =
    "CheckpointLoaderSimple, CLIPTextEncode, EmptyLatentImage, KSampler, VAEDecode, SaveImage";

const json& workflow_of(const json& root) {
  if (root.size() == 1 && root.contains("prompt") && root["prompt"].is_object())
    return root["prompt"];
  return root;
}

class Importer {
 public:
  Importer(const json& workflow, const std::string& source) : w_(workflow), source_(source) {}

  PipelineDefinition run(const std::filesystem::path& base_dir) {
    def_.source = source_;
    def_.base_dir = base_dir;
    def_.format = "comfyui";
    for (const auto& [id, node] : w_.items()) {
      const std::string type = class_type(id);
      if (type == "CheckpointLoaderSimple" || type == "CLIPTextEncode" ||
          type == "EmptyLatentImage" || type == "VAEDecode")
        continue;  // folded into the nodes that use them
      if (type == "KSampler") {
        add_sampler(id, node);
      } else if (type == "SaveImage") {
        add_save(id, node);
      } else {
        fail(source_, ": node \"", id, "\" (class_type \"", type,
             "\") is not supported; mmgen runs ComfyUI workflows made of ", kSupported);
      }
    }
    // Without a SaveImage, every decoded image is an output.
    bool saves = false;
    for (const auto& n : def_.nodes) saves |= n.type == "io.save_image";
    if (!saves)
      for (const auto& [id, node] : w_.items())
        if (class_type(id) == "VAEDecode")
          def_.outputs.push_back({"image_" + id, sampler_of_decode(id), "image", false});
    MMGEN_CHECK(!def_.nodes.empty(), source_, ": the workflow has no KSampler");
    return std::move(def_);
  }

 private:
  std::string class_type(const std::string& id) const {
    MMGEN_CHECK(w_.contains(id), source_, ": a reference names node \"", id,
                "\", which the workflow does not have");
    const json& node = w_[id];
    MMGEN_CHECK(node.is_object() && node.contains("class_type") && node["class_type"].is_string(),
                source_, ": node \"", id, "\" has no \"class_type\"");
    return node["class_type"].get<std::string>();
  }

  const json& input(const std::string& id, const std::string& name) const {
    const json& node = w_[id];
    MMGEN_CHECK(
        node.contains("inputs") && node["inputs"].is_object() && node["inputs"].contains(name),
        source_, ": node \"", id, "\" (", class_type(id), ") has no input \"", name, "\"");
    return node["inputs"][name];
  }

  // The node id an input refers to, checked to be of class `expected`.
  std::string ref(const std::string& id, const std::string& name,
                  const std::string& expected) const {
    const json& v = input(id, name);
    MMGEN_CHECK(v.is_array() && v.size() == 2 && v[0].is_string(), source_, ": node \"", id,
                "\" input \"", name, "\": expected a link [node id, output index], got ", v.dump());
    const std::string target = v[0].get<std::string>();
    MMGEN_CHECK(w_.contains(target), source_, ": node \"", id, "\" input \"", name,
                "\" refers to node \"", target, "\", which the workflow does not have");
    const std::string type = class_type(target);
    MMGEN_CHECK(type == expected, source_, ": node \"", id, "\" input \"", name,
                "\" comes from node \"", target, "\" (", type, "); mmgen maps only ", expected,
                " there (supported nodes: ", kSupported, ")");
    return target;
  }

  json literal(const std::string& id, const std::string& name) const {
    const json& v = input(id, name);
    MMGEN_CHECK(!v.is_array() && !v.is_object(), source_, ": node \"", id, "\" input \"", name,
                "\": expected a value, got ", v.dump());
    return v;
  }

  void add_literal(NodeDef& node, const std::string& field, json value) {
    NodeField f;
    f.name = field;
    f.source.literal = std::move(value);
    node.fields.push_back(std::move(f));
  }

  void add_sampler(const std::string& id, const json&) {
    NodeDef node;
    node.id = id;
    node.type = "diffusion.txt2img";
    const std::string loader = ref(id, "model", "CheckpointLoaderSimple");
    add_literal(node, "model", literal(loader, "ckpt_name"));
    add_literal(node, "prompt", literal(ref(id, "positive", "CLIPTextEncode"), "text"));
    add_literal(node, "negative_prompt", literal(ref(id, "negative", "CLIPTextEncode"), "text"));
    const std::string latent = ref(id, "latent_image", "EmptyLatentImage");
    add_literal(node, "width", literal(latent, "width"));
    add_literal(node, "height", literal(latent, "height"));
    const json batch = literal(latent, "batch_size");
    MMGEN_CHECK(batch.is_number() && batch.get<double>() == 1, source_, ": node \"", latent,
                "\" (EmptyLatentImage) input \"batch_size\": only 1 is supported, got ",
                batch.dump());
    add_literal(node, "steps", literal(id, "steps"));
    add_literal(node, "cfg_scale", literal(id, "cfg"));
    add_literal(node, "seed", literal(id, "seed"));
    const json sampler = literal(id, "sampler_name"), scheduler = literal(id, "scheduler");
    MMGEN_CHECK(sampler.is_string() && scheduler.is_string(), source_, ": node \"", id,
                "\" (KSampler): sampler_name and scheduler must be strings");
    try {
      add_literal(node, "sampler",
                  comfyui_sampler(sampler.get<std::string>(), scheduler.get<std::string>()));
    } catch (const Error& e) {
      fail(source_, ": node \"", id, "\" (KSampler): ", e.what());
    }
    if (w_[id]["inputs"].contains("denoise")) {
      const json denoise = literal(id, "denoise");
      MMGEN_CHECK(denoise.is_number() && denoise.get<double>() == 1.0, source_, ": node \"", id,
                  "\" (KSampler) input \"denoise\": only 1.0 is supported from an "
                  "EmptyLatentImage, got ",
                  denoise.dump());
    }
    def_.nodes.push_back(std::move(node));
  }

  std::string sampler_of_decode(const std::string& decode) const {
    ref(decode, "vae", "CheckpointLoaderSimple");
    return ref(decode, "samples", "KSampler");
  }

  void add_save(const std::string& id, const json&) {
    NodeDef node;
    node.id = id;
    node.type = "io.save_image";
    const std::string decode = ref(id, "images", "VAEDecode");
    NodeField image;
    image.name = "image";
    image.source.kind = FieldSource::Kind::kNode;
    image.source.name = sampler_of_decode(decode);
    image.source.output = "image";
    node.fields.push_back(std::move(image));
    std::string prefix = "ComfyUI";
    if (w_[id]["inputs"].contains("filename_prefix")) {
      const json p = literal(id, "filename_prefix");
      MMGEN_CHECK(p.is_string(), source_, ": node \"", id,
                  "\" (SaveImage) input \"filename_prefix\" must be a string");
      prefix = p.get<std::string>();
    }
    // ComfyUI's first file name for a prefix.
    add_literal(node, "filename", prefix + "_00001_.png");
    def_.nodes.push_back(std::move(node));
  }

  const json& w_;
  const std::string& source_;
  PipelineDefinition def_;
};

}  // namespace

bool is_comfyui_workflow(const json& root) {
  const json& w = workflow_of(root);
  if (!w.is_object() || w.empty() || w.contains("nodes")) return false;
  for (const auto& [id, node] : w.items())
    if (!node.is_object() || !node.contains("class_type")) return false;
  return true;
}

std::string comfyui_sampler(const std::string& sampler_name, const std::string& scheduler) {
  const bool karras = scheduler == "karras";
  const bool plain = scheduler == "normal" || scheduler == "simple" || scheduler == "sgm_uniform" ||
                     scheduler == "ddim_uniform";
  if (sampler_name == "dpmpp_2m" && (karras || plain)) return karras ? "dpm++2m_karras" : "dpm++2m";
  MMGEN_CHECK(plain, "scheduler \"", scheduler, "\" with sampler \"", sampler_name,
              "\" is not supported; use normal or simple (or karras with dpmpp_2m)");
  if (sampler_name == "euler") return "euler";
  if (sampler_name == "euler_ancestral") return "euler_a";
  if (sampler_name == "ddim") return "ddim";
  if (sampler_name == "lcm") return "lcm";
  fail("sampler_name \"", sampler_name,
       "\" is not supported; use euler, euler_ancestral, ddim, dpmpp_2m or lcm");
}

PipelineDefinition import_comfyui(const json& root, const std::string& source,
                                  const std::filesystem::path& base_dir) {
  return Importer(workflow_of(root), source).run(base_dir);
}

}  // namespace mmgen::pipelines
