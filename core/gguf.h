// The GGUF format (versions 2 and 3): "GGUF", version, tensor and key/value counts,
// typed key/value metadata, tensor infos (ggml ne[] order, type id, offset), then the
// aligned data section. Reading goes through ModelFile::open / open_gguf (model_file.h);
// GgufFile adds what only GGUF has. GgufWriter writes version 3 files.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/model_file.h"

namespace mmgen {

// GGUF metadata value types, numbered as in the file.
enum class GgufType : uint32_t {
  kUint8 = 0,
  kInt8 = 1,
  kUint16 = 2,
  kInt16 = 3,
  kUint32 = 4,
  kInt32 = 5,
  kFloat32 = 6,
  kBool = 7,
  kString = 8,
  kArray = 9,
  kUint64 = 10,
  kInt64 = 11,
  kFloat64 = 12,
};

std::string_view gguf_type_name(GgufType type);  // "uint32", "string", ...

// The ggml tensor type id of a dtype and back (0 F32, 1 F16, 2 Q4_0, ... 30 BF16).
std::optional<uint32_t> ggml_type_id(DType dtype);
std::optional<DType> dtype_from_ggml_type(uint32_t id);

// A GGUF file opened by ModelFile::open. metadata() holds every key/value pair:
// integers as JSON integers, floats as JSON floats, bools, strings, arrays as arrays.
// Strings keep their exact bytes (a vocabulary piece need not be valid UTF-8), so dump
// the metadata with nlohmann::json::error_handler_t::replace.
class GgufFile : public ModelFile {
 public:
  ModelFormat format() const override { return ModelFormat::kGguf; }
  Tensor tensor(const std::string& name) const override;

  uint32_t version() const { return version_; }
  uint64_t alignment() const { return alignment_; }
  // Byte offset of the data section in the file.
  uint64_t data_offset() const { return data_offset_; }
  // The GGUF type of a metadata value (for arrays, kArray), or nullopt when absent.
  std::optional<GgufType> value_type(const std::string& key) const;
  // The element type of an array value, or nullopt when absent or not an array.
  std::optional<GgufType> array_type(const std::string& key) const;

 private:
  friend std::unique_ptr<ModelFile> open_gguf(const std::filesystem::path& path);
  explicit GgufFile(const std::filesystem::path& path);
  void parse();

  std::shared_ptr<Storage> storage_;
  uint32_t version_ = 0;
  uint64_t alignment_ = 32;
  uint64_t data_offset_ = 0;
  std::vector<size_t> offsets_;  // absolute byte offset of each tensor
  std::map<std::string, std::pair<GgufType, GgufType>> types_;  // key -> (type, array type)
};

// Builds a GGUF v3 file in memory and writes it atomically.
class GgufWriter {
 public:
  explicit GgufWriter(uint32_t alignment = 32);

  void add_uint8(const std::string& key, uint8_t value);
  void add_int8(const std::string& key, int8_t value);
  void add_uint16(const std::string& key, uint16_t value);
  void add_int16(const std::string& key, int16_t value);
  void add_uint32(const std::string& key, uint32_t value);
  void add_int32(const std::string& key, int32_t value);
  void add_uint64(const std::string& key, uint64_t value);
  void add_int64(const std::string& key, int64_t value);
  void add_float32(const std::string& key, float value);
  void add_float64(const std::string& key, double value);
  void add_bool(const std::string& key, bool value);
  void add_string(const std::string& key, const std::string& value);

  void add_array(const std::string& key, const std::vector<uint8_t>& values);
  void add_array(const std::string& key, const std::vector<int8_t>& values);
  void add_array(const std::string& key, const std::vector<uint16_t>& values);
  void add_array(const std::string& key, const std::vector<int16_t>& values);
  void add_array(const std::string& key, const std::vector<uint32_t>& values);
  void add_array(const std::string& key, const std::vector<int32_t>& values);
  void add_array(const std::string& key, const std::vector<uint64_t>& values);
  void add_array(const std::string& key, const std::vector<int64_t>& values);
  void add_array(const std::string& key, const std::vector<float>& values);
  void add_array(const std::string& key, const std::vector<double>& values);
  void add_bool_array(const std::string& key, const std::vector<bool>& values);
  void add_string_array(const std::string& key, const std::vector<std::string>& values);
  // An array whose elements are arrays of strings.
  void add_string_array_array(const std::string& key,
                              const std::vector<std::vector<std::string>>& values);

  // Any device and layout; stored contiguous with ne[] = the shape reversed. dtype must
  // have a ggml type id (f32, f16, bf16, f64, i8..i64, q-types); at most 4 dimensions.
  void add_tensor(const std::string& name, const Tensor& tensor);

  void write(const std::filesystem::path& path) const;

 private:
  void add_key(const std::string& key, GgufType type);
  template <typename T>
  void add_scalar(const std::string& key, GgufType type, T value);
  template <typename T>
  void add_numeric_array(const std::string& key, GgufType type, const std::vector<T>& values);

  uint32_t alignment_;
  uint64_t kv_count_ = 0;
  std::vector<std::byte> kv_bytes_;
  std::vector<std::string> keys_;
  std::vector<std::pair<std::string, Tensor>> tensors_;
};

}  // namespace mmgen
