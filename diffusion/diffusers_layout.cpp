#include "diffusion/diffusers_layout.h"

#include <algorithm>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>

#include "core/error.h"

namespace mmgen::diffusion {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

std::vector<std::string> split_dots(const std::string& name) {
  std::vector<std::string> parts;
  size_t start = 0;
  while (true) {
    const size_t dot = name.find('.', start);
    parts.push_back(name.substr(start, dot == std::string::npos ? std::string::npos : dot - start));
    if (dot == std::string::npos) return parts;
    start = dot + 1;
  }
}

std::string join_from(const std::vector<std::string>& parts, size_t first) {
  std::string out;
  for (size_t i = first; i < parts.size(); ++i) out += (i == first ? "" : ".") + parts[i];
  return out;
}

bool starts_with(const std::string& text, const std::string& head) {
  return text.compare(0, head.size(), head) == 0;
}

int index_part(const ModelFile& file, const std::string& name, const std::string& part) {
  MMGEN_CHECK(
      !part.empty() && part.find_first_not_of("0123456789") == std::string::npos && part.size() < 6,
      file.path().string(), ": tensor '", name, "': expected a block index, got '", part, "'");
  return std::stoi(part);
}

// How many consecutive indices "<stem><i>." the file holds.
int count_indexed(const ModelFile& file, const std::string& stem) {
  std::set<int> seen;
  for (const TensorInfo& info : file.tensors()) {
    if (!starts_with(info.name, stem)) continue;
    const std::string rest = info.name.substr(stem.size());
    seen.insert(index_part(file, info.name, rest.substr(0, rest.find('.'))));
  }
  int n = 0;
  while (seen.count(n)) ++n;
  MMGEN_CHECK(n == static_cast<int>(seen.size()), file.path().string(), ": tensors '", stem,
              "<i>.*' skip an index");
  return n;
}

[[noreturn]] void unexpected(const ModelFile& file, const std::string& name, const char* network) {
  fail(file.path().string(), ": tensor '", name, "' is not part of a diffusers Stable Diffusion ",
       network, " (UNet2DConditionModel / AutoencoderKL layout)");
}

// diffusers ResnetBlock2D -> ldm UNet ResBlock.
std::string unet_resnet(const ModelFile& file, const std::string& name, const std::string& rest) {
  static const std::vector<std::pair<std::string, std::string>> names = {
      {"norm1.", "in_layers.0."},          {"conv1.", "in_layers.2."},
      {"time_emb_proj.", "emb_layers.1."}, {"norm2.", "out_layers.0."},
      {"conv2.", "out_layers.3."},         {"conv_shortcut.", "skip_connection."}};
  for (const auto& [from, to] : names)
    if (starts_with(rest, from)) return to + rest.substr(from.size());
  unexpected(file, name, "UNet");
}

// diffusers VAE attention (new "to_q" or old "query" names) -> ldm AttnBlock.
std::string vae_attention(const ModelFile& file, const std::string& name, const std::string& rest) {
  static const std::vector<std::pair<std::string, std::string>> names = {
      {"group_norm.", "norm."},
      {"to_q.", "q."},
      {"query.", "q."},
      {"to_k.", "k."},
      {"key.", "k."},
      {"to_v.", "v."},
      {"value.", "v."},
      {"to_out.0.", "proj_out."},
      {"proj_attn.", "proj_out."}};
  for (const auto& [from, to] : names)
    if (starts_with(rest, from)) return to + rest.substr(from.size());
  unexpected(file, name, "VAE");
}

std::string vae_resnet(const std::string& rest) {
  return starts_with(rest, "conv_shortcut.") ? "nin_shortcut." + rest.substr(14) : rest;
}

json read_json(const fs::path& path) {
  MMGEN_CHECK(fs::is_regular_file(path), path.string(), ": not found");
  std::ifstream in(path);
  MMGEN_CHECK(in.good(), path.string(), ": cannot be read");
  try {
    json value = json::parse(in);
    MMGEN_CHECK(value.is_object(), path.string(), ": expected a JSON object");
    return value;
  } catch (const json::exception& e) {
    fail(path.string(), ": malformed JSON: ", e.what());
  }
}

// A config field that must be an integer (or absent: `fallback`).
int64_t int_field(const json& config, const fs::path& path, const std::string& field,
                  int64_t fallback) {
  if (!config.contains(field) || config[field].is_null()) return fallback;
  MMGEN_CHECK(config[field].is_number_integer(), path.string(), ": field '", field,
              "' must be an integer, got ", config[field].dump());
  return config[field].get<int64_t>();
}

double number_field(const json& config, const fs::path& path, const std::string& field,
                    double fallback) {
  if (!config.contains(field) || config[field].is_null()) return fallback;
  MMGEN_CHECK(config[field].is_number(), path.string(), ": field '", field,
              "' must be a number, got ", config[field].dump());
  return config[field].get<double>();
}

std::vector<int64_t> int_list(const json& config, const fs::path& path, const std::string& field) {
  if (!config.contains(field)) return {};
  const json& value = config[field];
  MMGEN_CHECK(value.is_array(), path.string(), ": field '", field, "' must be a list of integers");
  std::vector<int64_t> out;
  for (const json& v : value) {
    MMGEN_CHECK(v.is_number_integer(), path.string(), ": field '", field,
                "' must be a list of integers, got ", value.dump());
    out.push_back(v.get<int64_t>());
  }
  return out;
}

// A config value against what the tensors say.
void check_size(const fs::path& config_path, const std::string& field, int64_t stated,
                const ModelFile& file, const std::string& tensor, int64_t found) {
  MMGEN_CHECK(stated == found, config_path.string(), ": field '", field, "' is ", stated,
              " but the weights say ", found, " (", file.path().string(), ", tensor '", tensor,
              "' ", shape_str(file.info(tensor).shape), ")");
}

int64_t dim(const ModelFile& file, const std::string& tensor, size_t d) {
  const Shape& shape = file.info(tensor).shape;
  MMGEN_CHECK(d < shape.size(), file.path().string(), ": tensor '", tensor, "' has shape ",
              shape_str(shape), ", expected at least ", d + 1, " dimensions");
  return shape[d];
}

// The weights of one part: safetensors first (then their fp16 variant), then PyTorch .bin.
fs::path find_weights(const fs::path& folder, const std::string& stem,
                      const std::string& bin_stem) {
  const std::vector<std::string> names = {stem + ".safetensors", stem + ".fp16.safetensors",
                                          bin_stem + ".bin", bin_stem + ".fp16.bin"};
  std::string looked;
  for (const std::string& name : names) {
    if (fs::is_regular_file(folder / name)) return folder / name;
    looked += (looked.empty() ? "" : ", ") + name;
  }
  fail(folder.string(), ": no weights (looked for ", looked, ")");
}

std::shared_ptr<const ModelFile> open_shared(const fs::path& path) {
  return std::shared_ptr<const ModelFile>(ModelFile::open(path));
}

bool has_prefix(const ModelFile& file, const std::string& head) {
  for (const TensorInfo& info : file.tensors())
    if (starts_with(info.name, head)) return true;
  return false;
}

// --- config checks ----------------------------------------------------------------

// unet/config.json: the sizes it states against the tensors; the head rule it
// gives (diffusers' "attention_head_dim" of SD 1.x/2.x is the head count per level,
// "num_attention_heads" where newer files state it).
UNetOptions unet_options_from_config(const json& config, const fs::path& path,
                                     const ModelFile& file) {
  const int levels = count_indexed(file, "down_blocks.");
  MMGEN_CHECK(levels >= 1, file.path().string(), ": no 'down_blocks.*' tensors (diffusers UNet)");
  if (config.contains("in_channels"))
    check_size(path, "in_channels", int_field(config, path, "in_channels", 0), file,
               "conv_in.weight", dim(file, "conv_in.weight", 1));
  if (config.contains("out_channels"))
    check_size(path, "out_channels", int_field(config, path, "out_channels", 0), file,
               "conv_out.weight", dim(file, "conv_out.weight", 0));
  const std::vector<int64_t> widths = int_list(config, path, "block_out_channels");
  if (!widths.empty()) {
    MMGEN_CHECK(static_cast<int>(widths.size()) == levels, path.string(),
                ": field 'block_out_channels' has ", widths.size(), " entries but ",
                file.path().string(), " has ", levels, " down_blocks");
    for (int l = 0; l < levels; ++l) {
      const std::string tensor = "down_blocks." + std::to_string(l) + ".resnets.0.conv1.weight";
      check_size(path, "block_out_channels[" + std::to_string(l) + "]", widths[l], file, tensor,
                 dim(file, tensor, 0));
    }
  }
  if (config.contains("layers_per_block")) {
    const int64_t stated = int_field(config, path, "layers_per_block", 0);
    const int64_t found = count_indexed(file, "down_blocks.0.resnets.");
    MMGEN_CHECK(stated == found, path.string(), ": field 'layers_per_block' is ", stated, " but ",
                file.path().string(), " has ", found, " resnets in down_blocks.0");
  }
  if (config.contains("cross_attention_dim") && config["cross_attention_dim"].is_number()) {
    const std::string tensor = "mid_block.attentions.0.transformer_blocks.0.attn2.to_k.weight";
    if (file.contains(tensor))
      check_size(path, "cross_attention_dim", int_field(config, path, "cross_attention_dim", 0),
                 file, tensor, dim(file, tensor, 1));
  }
  for (const char* field : {"class_embed_type", "addition_embed_type"})
    MMGEN_CHECK(!config.contains(field) || config[field].is_null(), path.string(), ": field '",
                field, "' is set; UNets with class or added conditioning (SDXL) are not supported");

  // Heads per level: num_attention_heads when given, else attention_head_dim.
  UNetOptions options;
  const char* field =
      config.contains("num_attention_heads") && !config["num_attention_heads"].is_null()
          ? "num_attention_heads"
          : "attention_head_dim";
  if (!config.contains(field)) return options;
  std::vector<int64_t> heads;
  if (config[field].is_array()) {
    heads = int_list(config, path, field);
    MMGEN_CHECK(static_cast<int>(heads.size()) == levels, path.string(), ": field '", field,
                "' has ", heads.size(), " entries, expected one per level (", levels, ")");
  } else {
    heads.assign(static_cast<size_t>(levels), int_field(config, path, field, 8));
  }
  for (int64_t h : heads)
    MMGEN_CHECK(h >= 1, path.string(), ": field '", field, "' must hold positive head counts");
  if (std::all_of(heads.begin(), heads.end(), [&](int64_t h) { return h == heads[0]; })) {
    options.num_heads = static_cast<int>(heads[0]);
    return options;
  }
  // Different counts per level (SD 2.x: 5, 10, 20, 20): the same head width at every level.
  int64_t head_width = 0;
  for (int l = 0; l < levels; ++l) {
    const std::string tensor = "down_blocks." + std::to_string(l) + ".resnets.0.conv1.weight";
    const int64_t width = dim(file, tensor, 0);
    MMGEN_CHECK(width % heads[l] == 0 && (head_width == 0 || width / heads[l] == head_width),
                path.string(), ": field '", field,
                "' gives heads of different widths per level; not supported");
    head_width = width / heads[l];
  }
  options.num_head_channels = static_cast<int>(head_width);
  return options;
}

float vae_scale_from_config(const json& config, const fs::path& path, const ModelFile& file) {
  if (config.contains("latent_channels") && file.contains("post_quant_conv.weight"))
    check_size(path, "latent_channels", int_field(config, path, "latent_channels", 0), file,
               "post_quant_conv.weight", dim(file, "post_quant_conv.weight", 1));
  const std::vector<int64_t> widths = int_list(config, path, "block_out_channels");
  const int levels = count_indexed(file, "encoder.down_blocks.");
  if (!widths.empty() && levels > 0) {
    MMGEN_CHECK(static_cast<int>(widths.size()) == levels, path.string(),
                ": field 'block_out_channels' has ", widths.size(), " entries but ",
                file.path().string(), " has ", levels, " encoder down_blocks");
    for (int l = 0; l < levels; ++l) {
      const std::string tensor =
          "encoder.down_blocks." + std::to_string(l) + ".resnets.0.conv1.weight";
      check_size(path, "block_out_channels[" + std::to_string(l) + "]", widths[l], file, tensor,
                 dim(file, tensor, 0));
    }
  }
  if (config.contains("layers_per_block") && levels > 0) {
    const int64_t stated = int_field(config, path, "layers_per_block", 0);
    const int64_t found = count_indexed(file, "encoder.down_blocks.0.resnets.");
    MMGEN_CHECK(stated == found, path.string(), ": field 'layers_per_block' is ", stated, " but ",
                file.path().string(), " has ", found, " resnets in encoder.down_blocks.0");
  }
  const double scale = number_field(config, path, "scaling_factor", 0.18215);
  MMGEN_CHECK(scale > 0, path.string(), ": field 'scaling_factor' must be > 0, got ", scale);
  return static_cast<float>(scale);
}

text::ClipTextOptions clip_options_from_config(const json& config, const fs::path& path,
                                               const ModelFile& file) {
  const std::string embed = "text_model.embeddings.token_embedding.weight";
  MMGEN_CHECK(file.contains(embed), file.path().string(), ": no tensor '", embed,
              "' (a Hugging Face CLIPTextModel)");
  if (config.contains("hidden_size"))
    check_size(path, "hidden_size", int_field(config, path, "hidden_size", 0), file, embed,
               dim(file, embed, 1));
  if (config.contains("vocab_size"))
    check_size(path, "vocab_size", int_field(config, path, "vocab_size", 0), file, embed,
               dim(file, embed, 0));
  if (config.contains("num_hidden_layers")) {
    const int64_t stated = int_field(config, path, "num_hidden_layers", 0);
    const int64_t found = count_indexed(file, "text_model.encoder.layers.");
    MMGEN_CHECK(stated == found, path.string(), ": field 'num_hidden_layers' is ", stated, " but ",
                file.path().string(), " has ", found, " layers");
  }
  text::ClipTextOptions options;
  options.num_heads = static_cast<int>(int_field(config, path, "num_attention_heads", 0));
  options.layer_norm_eps =
      static_cast<float>(number_field(config, path, "layer_norm_eps", options.layer_norm_eps));
  if (config.contains("hidden_act")) {
    MMGEN_CHECK(config["hidden_act"].is_string(), path.string(),
                ": field 'hidden_act' must be a string");
    options.hidden_act = config["hidden_act"].get<std::string>();
    MMGEN_CHECK(options.hidden_act == "quick_gelu" || options.hidden_act == "gelu", path.string(),
                ": field 'hidden_act' is '", options.hidden_act,
                "', expected 'quick_gelu' or 'gelu'");
  }
  options.prefix = "text_model.";
  return options;
}

NoiseSchedule schedule_from_config(const fs::path& path) {
  const json config = read_json(path);
  if (config.contains("prediction_type") && config["prediction_type"].is_string()) {
    const std::string prediction = config["prediction_type"].get<std::string>();
    MMGEN_CHECK(prediction == "epsilon", path.string(), ": field 'prediction_type' is '",
                prediction, "'; only 'epsilon' models are supported");
  }
  MMGEN_CHECK(!config.contains("trained_betas") || config["trained_betas"].is_null(), path.string(),
              ": field 'trained_betas' is not supported");
  const int64_t steps = int_field(config, path, "num_train_timesteps", 1000);
  const double start = number_field(config, path, "beta_start", 0.00085);
  const double end = number_field(config, path, "beta_end", 0.012);
  MMGEN_CHECK(steps >= 2 && steps <= 100000, path.string(),
              ": field 'num_train_timesteps' must be in [2, 100000], got ", steps);
  MMGEN_CHECK(start > 0 && end < 1 && start <= end, path.string(),
              ": fields 'beta_start', 'beta_end' must satisfy 0 < beta_start <= beta_end < 1");
  std::string kind = "scaled_linear";
  if (config.contains("beta_schedule")) {
    MMGEN_CHECK(config["beta_schedule"].is_string(), path.string(),
                ": field 'beta_schedule' must be a string");
    kind = config["beta_schedule"].get<std::string>();
  }
  if (kind == "scaled_linear")
    return NoiseSchedule::scaled_linear(static_cast<int>(steps), start, end);
  MMGEN_CHECK(kind == "linear", path.string(), ": field 'beta_schedule' is '", kind,
              "', expected 'scaled_linear' or 'linear'");
  std::vector<float> alphas_cumprod;
  double product = 1.0;
  for (int64_t t = 0; t < steps; ++t) {
    const double beta =
        start + (end - start) * static_cast<double>(t) / static_cast<double>(steps - 1);
    product *= 1.0 - beta;
    alphas_cumprod.push_back(static_cast<float>(product));
  }
  return NoiseSchedule::from_alphas_cumprod(std::move(alphas_cumprod));
}

// The tokenizer's merges.txt, checked against vocab.json where both are present.
fs::path tokenizer_merges(const fs::path& folder) {
  const fs::path merges = folder / "merges.txt";
  if (!fs::is_directory(folder) || !fs::is_regular_file(merges)) return {};
  return merges;
}

bool is_diffusers_vae(const ModelFile& file) {
  return has_prefix(file, "encoder.down_blocks.") || has_prefix(file, "decoder.up_blocks.") ||
         has_prefix(file, "decoder.mid_block.");
}

std::shared_ptr<const ModelFile> open_vae_folder(const fs::path& folder, float* scale) {
  const fs::path config_path = folder / "config.json";
  const json config = read_json(config_path);
  const auto file =
      open_shared(find_weights(folder, "diffusion_pytorch_model", "diffusion_pytorch_model"));
  const float s = vae_scale_from_config(config, config_path, *file);
  if (scale) *scale = s;
  return remap_diffusers_vae(file);
}

}  // namespace

