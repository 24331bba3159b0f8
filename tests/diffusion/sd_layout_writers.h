// Test fixtures made from the tiny single-file SD1 checkpoint: the same weights as a
// PyTorch zip checkpoint (.ckpt, {"state_dict": {...}} as torch.save writes SD
// checkpoints), as a diffusers folder (the names and config.json fields of diffusers'
// UNet2DConditionModel / AutoencoderKL / CLIPTextModel), and as a standalone VAE.
// The name mappings here run from the original layout to diffusers, the inverse of
// diffusion/diffusers_layout.cpp, written out per block so the two check each other.
#pragma once

#include <zlib.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "core/error.h"
#include "core/model_file.h"
#include "core/safetensors.h"
#include "tests/support/test_support.h"

namespace mmgen::test {

using NamedTensors = std::vector<std::pair<std::string, Tensor>>;

// Tensors of `file` whose name starts with `prefix`, the prefix removed.
inline NamedTensors tensors_under(const ModelFile& file, const std::string& prefix) {
  NamedTensors out;
  for (const TensorInfo& info : file.tensors())
    if (info.name.compare(0, prefix.size(), prefix) == 0)
      out.emplace_back(info.name.substr(prefix.size()), file.tensor(info.name).contiguous());
  return out;
}

// The tensors of `checkpoint` under `prefix` (prefix removed), filtered and edited by
// `keep` (which may rename or replace a tensor; false drops it), written as a
// safetensors file `file_name` in a fresh temporary folder `folder`.
using TensorEdit = std::function<bool(std::string& name, Tensor& tensor)>;
inline std::filesystem::path write_part(const std::filesystem::path& checkpoint,
                                        const std::string& prefix, const std::string& folder,
                                        const std::string& file_name, const TensorEdit& keep) {
  const auto source = ModelFile::open(checkpoint);
  NamedTensors tensors;
  for (auto& [name, tensor] : tensors_under(*source, prefix))
    if (keep(name, tensor)) tensors.emplace_back(name, tensor);
  const auto path = temp_dir(folder) / file_name;
  write_safetensors(path, tensors);
  return path;
}

// ---- PyTorch zip checkpoint ---------------------------------------------------------------

inline uint32_t crc32_of(const std::string& bytes) {
  return static_cast<uint32_t>(
      crc32(0L, reinterpret_cast<const Bytef*>(bytes.data()), static_cast<uInt>(bytes.size())));
}

// A stored (uncompressed) zip archive, as torch.save writes one.
class ZipWriter {
 public:
  void add(const std::string& name, const std::string& data) {
    entries_.push_back({name, static_cast<uint32_t>(out_.size()), crc32_of(data),
                        static_cast<uint32_t>(data.size())});
    put32(0x04034b50);
    put16(20), put16(0), put16(0), put16(0), put16(0x21);
    put32(entries_.back().crc), put32(entries_.back().size), put32(entries_.back().size);
    put16(static_cast<uint16_t>(name.size())), put16(0);
    out_ += name;
    out_ += data;
  }
  std::string finish() {
    const uint32_t directory = static_cast<uint32_t>(out_.size());
    for (const Entry& e : entries_) {
      put32(0x02014b50);
      put16(20), put16(20), put16(0), put16(0), put16(0), put16(0x21);
      put32(e.crc), put32(e.size), put32(e.size);
      put16(static_cast<uint16_t>(e.name.size())), put16(0), put16(0), put16(0), put16(0);
      put32(0), put32(e.offset);
      out_ += e.name;
    }
    const uint32_t size = static_cast<uint32_t>(out_.size()) - directory;
    put32(0x06054b50);
    put16(0), put16(0), put16(static_cast<uint16_t>(entries_.size()));
    put16(static_cast<uint16_t>(entries_.size()));
    put32(size), put32(directory), put16(0);
    return std::move(out_);
  }

