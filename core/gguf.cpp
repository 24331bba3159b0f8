#include "core/gguf.h"

#include <algorithm>
#include <array>
#include <bit>
#include <cstring>
#include <limits>
#include <unordered_set>

#include "core/atomic_file.h"
#include "core/byte_reader.h"
#include "core/mapped_file.h"
#include "core/mapped_tensor.h"

namespace mmgen {
namespace {

constexpr uint32_t kMaxDims = 4;     // GGML_MAX_DIMS
constexpr int kMaxArrayNesting = 8;  // arrays of arrays deeper than this are corruption
constexpr uint64_t kDefaultAlignment = 32;

struct GgmlType {
  uint32_t id;
  DType dtype;
};

constexpr std::array kGgmlTypes = {
    GgmlType{0, DType::kF32},   GgmlType{1, DType::kF16},   GgmlType{2, DType::kQ4_0},
    GgmlType{3, DType::kQ4_1},  GgmlType{6, DType::kQ5_0},  GgmlType{7, DType::kQ5_1},
    GgmlType{8, DType::kQ8_0},  GgmlType{10, DType::kQ2_K}, GgmlType{11, DType::kQ3_K},
    GgmlType{12, DType::kQ4_K}, GgmlType{13, DType::kQ5_K}, GgmlType{14, DType::kQ6_K},
    GgmlType{15, DType::kQ8_K}, GgmlType{24, DType::kI8},   GgmlType{25, DType::kI16},
    GgmlType{26, DType::kI32},  GgmlType{27, DType::kI64},  GgmlType{28, DType::kF64},
    GgmlType{30, DType::kBF16},
};

// Names of ggml types that exist but are not supported, for the error message.
std::string_view unsupported_ggml_type_name(uint32_t id) {
  switch (id) {
    case 4:
    case 5:
      return "a removed Q4_2/Q4_3 type";
    case 9:
      return "Q8_1";
    case 16:
      return "IQ2_XXS";
    case 17:
      return "IQ2_XS";
    case 18:
      return "IQ3_XXS";
    case 19:
      return "IQ1_S";
    case 20:
      return "IQ4_NL";
    case 21:
      return "IQ3_S";
    case 22:
      return "IQ2_S";
    case 23:
      return "IQ4_XS";
    case 29:
      return "IQ1_M";
    case 34:
      return "TQ1_0";
    case 35:
      return "TQ2_0";
    case 39:
      return "MXFP4";
    default:
      return "unknown";
  }
}

bool valid_type(uint32_t t) { return t <= static_cast<uint32_t>(GgufType::kFloat64); }

// Bytes of a scalar value type, or the least bytes one element of the type occupies.
uint64_t min_value_bytes(GgufType t) {
  switch (t) {
    case GgufType::kUint8:
    case GgufType::kInt8:
    case GgufType::kBool:
      return 1;
    case GgufType::kUint16:
    case GgufType::kInt16:
      return 2;
    case GgufType::kUint32:
    case GgufType::kInt32:
    case GgufType::kFloat32:
      return 4;
    case GgufType::kUint64:
    case GgufType::kInt64:
    case GgufType::kFloat64:
    case GgufType::kString:  // its u64 length
      return 8;
    case GgufType::kArray:  // element type + count
      return 12;
  }
  return 1;
}

class HeaderParser {
 public:
  HeaderParser(ByteReader& reader) : r_(reader) {}

  std::string_view read_string(std::string_view what) {
    const uint64_t length = r_.read<uint64_t>(what);
    return r_.read_bytes(length, what);
  }

  GgufType read_type(const std::string& key) {
    const uint32_t t = r_.read<uint32_t>("value type");
    MMGEN_CHECK(valid_type(t), r_.context(), ": metadata key '", key, "' has invalid value type ",
                t, " (expected 0..12)");
    return static_cast<GgufType>(t);
  }