// ---- RemappedModelFile ----------------------------------------------------------------

RemappedModelFile::RemappedModelFile(fs::path path, ModelFormat format)
    : ModelFile(std::move(path)), format_(format) {}

void RemappedModelFile::add(const std::string& name, std::shared_ptr<const ModelFile> source,
                            const std::string& source_name, Shape shape) {
  const TensorInfo& info = source->info(source_name);
  if (shape.empty()) shape = info.shape;
  MMGEN_CHECK(shape_numel(shape) == shape_numel(info.shape), source->path().string(), ": tensor '",
              source_name, "' has shape ", shape_str(info.shape), ", expected ", shape_numel(shape),
              " elements (as ", shape_str(shape), ")");
  pending_.push_back({name, info.dtype, shape});
  entries_.push_back({std::move(source), source_name, std::move(shape)});
}

void RemappedModelFile::finish() { set_tensors(std::move(pending_)); }

Tensor RemappedModelFile::tensor(const std::string& name) const {
  const Entry& entry = entries_[index_of(name)];
  Tensor t = entry.source->tensor(entry.source_name);
  return t.shape() == entry.shape ? t : t.reshape(entry.shape);
}

// ---- the mappings -----------------------------------------------------------------------

std::shared_ptr<const ModelFile> remap_diffusers_unet(std::shared_ptr<const ModelFile> file) {
  const ModelFile& f = *file;
  const int per_level = count_indexed(f, "down_blocks.0.resnets.");
  const int up_levels = count_indexed(f, "up_blocks.");
  MMGEN_CHECK(per_level >= 1 && up_levels >= 1, f.path().string(),
              ": no diffusers UNet found (expected 'down_blocks.0.resnets.*' and 'up_blocks.*')");
  const int stride = per_level + 1;  // ldm blocks per level: the ResBlocks, then a sampler
  auto out = std::make_shared<RemappedModelFile>(f.path(), f.format());
  for (const TensorInfo& info : f.tensors()) {
    const std::string& name = info.name;
    const std::vector<std::string> p = split_dots(name);
    std::string mapped;
    if (starts_with(name, "conv_in.")) {
      mapped = "input_blocks.0.0." + join_from(p, 1);
    } else if (starts_with(name, "time_embedding.linear_1.")) {
      mapped = "time_embed.0." + join_from(p, 2);
    } else if (starts_with(name, "time_embedding.linear_2.")) {
      mapped = "time_embed.2." + join_from(p, 2);
    } else if (starts_with(name, "conv_norm_out.")) {
      mapped = "out.0." + join_from(p, 1);
    } else if (starts_with(name, "conv_out.")) {
      mapped = "out.2." + join_from(p, 1);
    } else if (p.size() > 4 && p[0] == "down_blocks") {
      const int level = index_part(f, name, p[1]), j = index_part(f, name, p[3]);
      const std::string block = std::to_string(1 + level * stride + j);
      if (p[2] == "resnets")
        mapped = "input_blocks." + block + ".0." + unet_resnet(f, name, join_from(p, 4));
      else if (p[2] == "attentions")
        mapped = "input_blocks." + block + ".1." + join_from(p, 4);
      else if (p[2] == "downsamplers" && j == 0 && p[4] == "conv")
        mapped =
            "input_blocks." + std::to_string((level + 1) * stride) + ".0.op." + join_from(p, 5);
    } else if (p.size() > 3 && p[0] == "mid_block") {
      const int j = index_part(f, name, p[2]);
      if (p[1] == "resnets" && j <= 1)
        mapped =
            "middle_block." + std::to_string(2 * j) + "." + unet_resnet(f, name, join_from(p, 3));
      else if (p[1] == "attentions" && j == 0)
        mapped = "middle_block.1." + join_from(p, 3);
    } else if (p.size() > 4 && p[0] == "up_blocks") {
      const int level = index_part(f, name, p[1]), j = index_part(f, name, p[3]);
      if (p[2] == "resnets") {
        mapped = "output_blocks." + std::to_string(level * stride + j) + ".0." +
                 unet_resnet(f, name, join_from(p, 4));
      } else if (p[2] == "attentions") {
        mapped = "output_blocks." + std::to_string(level * stride + j) + ".1." + join_from(p, 4);
      } else if (p[2] == "upsamplers" && j == 0 && p[4] == "conv") {
        // The upsampler follows the level's last ResBlock (and its attention, if any).
        const bool attention = has_prefix(f, "up_blocks." + p[1] + ".attentions.");
        mapped = "output_blocks." + std::to_string(level * stride + per_level) +
                 (attention ? ".2.conv." : ".1.conv.") + join_from(p, 5);
      }
    }
    if (mapped.empty()) unexpected(f, name, "UNet");
    out->add(mapped, file, name);
  }
  out->finish();
  return out;
}

