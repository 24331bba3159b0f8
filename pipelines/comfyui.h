// ComfyUI API-format workflows ("Save (API format)": node id -> {"class_type",
// "inputs"}, an input a literal or [node id, output index]) made of the core
// Stable Diffusion nodes, mapped onto mmgen nodes (docs/pipelines.md):
// KSampler -> diffusion.txt2img (with its checkpoint, prompts and latent size),
// SaveImage -> io.save_image; CheckpointLoaderSimple, CLIPTextEncode,
// EmptyLatentImage and VAEDecode are folded into those. Any other node is an
// error naming it.
#pragma once

#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>

#include "pipelines/definition.h"

namespace mmgen::pipelines {

// True for a JSON object whose entries are all {"class_type": ..., ...} (or a
// {"prompt": {...}} request body holding such an object).
bool is_comfyui_workflow(const nlohmann::ordered_json& root);

PipelineDefinition import_comfyui(const nlohmann::ordered_json& root, const std::string& source,
                                  const std::filesystem::path& base_dir);

// The mmgen sampler for ComfyUI's sampler_name and scheduler; Error when mmgen has none.
std::string comfyui_sampler(const std::string& sampler_name, const std::string& scheduler);

}  // namespace mmgen::pipelines