  // The value of metadata key `key`; what_ names it in truncation errors.
  nlohmann::json read_value(GgufType type, const std::string& key, GgufType* array_type) {
    what_ = "value of metadata key '" + key + "'";
    return read_any(type, key, 0, array_type);
  }

 private:
  nlohmann::json read_any(GgufType type, const std::string& key, int depth,
                          GgufType* array_type = nullptr) {
    switch (type) {
      case GgufType::kUint8:
        return r_.read<uint8_t>(what_);
      case GgufType::kInt8:
        return r_.read<int8_t>(what_);
      case GgufType::kUint16:
        return r_.read<uint16_t>(what_);
      case GgufType::kInt16:
        return r_.read<int16_t>(what_);
      case GgufType::kUint32:
        return r_.read<uint32_t>(what_);
      case GgufType::kInt32:
        return r_.read<int32_t>(what_);
      case GgufType::kUint64:
        return r_.read<uint64_t>(what_);
      case GgufType::kInt64:
        return r_.read<int64_t>(what_);
      case GgufType::kFloat32:
        return static_cast<double>(r_.read<float>(what_));
      case GgufType::kFloat64:
        return r_.read<double>(what_);
      case GgufType::kBool:
        return r_.read<uint8_t>(what_) != 0;
      case GgufType::kString:
        return std::string(read_string(what_));
      case GgufType::kArray:
        return read_array(key, depth, array_type);
    }
    fail(r_.context(), ": metadata key '", key, "' has an invalid value type");
  }

  nlohmann::json read_array(const std::string& key, int depth, GgufType* array_type) {
    MMGEN_CHECK(depth < kMaxArrayNesting, r_.context(), ": metadata key '", key,
                "' nests arrays more than ", kMaxArrayNesting, " deep");
    const GgufType element = read_type(key);
    if (array_type) *array_type = element;
    const uint64_t count = r_.read<uint64_t>(what_);
    // Check the count against the bytes left before allocating anything for it.
    MMGEN_CHECK(count <= r_.remaining() / min_value_bytes(element), r_.context(),
                ": metadata key '", key, "': array of ", count, " ", gguf_type_name(element),
                " values cannot fit in the ", r_.remaining(), " bytes left; the file is corrupt");
    nlohmann::json out = nlohmann::json::array();
    auto& items = out.get_ref<nlohmann::json::array_t&>();
    items.reserve(static_cast<size_t>(count));
    for (uint64_t i = 0; i < count; ++i) items.push_back(read_any(element, key, depth + 1));
    return out;
  }