std::shared_ptr<const ModelFile> remap_diffusers_vae(std::shared_ptr<const ModelFile> file) {
  const ModelFile& f = *file;
  const int up_levels = count_indexed(f, "decoder.up_blocks.");
  auto out = std::make_shared<RemappedModelFile>(f.path(), f.format());
  for (const TensorInfo& info : f.tensors()) {
    const std::string& name = info.name;
    const std::vector<std::string> p = split_dots(name);
    std::string mapped;
    Shape shape;
    const bool coder = p[0] == "encoder" || p[0] == "decoder";
    if (name == "quant_conv.weight" || name == "quant_conv.bias" ||
        name == "post_quant_conv.weight" || name == "post_quant_conv.bias") {
      mapped = name;
    } else if (coder && p.size() == 3 && (p[1] == "conv_in" || p[1] == "conv_out")) {
      mapped = name;
    } else if (coder && p.size() == 3 && p[1] == "conv_norm_out") {
      mapped = p[0] + ".norm_out." + p[2];
    } else if (coder && p.size() > 4 && p[1] == "mid_block") {
      const int j = index_part(f, name, p[3]);
      if (p[2] == "resnets" && j <= 1) {
        mapped = p[0] + ".mid.block_" + std::to_string(j + 1) + "." + vae_resnet(join_from(p, 4));
      } else if (p[2] == "attentions" && j == 0) {
        mapped = p[0] + ".mid.attn_1." + vae_attention(f, name, join_from(p, 4));
      }
    } else if (coder && p.size() > 5 && (p[1] == "down_blocks" || p[1] == "up_blocks")) {
      const bool down = p[1] == "down_blocks";
      MMGEN_CHECK(down == (p[0] == "encoder"), f.path().string(), ": tensor '", name,
                  "': the encoder has down_blocks, the decoder up_blocks");
      int level = index_part(f, name, p[2]);
      const int j = index_part(f, name, p[4]);
      if (!down) level = up_levels - 1 - level;  // ldm counts decoder levels from the top
      const std::string stem = p[0] + (down ? ".down." : ".up.") + std::to_string(level) + ".";
      if (p[3] == "resnets")
        mapped = stem + "block." + std::to_string(j) + "." + vae_resnet(join_from(p, 5));
      else if (p[3] == "attentions")
        mapped = stem + "attn." + std::to_string(j) + "." + vae_attention(f, name, join_from(p, 5));
      else if (p[3] == (down ? "downsamplers" : "upsamplers") && j == 0 && p[5] == "conv")
        mapped = stem + (down ? "downsample.conv." : "upsample.conv.") + join_from(p, 6);
    }
    if (mapped.empty()) unexpected(f, name, "VAE");
    // diffusers stores the attention projections as Linear [C, C]; ldm as 1x1 convolutions.
    if (mapped.find(".attn_1.") != std::string::npos ||
        mapped.find(".attn.") != std::string::npos) {
      if (info.shape.size() == 2) shape = {info.shape[0], info.shape[1], 1, 1};
    }
    out->add(mapped, file, name, shape);
  }
  out->finish();
  return out;
}

