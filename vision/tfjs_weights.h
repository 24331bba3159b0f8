// TF.js weight manifests: the model.json "weightsManifest" (or a bare
// *-weights_manifest.json array) naming binary shards and the tensors packed in them.
// Quantised weights (uint8 / uint16 with scale and min, or float16) are dequantised
// to f32 on load: value = q * scale + min.
#pragma once

#include <filesystem>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/tensor.h"

namespace mmgen::vision {

class TfjsWeights {
 public:
  TfjsWeights() = default;
  TfjsWeights(std::map<std::string, Tensor> tensors, std::string source);

  bool contains(const std::string& name) const { return tensors_.count(name) != 0; }
  // The tensor, in TF.js layout (convolutions HWIO, depthwise [kh, kw, C, 1]); throws
  // Error naming the manifest when missing or when its shape differs from `shape`
  // (an empty `shape` accepts any).
  const Tensor& get(const std::string& name, const Shape& shape = {}) const;
  const std::map<std::string, Tensor>& tensors() const { return tensors_; }
  const std::string& source() const { return source_; }

 private:
  std::map<std::string, Tensor> tensors_;
  std::string source_;  // the manifest path, for error messages
};

// Reads a manifest and its shards (paths relative to the manifest's folder).
TfjsWeights read_tfjs_weights(const std::filesystem::path& manifest_path);

// Parses an already-read manifest; `shards` returns the bytes of a shard path as
// named in the manifest. `source` names the manifest in error messages.
using ShardReader = std::function<std::vector<uint8_t>(const std::string& path)>;
TfjsWeights parse_tfjs_weights(const nlohmann::json& manifest, const ShardReader& shards,
                               const std::string& source);

}  // namespace mmgen::vision