  ByteReader& r_;
  std::string what_;
};

}  // namespace

std::string_view gguf_type_name(GgufType type) {
  switch (type) {
    case GgufType::kUint8:
      return "uint8";
    case GgufType::kInt8:
      return "int8";
    case GgufType::kUint16:
      return "uint16";
    case GgufType::kInt16:
      return "int16";
    case GgufType::kUint32:
      return "uint32";
    case GgufType::kInt32:
      return "int32";
    case GgufType::kFloat32:
      return "float32";
    case GgufType::kBool:
      return "bool";
    case GgufType::kString:
      return "string";
    case GgufType::kArray:
      return "array";
    case GgufType::kUint64:
      return "uint64";
    case GgufType::kInt64:
      return "int64";
    case GgufType::kFloat64:
      return "float64";
  }
  return "invalid";
}

std::optional<uint32_t> ggml_type_id(DType dtype) {
  for (const auto& t : kGgmlTypes)
    if (t.dtype == dtype) return t.id;
  return std::nullopt;
}

std::optional<DType> dtype_from_ggml_type(uint32_t id) {
  for (const auto& t : kGgmlTypes)
    if (t.id == id) return t.dtype;
  return std::nullopt;
}

GgufFile::GgufFile(const std::filesystem::path& path) : ModelFile(path) { parse(); }

std::unique_ptr<ModelFile> open_gguf(const std::filesystem::path& path) {
  return std::unique_ptr<ModelFile>(new GgufFile(path));
}

Tensor GgufFile::tensor(const std::string& name) const {
  const size_t i = index_of(name);
  return mapped_tensor(storage_, offsets_[i], infos_[i].shape, infos_[i].dtype);
}

std::optional<GgufType> GgufFile::value_type(const std::string& key) const {
  const auto it = types_.find(key);
  if (it == types_.end()) return std::nullopt;
  return it->second.first;
}

std::optional<GgufType> GgufFile::array_type(const std::string& key) const {
  const auto it = types_.find(key);
  if (it == types_.end() || it->second.first != GgufType::kArray) return std::nullopt;
  return it->second.second;
}

void GgufFile::parse() {
  const std::string file = path_.string();
  storage_ = map_file(path_);
  ByteReader r(storage_->data(), storage_->size(), file);
  HeaderParser p(r);

  MMGEN_CHECK(r.read_bytes(4, "magic") == "GGUF", file, ": not a GGUF file (no \"GGUF\" magic)");
  version_ = r.read<uint32_t>("version");
  if (version_ != 2 && version_ != 3) {
    const uint32_t swapped = __builtin_bswap32(version_);
    MMGEN_CHECK(swapped < 1 || swapped > 3, file,
                ": big-endian GGUF files are not supported (version field ", swapped, ")");
    MMGEN_CHECK(version_ != 1, file,
                ": GGUF version 1 is not supported (versions 2 and 3 are); re-convert the model");
    fail(file, ": unsupported GGUF version ", version_, " (versions 2 and 3 are supported)");
  }
  const uint64_t n_tensors = r.read<uint64_t>("tensor count");
  const uint64_t n_kv = r.read<uint64_t>("metadata count");
  // A key/value pair takes at least 13 bytes, a tensor info at least 24.
  MMGEN_CHECK(n_kv <= r.remaining() / 13, file, ": metadata count ", n_kv,
              " cannot fit in the file; the header is corrupt");
  MMGEN_CHECK(n_tensors <= r.remaining() / 24, file, ": tensor count ", n_tensors,
              " cannot fit in the file; the header is corrupt");

  for (uint64_t i = 0; i < n_kv; ++i) {
    const std::string key(p.read_string("metadata key"));
    MMGEN_CHECK(!types_.count(key), file, ": metadata key '", key, "' appears more than once");
    const GgufType type = p.read_type(key);
    GgufType array_type = GgufType::kUint8;
    metadata_[key] = p.read_value(type, key, &array_type);
    types_[key] = {type, array_type};
  }

  if (metadata_.contains("general.alignment")) {
    const auto& a = metadata_["general.alignment"];
    const bool integral = a.is_number_unsigned() || (a.is_number_integer() && a.get<int64_t>() > 0);
    const uint64_t value = integral ? a.get<uint64_t>() : 0;
    MMGEN_CHECK(integral && value != 0 && std::has_single_bit(value), file,
                ": general.alignment must be a nonzero power of two, got ", a.dump());
    alignment_ = value;
  } else {
    alignment_ = kDefaultAlignment;
  }

  struct Entry {
    uint64_t offset;
    uint64_t bytes;
    size_t index;
  };
  std::vector<TensorInfo> infos;
  std::vector<Entry> entries;
  infos.reserve(static_cast<size_t>(n_tensors));
  entries.reserve(static_cast<size_t>(n_tensors));
  for (uint64_t i = 0; i < n_tensors; ++i) {
    TensorInfo info;
    info.name = std::string(p.read_string("tensor name"));
    const std::string at = file + ": tensor '" + info.name + "'";
    const uint32_t n_dims = r.read<uint32_t>("tensor dimension count");
    MMGEN_CHECK(n_dims <= kMaxDims, at, ": ", n_dims, " dimensions (at most ", kMaxDims,
                " are allowed)");
    std::vector<uint64_t> ne(n_dims);
    for (auto& d : ne) d = r.read<uint64_t>("tensor dimension");
    const uint32_t type_id = r.read<uint32_t>("tensor type");
    const uint64_t offset = r.read<uint64_t>("tensor offset");

    const auto dtype = dtype_from_ggml_type(type_id);
    MMGEN_CHECK(dtype.has_value(), at, ": unsupported ggml type ", type_id, " (",
                unsupported_ggml_type_name(type_id), ")");
    info.dtype = *dtype;
    uint64_t numel = 1;
    for (uint64_t d : ne) {
      MMGEN_CHECK(d <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) &&
                      checked_mul(numel, d, &numel) &&
                      numel <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max()),
                  at, ": dimensions are too large");
    }
    const uint64_t ne0 = ne.empty() ? 1 : ne[0];
    const uint64_t block = static_cast<uint64_t>(block_size(*dtype));
    MMGEN_CHECK(ne0 % block == 0, at, ": row length ", ne0, " is not a multiple of the ",
                dtype_name(*dtype), " block size ", block);
    uint64_t bytes = 0;
    MMGEN_CHECK(checked_mul(numel / block, block_bytes(*dtype), &bytes), at,
                ": dimensions are too large");
    MMGEN_CHECK(offset % alignment_ == 0, at, ": data offset ", offset,
                " is not a multiple of the alignment ", alignment_);
    for (size_t k = ne.size(); k-- > 0;) info.shape.push_back(static_cast<int64_t>(ne[k]));
    entries.push_back({offset, bytes, infos.size()});
    infos.push_back(std::move(info));
  }

  // The data section starts at the next multiple of the alignment after the header.
  const uint64_t header_end = r.offset();
  const uint64_t padding = (alignment_ - header_end % alignment_) % alignment_;
  data_offset_ = header_end + padding;
  const uint64_t file_size = storage_->size();
  if (!infos.empty())
    MMGEN_CHECK(data_offset_ <= file_size, file, ": the file ends (", file_size,
                " bytes) before its data section (offset ", data_offset_, "); it is truncated");
  const uint64_t data_size = data_offset_ <= file_size ? file_size - data_offset_ : 0;

  offsets_.resize(infos.size());
  for (const Entry& e : entries) {
    uint64_t end = 0;
    MMGEN_CHECK(checked_add(e.offset, e.bytes, &end) && end <= data_size, file, ": tensor '",
                infos[e.index].name, "': data at offset ", e.offset, " (", e.bytes,
                " bytes) runs past the end of the data section (", data_size,
                " bytes); the file is truncated or corrupt");
    offsets_[e.index] = static_cast<size_t>(data_offset_ + e.offset);
  }
  std::sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) {
    return a.offset != b.offset ? a.offset < b.offset : a.bytes < b.bytes;
  });
  for (size_t i = 1; i < entries.size(); ++i) {
    const Entry& prev = entries[i - 1];
    const Entry& cur = entries[i];
    MMGEN_CHECK(prev.offset + prev.bytes <= cur.offset, file, ": tensors '", infos[prev.index].name,
                "' and '", infos[cur.index].name, "' overlap (bytes ", prev.offset, "..",
                prev.offset + prev.bytes, " and ", cur.offset, "..", cur.offset + cur.bytes,
                " of the data section)");
  }
  set_tensors(std::move(infos));
}

