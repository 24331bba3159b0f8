#include "core/safetensors.h"

#include <algorithm>
#include <array>
#include <cstring>
#include <limits>
#include <unordered_set>

#include "core/atomic_file.h"
#include "core/byte_reader.h"
#include "core/mapped_file.h"
#include "core/mapped_tensor.h"
#include "core/model_file.h"

namespace mmgen {
namespace {

struct DTypeName {
  DType type;
  std::string_view name;
};

constexpr std::array kDTypeNames = {
    DTypeName{DType::kBool, "BOOL"},      DTypeName{DType::kU8, "U8"},
    DTypeName{DType::kI8, "I8"},          DTypeName{DType::kU16, "U16"},
    DTypeName{DType::kI16, "I16"},        DTypeName{DType::kU32, "U32"},
    DTypeName{DType::kI32, "I32"},        DTypeName{DType::kU64, "U64"},
    DTypeName{DType::kI64, "I64"},        DTypeName{DType::kF8E4M3, "F8_E4M3"},
    DTypeName{DType::kF8E5M2, "F8_E5M2"}, DTypeName{DType::kF16, "F16"},
    DTypeName{DType::kBF16, "BF16"},      DTypeName{DType::kF32, "F32"},
    DTypeName{DType::kF64, "F64"},
};

// A header larger than this is corruption, not a real model (the reference caps it too).
constexpr uint64_t kMaxHeaderBytes = 100'000'000;

std::string supported_dtype_list() {
  std::string out;
  for (const auto& d : kDTypeNames) out += (out.empty() ? "" : ", ") + std::string(d.name);
  return out;
}

class SafetensorsFile final : public ModelFile {
 public:
  explicit SafetensorsFile(const std::filesystem::path& path) : ModelFile(path) { parse(); }

  ModelFormat format() const override { return ModelFormat::kSafetensors; }

  Tensor tensor(const std::string& name) const override {
    const size_t i = index_of(name);
    return mapped_tensor(storage_, offsets_[i], infos_[i].shape, infos_[i].dtype);
  }

 private:
  struct Entry {
    TensorInfo info;
    uint64_t begin = 0;
    uint64_t end = 0;
  };

  std::string where() const { return path_.string(); }

  void parse();
  Entry parse_entry(const std::string& name, const nlohmann::json& value, uint64_t data_size) const;
  void parse_metadata(const nlohmann::json& value);

  std::shared_ptr<Storage> storage_;
  std::vector<size_t> offsets_;  // absolute byte offset of each tensor in the file
};

void SafetensorsFile::parse() {
  storage_ = map_file(path_);
  const size_t file_size = storage_->size();
  MMGEN_CHECK(file_size >= 8, where(), ": file of ", file_size,
              " bytes is shorter than the 8-byte safetensors header length");
  ByteReader reader(storage_->data(), file_size, where());
  const uint64_t header_len = reader.read<uint64_t>("header length");
  MMGEN_CHECK(header_len <= kMaxHeaderBytes, where(), ": safetensors header length ", header_len,
              " is absurd (more than ", kMaxHeaderBytes, " bytes); the file is corrupt");
  MMGEN_CHECK(header_len <= file_size - 8, where(), ": safetensors header length ", header_len,
              " runs past the end of the file (", file_size, " bytes); the file is truncated");
  const std::string_view header = reader.read_bytes(header_len, "JSON header");
  const uint64_t data_size = file_size - 8 - header_len;

  // Top-level keys are collected while parsing: the JSON library keeps only the last
  // of duplicate keys, and a duplicate tensor name must be an error.
  std::unordered_set<std::string> keys;
  std::string duplicate;
  nlohmann::json root;
  try {
    root = nlohmann::json::parse(
        header.begin(), header.end(),
        [&](int depth, nlohmann::json::parse_event_t event, nlohmann::json& parsed) {
          if (depth == 1 && event == nlohmann::json::parse_event_t::key && duplicate.empty() &&
              parsed.is_string() && !keys.insert(parsed.get<std::string>()).second)
            duplicate = parsed.get<std::string>();
          return true;
        });
  } catch (const nlohmann::json::exception& e) {
    fail(where(), ": malformed safetensors JSON header: ", e.what());
  }
  MMGEN_CHECK(root.is_object(), where(), ": safetensors header is a JSON ", root.type_name(),
              ", expected an object of tensors");
  MMGEN_CHECK(duplicate.empty(), where(), ": tensor '", duplicate,
              "' appears more than once in the safetensors header");

  std::vector<Entry> entries;
  entries.reserve(root.size());
  for (const auto& [name, value] : root.items()) {
    if (name == "__metadata__") {
      parse_metadata(value);
      continue;
    }
    entries.push_back(parse_entry(name, value, data_size));
  }

  // File order is data order; sorting also exposes overlapping byte ranges.
  std::sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
  });
  for (size_t i = 1; i < entries.size(); ++i) {
    const Entry& prev = entries[i - 1];
    const Entry& cur = entries[i];
    MMGEN_CHECK(prev.end <= cur.begin, where(), ": tensors '", prev.info.name, "' (bytes ",
                prev.begin, "..", prev.end, ") and '", cur.info.name, "' (bytes ", cur.begin, "..",
                cur.end, ") overlap");
  }