bool is_diffusers_folder(const fs::path& path) {
  std::error_code error;
  return fs::is_directory(path, error) &&
         (fs::is_regular_file(path / "model_index.json", error) ||
          fs::is_regular_file(path / "unet" / "config.json", error));
}

DiffusersModel open_diffusers_folder(const fs::path& dir) {
  MMGEN_CHECK(fs::is_directory(dir), dir.string(), ": not a folder");
  MMGEN_CHECK(is_diffusers_folder(dir), dir.string(),
              ": a folder that is not a diffusers model (no model_index.json or unet/config.json); "
              "give a checkpoint file (.safetensors, .ckpt) or a diffusers folder");
  if (fs::is_regular_file(dir / "model_index.json")) {
    const json index = read_json(dir / "model_index.json");
    if (index.contains("_class_name") && index["_class_name"].is_string()) {
      const std::string name = index["_class_name"].get<std::string>();
      MMGEN_CHECK(name.find("XL") == std::string::npos, (dir / "model_index.json").string(),
                  ": field '_class_name' is '", name, "'; SDXL pipelines are not supported");
    }
  }
  for (const char* part : {"unet", "vae", "text_encoder"})
    MMGEN_CHECK(fs::is_directory(dir / part), dir.string(), ": the diffusers folder has no ", part,
                "/ subfolder");

  DiffusersModel model;
  {
    const fs::path config_path = dir / "unet" / "config.json";
    const json config = read_json(config_path);
    const auto file = open_shared(
        find_weights(dir / "unet", "diffusion_pytorch_model", "diffusion_pytorch_model"));
    model.unet_options = unet_options_from_config(config, config_path, *file);
    model.sample_size = static_cast<int>(int_field(config, config_path, "sample_size", 0));
    MMGEN_CHECK(model.sample_size >= 0 && model.sample_size <= 4096, config_path.string(),
                ": field 'sample_size' must be in [0, 4096], got ", model.sample_size);
    model.unet = remap_diffusers_unet(file);
  }
  model.vae = open_vae_folder(dir / "vae", &model.latent_scale);
  {
    const fs::path config_path = dir / "text_encoder" / "config.json";
    const json config = read_json(config_path);
    const auto file = open_shared(find_weights(dir / "text_encoder", "model", "pytorch_model"));
    model.clip_options = clip_options_from_config(config, config_path, *file);
    model.text_encoder = file;
  }
  const fs::path scheduler = dir / "scheduler" / "scheduler_config.json";
  model.schedule =
      fs::exists(scheduler) ? schedule_from_config(scheduler) : NoiseSchedule::scaled_linear();
  model.merges = tokenizer_merges(dir / "tokenizer");
  if (fs::exists(dir / kGenerationDefaultsFile))
    model.defaults = read_generation_defaults(dir / kGenerationDefaultsFile);
  return model;
}