// ---- writer ----

GgufWriter::GgufWriter(uint32_t alignment) : alignment_(alignment) {
  MMGEN_CHECK(alignment != 0 && std::has_single_bit(alignment),
              "GGUF alignment must be a nonzero power of two, got ", alignment);
  if (alignment != kDefaultAlignment) add_uint32("general.alignment", alignment);
}

namespace {

template <typename T>
void append(std::vector<std::byte>& out, T value) {
  static_assert(std::is_arithmetic_v<T>);
  const auto* p = reinterpret_cast<const std::byte*>(&value);
  out.insert(out.end(), p, p + sizeof(T));
}

void append_string(std::vector<std::byte>& out, const std::string& s) {
  append<uint64_t>(out, s.size());
  const auto* p = reinterpret_cast<const std::byte*>(s.data());
  out.insert(out.end(), p, p + s.size());
}

}  // namespace

void GgufWriter::add_key(const std::string& key, GgufType type) {
  MMGEN_CHECK(std::find(keys_.begin(), keys_.end(), key) == keys_.end(), "GGUF metadata key '", key,
              "' added more than once");
  keys_.push_back(key);
  append_string(kv_bytes_, key);
  append<uint32_t>(kv_bytes_, static_cast<uint32_t>(type));
  ++kv_count_;
}