  std::vector<TensorInfo> infos;
  infos.reserve(entries.size());
  offsets_.reserve(entries.size());
  for (auto& entry : entries) {
    offsets_.push_back(static_cast<size_t>(8 + header_len + entry.begin));
    infos.push_back(std::move(entry.info));
  }
  set_tensors(std::move(infos));
}

void SafetensorsFile::parse_metadata(const nlohmann::json& value) {
  MMGEN_CHECK(value.is_object(), where(), ": __metadata__ is a JSON ", value.type_name(),
              ", expected an object of strings");
  for (const auto& [key, item] : value.items()) {
    MMGEN_CHECK(item.is_string(), where(), ": __metadata__ entry '", key, "' is a JSON ",
                item.type_name(), ", expected a string");
    metadata_[key] = item;
  }
}

// Reads a non-negative JSON integer, or fails naming the field.
uint64_t json_unsigned(const nlohmann::json& value, const std::string& where,
                       const std::string& field) {
  if (value.is_number_unsigned()) return value.get<uint64_t>();
  if (value.is_number_integer()) {
    fail(where, ": ", field, " is negative (", value.get<int64_t>(), ")");
  }
  fail(where, ": ", field, " is a JSON ", value.type_name(), ", expected a non-negative integer");
}

SafetensorsFile::Entry SafetensorsFile::parse_entry(const std::string& name,
                                                    const nlohmann::json& value,
                                                    uint64_t data_size) const {
  const std::string at = where() + ": tensor '" + name + "'";
  MMGEN_CHECK(value.is_object(), at, ": entry is a JSON ", value.type_name(),
              ", expected an object with dtype, shape and data_offsets");
  const auto dtype_it = value.find("dtype");
  const auto shape_it = value.find("shape");
  const auto offsets_it = value.find("data_offsets");
  MMGEN_CHECK(dtype_it != value.end(), at, ": missing \"dtype\"");
  MMGEN_CHECK(shape_it != value.end(), at, ": missing \"shape\"");
  MMGEN_CHECK(offsets_it != value.end(), at, ": missing \"data_offsets\"");
  MMGEN_CHECK(dtype_it->is_string(), at, ": dtype is a JSON ", dtype_it->type_name(),
              ", expected a string");
  MMGEN_CHECK(shape_it->is_array(), at, ": shape is a JSON ", shape_it->type_name(),
              ", expected an array of integers");
  MMGEN_CHECK(offsets_it->is_array() && offsets_it->size() == 2, at,
              ": data_offsets must be an array [begin, end], got ", offsets_it->dump());

  Entry entry;
  entry.info.name = name;
  const auto dtype_name = dtype_it->get<std::string>();
  const auto dtype = dtype_from_safetensors_name(dtype_name);
  MMGEN_CHECK(dtype.has_value(), at, ": unknown dtype \"", dtype_name,
              "\" (supported: ", supported_dtype_list(), ")");
  entry.info.dtype = *dtype;

  uint64_t bytes = block_bytes(*dtype);
  for (size_t i = 0; i < shape_it->size(); ++i) {
    const uint64_t d = json_unsigned((*shape_it)[i], at, "shape[" + std::to_string(i) + "]");
    MMGEN_CHECK(d <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) &&
                    checked_mul(bytes, d, &bytes),
                at, ": shape ", shape_it->dump(), " is too large");
    entry.info.shape.push_back(static_cast<int64_t>(d));
  }
  entry.begin = json_unsigned((*offsets_it)[0], at, "data_offsets[0]");
  entry.end = json_unsigned((*offsets_it)[1], at, "data_offsets[1]");
  MMGEN_CHECK(entry.begin <= entry.end, at, ": data_offsets [", entry.begin, ", ", entry.end,
              "] end before they begin");
  MMGEN_CHECK(entry.end <= data_size, at, ": data_offsets [", entry.begin, ", ", entry.end,
              "] run past the end of the data section (", data_size,
              " bytes); the file is truncated or corrupt");
  MMGEN_CHECK(entry.end - entry.begin == bytes, at, ": size mismatch: ", dtype_name, " shape ",
              shape_str(entry.info.shape), " needs ", bytes, " bytes but data_offsets [",
              entry.begin, ", ", entry.end, "] hold ", entry.end - entry.begin);
  return entry;
}

}  // namespace