 private:
  struct Entry {
    std::string name;
    uint32_t offset, crc, size;
  };
  void put16(uint16_t v) { out_.append(reinterpret_cast<const char*>(&v), 2); }
  void put32(uint32_t v) { out_.append(reinterpret_cast<const char*>(&v), 4); }
  std::string out_;
  std::vector<Entry> entries_;
};

// Writes {"state_dict": {name: tensor}} (or, unwrapped, {name: tensor} as a diffusers
// .bin) as torch.save (zip format, pickle protocol 2) does: every tensor a
// _rebuild_tensor_v2 of its own storage.
inline void write_torch_checkpoint(const std::filesystem::path& path, const NamedTensors& tensors,
                                   bool wrapped = true) {
  std::string pkl = "\x80\x02";
  auto unicode = [&](const std::string& s) {
    const uint32_t n = static_cast<uint32_t>(s.size());
    pkl += 'X';
    pkl.append(reinterpret_cast<const char*>(&n), 4);
    pkl += s;
  };
  auto integer = [&](int64_t v) {
    MMGEN_CHECK(v >= 0 && v < (int64_t{1} << 31), "write_torch_checkpoint: value too large");
    const int32_t n = static_cast<int32_t>(v);
    pkl += 'J';
    pkl.append(reinterpret_cast<const char*>(&n), 4);
  };
  auto storage_type = [](DType dtype) -> std::string {
    switch (dtype) {
      case DType::kF16:
        return "HalfStorage";
      case DType::kF32:
        return "FloatStorage";
      case DType::kBF16:
        return "BFloat16Storage";
      case DType::kI64:
        return "LongStorage";
      case DType::kI32:
        return "IntStorage";
      default:
        fail("write_torch_checkpoint: unsupported dtype");
    }
  };
  ZipWriter zip;
  if (wrapped) {
    pkl += "}";
    unicode("state_dict");
  }
  pkl += "}(";
  for (size_t i = 0; i < tensors.size(); ++i) {
    const Tensor t = tensors[i].second.contiguous();
    const std::string key = std::to_string(i);
    unicode(tensors[i].first);
    pkl += "ctorch._utils\n_rebuild_tensor_v2\n(";
    pkl += "(";
    unicode("storage");
    pkl += "ctorch\n" + storage_type(t.dtype()) + "\n";
    unicode(key);
    unicode("cpu");
    integer(t.numel());
    pkl += "tQ";  // the persistent id tuple
    integer(0);
    pkl += "(";
    for (int64_t d : t.shape()) integer(d);
    pkl += "t(";
    int64_t stride = 1;
    std::vector<int64_t> strides(t.shape().size());
    for (size_t d = strides.size(); d-- > 0;) strides[d] = stride, stride *= t.shape()[d];
    for (int64_t s : strides) integer(s);
    pkl += "t\x89";
    pkl += "ccollections\nOrderedDict\n)R";
    pkl += "tR";
    zip.add("archive/data/" + key, std::string(static_cast<const char*>(t.data()), t.nbytes()));
  }
  pkl += wrapped ? "us." : "u.";
  zip.add("archive/data.pkl", pkl);
  zip.add("archive/version", "3\n");
  std::ofstream out(path, std::ios::binary);
  const std::string bytes = zip.finish();
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  MMGEN_CHECK(out.good(), path.string(), ": cannot write");
}

// ---- original -> diffusers names ----------------------------------------------------------

inline std::vector<std::string> dotted(const std::string& name) {
  std::vector<std::string> parts;
  size_t start = 0, dot;
  while ((dot = name.find('.', start)) != std::string::npos) {
    parts.push_back(name.substr(start, dot - start));
    start = dot + 1;
  }
  parts.push_back(name.substr(start));
  return parts;
}

inline std::string rest_of(const std::vector<std::string>& p, size_t first) {
  std::string out;
  for (size_t i = first; i < p.size(); ++i) out += (i == first ? "" : ".") + p[i];
  return out;
}

inline std::string replace_head(const std::string& s,
                                const std::vector<std::pair<std::string, std::string>>& names) {
  for (const auto& [from, to] : names)
    if (s.compare(0, from.size(), from) == 0) return to + s.substr(from.size());
  return s;
}

// ldm UNet (no prefix) -> diffusers UNet2DConditionModel, for `per_level` ResBlocks per level.
inline std::string diffusers_unet_name(const std::string& name, int per_level,
                                       const std::function<bool(int)>& up_level_has_attention) {
  const auto resnet = [](const std::string& r) {
    return replace_head(r, {{"in_layers.0.", "norm1."},
                            {"in_layers.2.", "conv1."},
                            {"emb_layers.1.", "time_emb_proj."},
                            {"out_layers.0.", "norm2."},
                            {"out_layers.3.", "conv2."},
                            {"skip_connection.", "conv_shortcut."}});
  };
  const std::vector<std::string> p = dotted(name);
  if (p[0] == "time_embed")
    return (p[1] == "0" ? "time_embedding.linear_1." : "time_embedding.linear_2.") + p[2];
  if (p[0] == "out") return (p[1] == "0" ? "conv_norm_out." : "conv_out.") + p[2];
  if (p[0] == "input_blocks" && p[1] == "0") return "conv_in." + p[3];
  if (p[0] == "input_blocks") {
    const int b = std::stoi(p[1]) - 1, level = b / (per_level + 1), j = b % (per_level + 1);
    const std::string down = "down_blocks." + std::to_string(level) + ".";
    if (j == per_level) return down + "downsamplers.0.conv." + p[4];  // "<b>.0.op.<x>"
    if (p[2] == "0") return down + "resnets." + std::to_string(j) + "." + resnet(rest_of(p, 3));
    return down + "attentions." + std::to_string(j) + "." + rest_of(p, 3);
  }
  if (p[0] == "middle_block") {
    if (p[1] == "1") return "mid_block.attentions.0." + rest_of(p, 2);
    return "mid_block.resnets." + std::string(p[1] == "0" ? "0" : "1") + "." +
           resnet(rest_of(p, 2));
  }
  if (p[0] == "output_blocks") {
    const int b = std::stoi(p[1]), level = b / (per_level + 1), j = b % (per_level + 1);
    const std::string up = "up_blocks." + std::to_string(level) + ".";
    if (p[2] == "0") return up + "resnets." + std::to_string(j) + "." + resnet(rest_of(p, 3));
    const bool attention = up_level_has_attention(level);
    if ((p[2] == "1" && !attention) || p[2] == "2") return up + "upsamplers.0.conv." + p[4];
    return up + "attentions." + std::to_string(j) + "." + rest_of(p, 3);
  }
  fail("diffusers_unet_name: unexpected UNet tensor ", name);
}

// ldm AutoencoderKL (no prefix) -> diffusers AutoencoderKL; `levels` of the decoder.
// `old_attention`: the attention names of diffusers before 0.14 (query, key, value, proj_attn).
inline std::string diffusers_vae_name(const std::string& name, int levels, bool old_attention) {
  const auto attention = [&](const std::string& r) {
    if (old_attention)
      return replace_head(r, {{"norm.", "group_norm."},
                              {"q.", "query."},
                              {"k.", "key."},
                              {"v.", "value."},
                              {"proj_out.", "proj_attn."}});
    return replace_head(r, {{"norm.", "group_norm."},
                            {"q.", "to_q."},
                            {"k.", "to_k."},
                            {"v.", "to_v."},
                            {"proj_out.", "to_out.0."}});
  };
  const auto resnet = [](const std::string& r) {
    return replace_head(r, {{"nin_shortcut.", "conv_shortcut."}});
  };
  const std::vector<std::string> p = dotted(name);
  if (p[0] != "encoder" && p[0] != "decoder") return name;  // quant_conv, post_quant_conv
  if (p[1] == "norm_out") return p[0] + ".conv_norm_out." + p[2];
  if (p[1] == "mid") {
    if (p[2] == "attn_1") return p[0] + ".mid_block.attentions.0." + attention(rest_of(p, 3));
    return p[0] + ".mid_block.resnets." + (p[2] == "block_1" ? "0." : "1.") + resnet(rest_of(p, 3));
  }
  if (p[1] == "down" || p[1] == "up") {
    const int level = p[1] == "down" ? std::stoi(p[2]) : levels - 1 - std::stoi(p[2]);
    const std::string block =
        p[0] + (p[1] == "down" ? ".down_blocks." : ".up_blocks.") + std::to_string(level) + ".";
    if (p[3] == "block") return block + "resnets." + p[4] + "." + resnet(rest_of(p, 5));
    if (p[3] == "attn") return block + "attentions." + p[4] + "." + attention(rest_of(p, 5));
    return block + (p[1] == "down" ? "downsamplers.0.conv." : "upsamplers.0.conv.") + p[5];
  }
  return name;  // conv_in, conv_out
}

// The VAE of a checkpoint in diffusers names; attention weights as Linear [C, C].
inline NamedTensors diffusers_vae_tensors(const ModelFile& checkpoint, bool old_attention = false) {
  const NamedTensors vae = tensors_under(checkpoint, "first_stage_model.");
  int levels = 0;
  for (const auto& [name, t] : vae)
    if (name.rfind("decoder.up.", 0) == 0)
      levels = std::max(levels, std::stoi(dotted(name)[2]) + 1);
  NamedTensors out;
  for (const auto& [name, t] : vae) {
    Tensor value = t;
    if (name.find("attn") != std::string::npos && t.ndim() == 4)
      value = t.reshape({t.dim(0), t.dim(1)});
    out.emplace_back(diffusers_vae_name(name, levels, old_attention), value);
  }
  return out;
}

inline void write_json(const std::filesystem::path& path, const nlohmann::json& value) {
  std::ofstream(path) << value.dump(2);
}

// The checkpoint as a diffusers folder. The sizes in the config files are those of the
// tiny checkpoint (docs: ../shared/golden/sd1/manifest.json); CLIP has 4 heads.
inline void write_diffusers_folder(const ModelFile& checkpoint, const std::filesystem::path& dir) {
  namespace fs = std::filesystem;
  for (const char* part : {"unet", "vae", "text_encoder", "scheduler"})
    fs::create_directories(dir / part);
  write_json(dir / "model_index.json", {{"_class_name", "StableDiffusionPipeline"},
                                        {"_diffusers_version", "0.21.0"},
                                        {"scheduler", {"diffusers", "PNDMScheduler"}},
                                        {"text_encoder", {"transformers", "CLIPTextModel"}},
                                        {"tokenizer", {"transformers", "CLIPTokenizer"}},
                                        {"unet", {"diffusers", "UNet2DConditionModel"}},
                                        {"vae", {"diffusers", "AutoencoderKL"}}});

  const NamedTensors unet = tensors_under(checkpoint, "model.diffusion_model.");
  const int per_level = 2;
  const auto up_attention = [&](int level) {
    const int first = level * (per_level + 1);
    for (const auto& [name, t] : unet)
      if (name.rfind("output_blocks." + std::to_string(first) + ".1.proj_in", 0) == 0) return true;
    return false;
  };
  NamedTensors unet_out;
  for (const auto& [name, t] : unet)
    unet_out.emplace_back(diffusers_unet_name(name, per_level, up_attention), t);
  write_safetensors(dir / "unet" / "diffusion_pytorch_model.safetensors", unet_out);
  write_json(
      dir / "unet" / "config.json",
      {{"_class_name", "UNet2DConditionModel"},
       {"act_fn", "silu"},
       {"attention_head_dim", 8},
       {"block_out_channels", {32, 64, 128, 128}},
       {"center_input_sample", false},
       {"cross_attention_dim", 64},
       {"down_block_types",
        {"CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"}},
       {"downsample_padding", 1},
       {"flip_sin_to_cos", true},
       {"freq_shift", 0},
       {"in_channels", 4},
       {"layers_per_block", 2},
       {"mid_block_scale_factor", 1},
       {"norm_eps", 1e-05},
       {"norm_num_groups", 32},
       {"out_channels", 4},
       {"sample_size", 32},
       {"up_block_types",
        {"UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"}}});

  write_safetensors(dir / "vae" / "diffusion_pytorch_model.safetensors",
                    diffusers_vae_tensors(checkpoint));
  write_json(
      dir / "vae" / "config.json",
      {{"_class_name", "AutoencoderKL"},
       {"act_fn", "silu"},
       {"block_out_channels", {32, 64, 128, 128}},
       {"down_block_types",
        {"DownEncoderBlock2D", "DownEncoderBlock2D", "DownEncoderBlock2D", "DownEncoderBlock2D"}},
       {"in_channels", 3},
       {"latent_channels", 4},
       {"layers_per_block", 2},
       {"norm_num_groups", 32},
       {"out_channels", 3},
       {"sample_size", 64},
       {"scaling_factor", 0.18215},
       {"up_block_types",
        {"UpDecoderBlock2D", "UpDecoderBlock2D", "UpDecoderBlock2D", "UpDecoderBlock2D"}}});

  NamedTensors clip;
  for (auto& [name, t] : tensors_under(checkpoint, "cond_stage_model.transformer."))
    clip.emplace_back(name, t);
  write_safetensors(dir / "text_encoder" / "model.safetensors", clip);
  int64_t hidden = 0, vocab = 0, layers = 0;
  for (const auto& [name, t] : clip) {
    if (name == "text_model.embeddings.token_embedding.weight") vocab = t.dim(0), hidden = t.dim(1);
    if (name.rfind("text_model.encoder.layers.", 0) == 0)
      layers = std::max<int64_t>(layers, std::stoi(dotted(name)[3]) + 1);
  }
  write_json(dir / "text_encoder" / "config.json", {{"architectures", {"CLIPTextModel"}},
                                                    {"hidden_act", "quick_gelu"},
                                                    {"hidden_size", hidden},
                                                    {"intermediate_size", 4 * hidden},
                                                    {"layer_norm_eps", 1e-05},
                                                    {"max_position_embeddings", 77},
                                                    {"model_type", "clip_text_model"},
                                                    {"num_attention_heads", 4},
                                                    {"num_hidden_layers", layers},
                                                    {"vocab_size", vocab}});
  write_json(dir / "scheduler" / "scheduler_config.json", {{"_class_name", "PNDMScheduler"},
                                                           {"beta_end", 0.012},
                                                           {"beta_schedule", "scaled_linear"},
                                                           {"beta_start", 0.00085},
                                                           {"num_train_timesteps", 1000},
                                                           {"set_alpha_to_one", false},
                                                           {"skip_prk_steps", true},
                                                           {"steps_offset", 1}});
}

}  // namespace mmgen::test