template <typename T>
void GgufWriter::add_scalar(const std::string& key, GgufType type, T value) {
  add_key(key, type);
  append<T>(kv_bytes_, value);
}

template <typename T>
void GgufWriter::add_numeric_array(const std::string& key, GgufType type,
                                   const std::vector<T>& values) {
  add_key(key, GgufType::kArray);
  append<uint32_t>(kv_bytes_, static_cast<uint32_t>(type));
  append<uint64_t>(kv_bytes_, values.size());
  for (T v : values) append<T>(kv_bytes_, v);
}

void GgufWriter::add_uint8(const std::string& k, uint8_t v) { add_scalar(k, GgufType::kUint8, v); }
void GgufWriter::add_int8(const std::string& k, int8_t v) { add_scalar(k, GgufType::kInt8, v); }
void GgufWriter::add_uint16(const std::string& k, uint16_t v) {
  add_scalar(k, GgufType::kUint16, v);
}
void GgufWriter::add_int16(const std::string& k, int16_t v) { add_scalar(k, GgufType::kInt16, v); }
void GgufWriter::add_uint32(const std::string& k, uint32_t v) {
  add_scalar(k, GgufType::kUint32, v);
}
void GgufWriter::add_int32(const std::string& k, int32_t v) { add_scalar(k, GgufType::kInt32, v); }
void GgufWriter::add_uint64(const std::string& k, uint64_t v) {
  add_scalar(k, GgufType::kUint64, v);
}
void GgufWriter::add_int64(const std::string& k, int64_t v) { add_scalar(k, GgufType::kInt64, v); }
void GgufWriter::add_float32(const std::string& k, float v) {
  add_scalar(k, GgufType::kFloat32, v);
}
void GgufWriter::add_float64(const std::string& k, double v) {
  add_scalar(k, GgufType::kFloat64, v);
}
void GgufWriter::add_bool(const std::string& k, bool v) {
  add_scalar<uint8_t>(k, GgufType::kBool, v ? 1 : 0);
}
void GgufWriter::add_string(const std::string& k, const std::string& v) {
  add_key(k, GgufType::kString);
  append_string(kv_bytes_, v);
}

void GgufWriter::add_array(const std::string& k, const std::vector<uint8_t>& v) {
  add_numeric_array(k, GgufType::kUint8, v);
}
void GgufWriter::add_array(const std::string& k, const std::vector<int8_t>& v) {
  add_numeric_array(k, GgufType::kInt8, v);
}
void GgufWriter::add_array(const std::string& k, const std::vector<uint16_t>& v) {
  add_numeric_array(k, GgufType::kUint16, v);
}
void GgufWriter::add_array(const std::string& k, const std::vector<int16_t>& v) {
  add_numeric_array(k, GgufType::kInt16, v);
}
void GgufWriter::add_array(const std::string& k, const std::vector<uint32_t>& v) {
  add_numeric_array(k, GgufType::kUint32, v);
}
void GgufWriter::add_array(const std::string& k, const std::vector<int32_t>& v) {
  add_numeric_array(k, GgufType::kInt32, v);
}
void GgufWriter::add_array(const std::string& k, const std::vector<uint64_t>& v) {
  add_numeric_array(k, GgufType::kUint64, v);
}
void GgufWriter::add_array(const std::string& k, const std::vector<int64_t>& v) {
  add_numeric_array(k, GgufType::kInt64, v);
}
void GgufWriter::add_array(const std::string& k, const std::vector<float>& v) {
  add_numeric_array(k, GgufType::kFloat32, v);
}
void GgufWriter::add_array(const std::string& k, const std::vector<double>& v) {
  add_numeric_array(k, GgufType::kFloat64, v);
}

