// One interface over the weight-file formats users have: safetensors, GGUF and
// PyTorch checkpoints (.ckpt/.pth). Tensors are views into the memory-mapped
// file where the format allows; every error names the file and the tensor.
#pragma once

#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/tensor.h"

namespace mmgen {

enum class ModelFormat { kSafetensors, kGguf, kTorch };
std::string_view model_format_name(ModelFormat format);  // "safetensors", "gguf", "pytorch"

struct TensorInfo {
  std::string name;
  DType dtype = DType::kF32;
  Shape shape;  // PyTorch order (outermost first); GGUF's ne[] is reversed into it
};

class ModelFile {
 public:
  virtual ~ModelFile() = default;

  // Opens by content (magic bytes), not by extension. Throws Error naming the
  // file for anything unreadable, malformed or inconsistent.
  static std::unique_ptr<ModelFile> open(const std::filesystem::path& path);

  virtual ModelFormat format() const = 0;
  const std::filesystem::path& path() const { return path_; }

  // Tensor names in file order.
  const std::vector<TensorInfo>& tensors() const { return infos_; }
  bool contains(const std::string& name) const;
  // Throws "<file>: no tensor '<name>'" when absent.
  const TensorInfo& info(const std::string& name) const;
  // A view into the mapped file (or a decoded copy where the format needs one).
  virtual Tensor tensor(const std::string& name) const = 0;

  // Format metadata as JSON: safetensors' __metadata__ (string -> string), GGUF's
  // key/value pairs (arrays as JSON arrays), a checkpoint's non-tensor entries.
  const nlohmann::json& metadata() const { return metadata_; }

 protected:
  explicit ModelFile(std::filesystem::path path) : path_(std::move(path)) {}
  // Builds the name index; throws on duplicate names.
  void set_tensors(std::vector<TensorInfo> infos);
  size_t index_of(const std::string& name) const;  // throws when absent

  std::filesystem::path path_;
  std::vector<TensorInfo> infos_;
  std::unordered_map<std::string, size_t> index_;
  nlohmann::json metadata_ = nlohmann::json::object();
};

// The format readers behind ModelFile::open (core/safetensors.cpp, core/gguf.cpp,
// core/torch_checkpoint.cpp).
std::unique_ptr<ModelFile> open_safetensors(const std::filesystem::path& path);
std::unique_ptr<ModelFile> open_gguf(const std::filesystem::path& path);
std::unique_ptr<ModelFile> open_torch_checkpoint(const std::filesystem::path& path);

}  // namespace mmgen