std::string_view safetensors_dtype_name(DType dtype) {
  for (const auto& d : kDTypeNames)
    if (d.type == dtype) return d.name;
  fail("safetensors cannot store ", dtype_name(dtype), " tensors");
}

std::optional<DType> dtype_from_safetensors_name(std::string_view name) {
  for (const auto& d : kDTypeNames)
    if (d.name == name) return d.type;
  return std::nullopt;
}

std::unique_ptr<ModelFile> open_safetensors(const std::filesystem::path& path) {
  return std::make_unique<SafetensorsFile>(path);
}

void write_safetensors(const std::filesystem::path& path,
                       const std::vector<std::pair<std::string, Tensor>>& tensors,
                       const std::map<std::string, std::string>& metadata) {
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata.empty()) {
    auto& meta = header["__metadata__"];
    meta = nlohmann::ordered_json::object();
    for (const auto& [key, value] : metadata) meta[key] = value;
  }
  std::vector<Tensor> host;
  host.reserve(tensors.size());
  uint64_t offset = 0;
  for (const auto& [name, tensor] : tensors) {
    const std::string at = path.string() + ": tensor '" + name + "'";
    MMGEN_CHECK(name != "__metadata__", at, ": the name is reserved for the metadata");
    MMGEN_CHECK(!header.contains(name), at, ": given more than once");
    MMGEN_CHECK(tensor.defined(), at, ": undefined tensor");
    MMGEN_CHECK(!is_quantized(tensor.dtype()), at, ": safetensors cannot store ",
                dtype_name(tensor.dtype()), " tensors");
    Tensor t = tensor.to(Device::cpu()).contiguous();
    const uint64_t bytes = t.nbytes();
    header[name] = {{"dtype", safetensors_dtype_name(t.dtype())},
                    {"shape", t.shape()},
                    {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
    host.push_back(std::move(t));
  }
  std::string text;
  try {
    text = header.dump();
  } catch (const nlohmann::json::exception& e) {
    fail(path.string(), ": cannot encode the safetensors header: ", e.what());
  }
  // Pad with spaces so the data section starts 8-byte aligned.
  text.append((8 - (8 + text.size()) % 8) % 8, ' ');
  const uint64_t header_len = text.size();

  AtomicFileWriter out(path);
  out.write(&header_len, sizeof(header_len));
  out.write(text.data(), text.size());
  for (const Tensor& t : host) out.write(t.data(), t.nbytes());
  out.commit();
}

}  // namespace mmgen