GenerationDefaults read_generation_defaults(const fs::path& file) {
  const json config = read_json(file);
  // The field readers take null as "not given"; here null is an error, not the default.
  for (const char* field : {"num_inference_steps", "guidance_scale"})
    MMGEN_CHECK(!(config.contains(field) && config[field].is_null()), file.string(), ": field '",
                field, "' is null; leave it out for the usual setting");
  GenerationDefaults out;
  const int64_t steps = int_field(config, file, "num_inference_steps", out.steps);
  MMGEN_CHECK(steps >= 1 && steps <= 1000, file.string(),
              ": field 'num_inference_steps' must be in [1, 1000], got ", steps);
  out.steps = static_cast<int>(steps);
  const double cfg = number_field(config, file, "guidance_scale", out.cfg_scale);
  MMGEN_CHECK(cfg >= 0.0 && cfg <= 100.0, file.string(),
              ": field 'guidance_scale' must be in [0, 100], got ", cfg);
  out.cfg_scale = static_cast<float>(cfg);
  if (config.contains("sampler")) {
    const json& v = config["sampler"];
    MMGEN_CHECK(v.is_string(), file.string(), ": field 'sampler' must be a sampler name, got ",
                v.dump());
    try {
      out.sampler = parse_sampler(v.get<std::string>());
    } catch (const Error& e) {
      fail(file.string(), ": field 'sampler': ", e.what());
    }
  }
  return out;
}

std::shared_ptr<const ModelFile> open_vae_file(const fs::path& path) {
  std::error_code error;
  if (fs::is_directory(path, error)) {
    MMGEN_CHECK(fs::is_regular_file(path / "config.json"), path.string(),
                ": a VAE folder needs config.json and diffusion_pytorch_model.safetensors "
                "(a diffusers vae/ folder)");
    return open_vae_folder(path, nullptr);
  }
  const auto file = open_shared(path);
  return is_diffusers_vae(*file) ? remap_diffusers_vae(file) : file;
}

}  // namespace mmgen::diffusion
