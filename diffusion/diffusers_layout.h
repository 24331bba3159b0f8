// Stable Diffusion models in the diffusers folder layout (model_index.json, unet/,
// vae/, text_encoder/, tokenizer/, scheduler/) and standalone VAE files. The
// diffusers tensor names are mapped onto the original (ldm/CompVis) names the
// networks load, so one loader serves both forms; the sizes the tensors cannot
// tell (head counts, latent scale, noise schedule) come from the config files,
// and every size a config states is checked against the tensors. docs/model-files.md.
#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "core/model_file.h"
#include "diffusion/generation_defaults.h"
#include "diffusion/schedule.h"
#include "diffusion/unet_config.h"
#include "text/clip_text_model.h"

namespace mmgen::diffusion {

// A view of other model files under new tensor names: each tensor is a source
// tensor, reshaped where the new name expects another (same-size) shape. The
// sources stay open as long as this file. path() names the (main) source file,
// so errors point at the file on disk.
class RemappedModelFile : public ModelFile {
 public:
  RemappedModelFile(std::filesystem::path path, ModelFormat format);
  // Adds `name` as `source_name` of `source`, reshaped to `shape` (empty: as stored).
  void add(const std::string& name, std::shared_ptr<const ModelFile> source,
           const std::string& source_name, Shape shape = {});
  // Builds the name index; call once after the last add(). Throws on duplicates.
  void finish();
  ModelFormat format() const override { return format_; }
  Tensor tensor(const std::string& name) const override;

 private:
  struct Entry {
    std::shared_ptr<const ModelFile> source;
    std::string source_name;
    Shape shape;
  };
  ModelFormat format_;
  std::vector<TensorInfo> pending_;
  std::vector<Entry> entries_;  // parallel to tensors()
};

// True for a folder holding model_index.json or unet/config.json.
bool is_diffusers_folder(const std::filesystem::path& path);

// The parts of a diffusers Stable Diffusion folder, in original names.
struct DiffusersModel {
  std::shared_ptr<const ModelFile> unet;          // input_blocks.*, middle_block.*, ... (no prefix)
  std::shared_ptr<const ModelFile> vae;           // encoder.*, decoder.*, quant_conv.* (no prefix)
  std::shared_ptr<const ModelFile> text_encoder;  // text_model.* (HF names, as stored)
  UNetOptions unet_options;                       // heads from unet/config.json
  text::ClipTextOptions clip_options;  // heads, activation, eps from text_encoder/config.json
  NoiseSchedule schedule;              // from scheduler/scheduler_config.json
  float latent_scale = 0.18215f;       // vae/config.json scaling_factor
  int sample_size = 0;                 // unet/config.json sample_size (latent side); 0: not given
  std::filesystem::path merges;        // tokenizer/merges.txt; empty when absent
  GenerationDefaults defaults;         // generation_defaults.json, else SD's usual settings
};

// Opens the folder: weights (.safetensors preferred, else PyTorch .bin) and
// config.json of unet/, vae/ and text_encoder/, the scheduler config and the
// tokenizer files. Throws Error naming the file or config field for a missing
// part, an unsupported setting or a config size that contradicts the tensors.
DiffusersModel open_diffusers_folder(const std::filesystem::path& dir);

// A folder's generation_defaults.json; a missing key keeps the usual setting. Throws Error
// naming the file and field for malformed JSON, a value of the wrong type or out of range
// (steps 1-1000, guidance 0-100) or an unknown sampler.
GenerationDefaults read_generation_defaults(const std::filesystem::path& file);

// A diffusers UNet / VAE state dict (already opened) in original names, without
// a prefix. Throws naming the file and tensor for a name outside the layout.
std::shared_ptr<const ModelFile> remap_diffusers_unet(std::shared_ptr<const ModelFile> file);
std::shared_ptr<const ModelFile> remap_diffusers_vae(std::shared_ptr<const ModelFile> file);

// A VAE given on its own (--vae): a file in the original layout (with or without
// "first_stage_model."), a diffusers VAE state dict, or a diffusers vae/ folder
// (config.json + weights). Returns it in original names.
std::shared_ptr<const ModelFile> open_vae_file(const std::filesystem::path& path);

}  // namespace mmgen::diffusion
