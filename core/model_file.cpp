#include "core/model_file.h"

#include <array>
#include <cstring>
#include <fstream>
#include <system_error>

#include "core/error.h"

namespace mmgen {

std::string_view model_format_name(ModelFormat format) {
  switch (format) {
    case ModelFormat::kSafetensors:
      return "safetensors";
    case ModelFormat::kGguf:
      return "gguf";
    case ModelFormat::kTorch:
      return "pytorch";
  }
  return "unknown";
}

void ModelFile::set_tensors(std::vector<TensorInfo> infos) {
  std::unordered_map<std::string, size_t> index;
  index.reserve(infos.size());
  for (size_t i = 0; i < infos.size(); ++i) {
    const bool inserted = index.emplace(infos[i].name, i).second;
    MMGEN_CHECK(inserted, path_.string(), ": tensor '", infos[i].name, "' appears more than once");
  }
  infos_ = std::move(infos);
  index_ = std::move(index);
}

bool ModelFile::contains(const std::string& name) const { return index_.count(name) != 0; }

size_t ModelFile::index_of(const std::string& name) const {
  const auto it = index_.find(name);
  MMGEN_CHECK(it != index_.end(), path_.string(), ": no tensor '", name, "'");
  return it->second;
}

const TensorInfo& ModelFile::info(const std::string& name) const { return infos_[index_of(name)]; }

namespace {

constexpr const char* kExpectedFormats =
    "expected safetensors (8-byte header length, then '{'), GGUF (\"GGUF\"), or a PyTorch "
    "checkpoint (zip \"PK\\x03\\x04\" or pickle 0x80)";

}  // namespace

std::unique_ptr<ModelFile> ModelFile::open(const std::filesystem::path& path) {
  std::error_code ec;
  const auto status = std::filesystem::status(path, ec);
  MMGEN_CHECK(std::filesystem::exists(status), path.string(), ": no such file");
  MMGEN_CHECK(std::filesystem::is_regular_file(status), path.string(), ": not a regular file");

  std::array<unsigned char, 9> head{};
  std::ifstream in(path, std::ios::binary);
  MMGEN_CHECK(in.good(), path.string(), ": cannot open for reading");
  in.read(reinterpret_cast<char*>(head.data()), head.size());
  const auto got = static_cast<size_t>(in.gcount());
  MMGEN_CHECK(got > 0, path.string(), ": file is empty; ", kExpectedFormats);

  if (got >= 4 && std::memcmp(head.data(), "GGUF", 4) == 0) return open_gguf(path);
  if (got >= 4 && std::memcmp(head.data(), "PK\x03\x04", 4) == 0)
    return open_torch_checkpoint(path);
  if (got >= 9 && head[8] == '{') {
    // A safetensors header length may itself start with 0x80 (e.g. 384 bytes); only a
    // length that cannot fit the file makes such a start a pickle instead.
    uint64_t header_len;
    std::memcpy(&header_len, head.data(), 8);
    const auto size = std::filesystem::file_size(path, ec);
    if (head[0] != 0x80 || (!ec && size >= 8 && header_len <= size - 8))
      return open_safetensors(path);
  }
  if (head[0] == 0x80) return open_torch_checkpoint(path);
  if (got < 9)
    fail(path.string(), ": file of ", got, " bytes is too short to be a model file; ",
         kExpectedFormats);
  fail(path.string(), ": unrecognised model file format; ", kExpectedFormats);
}

}  // namespace mmgen