void GgufWriter::add_bool_array(const std::string& k, const std::vector<bool>& values) {
  add_key(k, GgufType::kArray);
  append<uint32_t>(kv_bytes_, static_cast<uint32_t>(GgufType::kBool));
  append<uint64_t>(kv_bytes_, values.size());
  for (bool v : values) append<uint8_t>(kv_bytes_, v ? 1 : 0);
}

void GgufWriter::add_string_array(const std::string& k, const std::vector<std::string>& values) {
  add_key(k, GgufType::kArray);
  append<uint32_t>(kv_bytes_, static_cast<uint32_t>(GgufType::kString));
  append<uint64_t>(kv_bytes_, values.size());
  for (const auto& v : values) append_string(kv_bytes_, v);
}

void GgufWriter::add_string_array_array(const std::string& k,
                                        const std::vector<std::vector<std::string>>& values) {
  add_key(k, GgufType::kArray);
  append<uint32_t>(kv_bytes_, static_cast<uint32_t>(GgufType::kArray));
  append<uint64_t>(kv_bytes_, values.size());
  for (const auto& inner : values) {
    append<uint32_t>(kv_bytes_, static_cast<uint32_t>(GgufType::kString));
    append<uint64_t>(kv_bytes_, inner.size());
    for (const auto& v : inner) append_string(kv_bytes_, v);
  }
}

void GgufWriter::add_tensor(const std::string& name, const Tensor& tensor) {
  const std::string at = "GGUF tensor '" + name + "'";
  MMGEN_CHECK(tensor.defined(), at, ": undefined tensor");
  MMGEN_CHECK(ggml_type_id(tensor.dtype()).has_value(), at, ": GGUF cannot store ",
              dtype_name(tensor.dtype()), " tensors");
  MMGEN_CHECK(tensor.ndim() <= static_cast<int>(kMaxDims), at, ": ", tensor.ndim(),
              " dimensions (GGUF allows at most ", kMaxDims, ")");
  for (const auto& [existing, t] : tensors_)
    MMGEN_CHECK(existing != name, at, ": added more than once");
  tensors_.emplace_back(name, tensor.to(Device::cpu()).contiguous());
}

void GgufWriter::write(const std::filesystem::path& path) const {
  std::vector<std::byte> header;
  header.insert(header.end(), {std::byte{'G'}, std::byte{'G'}, std::byte{'U'}, std::byte{'F'}});
  append<uint32_t>(header, 3);
  append<uint64_t>(header, tensors_.size());
  append<uint64_t>(header, kv_count_);
  header.insert(header.end(), kv_bytes_.begin(), kv_bytes_.end());

  const auto padded = [this](uint64_t n) { return (n + alignment_ - 1) / alignment_ * alignment_; };
  uint64_t offset = 0;
  for (const auto& [name, t] : tensors_) {
    append_string(header, name);
    // A 0-d tensor is stored as ne = [1], as ggml does.
    const uint32_t n_dims = t.ndim() == 0 ? 1 : static_cast<uint32_t>(t.ndim());
    append<uint32_t>(header, n_dims);
    if (t.ndim() == 0) append<uint64_t>(header, 1);
    for (int i = t.ndim(); i-- > 0;) append<uint64_t>(header, static_cast<uint64_t>(t.dim(i)));
    append<uint32_t>(header, *ggml_type_id(t.dtype()));
    append<uint64_t>(header, offset);
    offset += padded(t.nbytes());
  }

  AtomicFileWriter out(path);
  out.write(header.data(), header.size());
  out.write_zeros(padded(header.size()) - header.size());
  for (const auto& [name, t] : tensors_) {
    out.write(t.data(), t.nbytes());
    out.write_zeros(padded(t.nbytes()) - t.nbytes());
  }
  out.commit();
}

}  // namespace mmgen
