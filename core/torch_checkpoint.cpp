// PyTorch checkpoints (.pt/.pth/.ckpt/.bin) as a ModelFile: tensors only, rebuilt
// through the restricted unpickler (core/pickle.h), never by running the pickle.
//
// Formats: the zip format of torch.save since PyTorch 1.6 (<folder>/data.pkl,
// <folder>/data/<key>, zip64 and DEFLATE entries included) and the legacy format
// before it (five pickles, then each storage as an 8-byte element count and its raw
// bytes). STORED zip entries and legacy storages are viewed in place in the mapped file.
//
// Tensor names: the checkpoint's nested dicts are flattened with "." between keys.
// A top-level "state_dict" dict (PyTorch Lightning, Stable Diffusion .ckpt) is the only
// wrapper removed, so an SD checkpoint gives "model.diffusion_model...." and a Lightning
// VITS checkpoint "model_g.enc_p....", exactly the keys of its state_dict; other wrappers
// stay in the name ({"model": {...}} gives "model.<key>"), so nothing can collide.
// Everything else that is not a tensor (epoch, global_step, hyper_parameters, ...) goes
// into metadata() as JSON under its flattened name; tensors outside the state dict
// (optimizer state) appear there only as "<tensor f32[2]>" descriptions.
#include <algorithm>
#include <array>
#include <cstring>
#include <mutex>
#include <unordered_map>

#include "core/byte_reader.h"
#include "core/mapped_file.h"
#include "core/mapped_tensor.h"
#include "core/model_file.h"
#include "core/pickle.h"
#include "core/zip_reader.h"

namespace mmgen {
namespace {

using pickle::Kind;
using pickle::Value;

// The 80-bit number that starts a legacy torch.save file, as little-endian bytes.
constexpr std::array<unsigned char, 10> kLegacyMagic = {0x6c, 0xfc, 0x9c, 0x46, 0xf9,
                                                        0x20, 0x6a, 0xa8, 0x50, 0x19};
constexpr int64_t kLegacyProtocol = 1001;
// No real tensor is a terabyte; a larger logical size (possible with zero strides) is corrupt.
constexpr uint64_t kMaxTensorBytes = uint64_t{1} << 40;
constexpr int kMaxNesting = 100;
// Bounds the work of walking shared sub-objects, which a corrupt pickle can repeat
// exponentially often.
constexpr size_t kMaxVisits = 10'000'000;

// Valid UTF-8 stays as is; each byte of an invalid sequence becomes U+FFFD, so the
// metadata JSON can always be serialised.
std::string sanitize_utf8(const std::string& in) {
  std::string out;
  out.reserve(in.size());
  for (size_t i = 0; i < in.size();) {
    const auto c = static_cast<unsigned char>(in[i]);
    size_t n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    bool ok = n > 0 && i + n <= in.size();
    for (size_t k = 1; ok && k < n; ++k)
      ok = (static_cast<unsigned char>(in[i + k]) & 0xc0) == 0x80;
    if (ok && n > 1) {
      uint32_t cp = c & (0x7f >> n);
      for (size_t k = 1; k < n; ++k)
        cp = (cp << 6) | (static_cast<unsigned char>(in[i + k]) & 0x3f);
      static constexpr uint32_t kMin[] = {0, 0, 0x80, 0x800, 0x10000};
      ok = cp >= kMin[n] && cp <= 0x10ffff && (cp < 0xd800 || cp > 0xdfff);
    }
    if (ok) {
      out.append(in, i, n);
      i += n;
    } else {
      out += "\xef\xbf\xbd";
      ++i;
    }
  }
  return out;
}

std::string tensor_description(const pickle::TensorRef& t) {
  return "<tensor " + std::string(dtype_name(t.storage.dtype)) + shape_str(t.shape) + ">";
}

// Where a storage's bytes are: a range of the mapped file, or a DEFLATE zip entry that
// is inflated when first used.
struct StorageBytes {
  std::string key;
  size_t offset = 0;  // in the mapped file (STORED / legacy)
  size_t size = 0;
  const ZipEntry* deflated = nullptr;
  size_t alignment = 1;  // the largest element alignment of the tensors that view it
};

class TorchCheckpoint final : public ModelFile {
 public:
  explicit TorchCheckpoint(const std::filesystem::path& path) : ModelFile(path) {
    file_ = map_file(path_);
    const auto* head = file_->data();
    if (looks_like_zip(head, file_->size())) {
      open_zip();
    } else if (file_->size() >= 2 && head[0] == std::byte{0x80}) {
      open_legacy();
    } else {
      fail(where(),
           ": not a PyTorch checkpoint (expected a zip archive starting with "
           "\"PK\\x03\\x04\" or a legacy torch.save pickle starting with 0x80)");
    }
  }

  ModelFormat format() const override { return ModelFormat::kTorch; }

  Tensor tensor(const std::string& name) const override {
    const Entry& e = entries_[index_of(name)];
    const auto [storage, offset] = storage_bytes(e.storage);
    return Tensor::strided_view_of(storage, offset + static_cast<size_t>(e.offset_bytes), e.shape,
                                   e.strides, e.dtype);
  }

 private:
  struct Entry {
    size_t storage = 0;
    DType dtype = DType::kF32;
    uint64_t offset_bytes = 0;
    Shape shape;
    Shape strides;
  };
  struct Found {
    std::string name;
    const pickle::TensorRef* tensor;
  };

  std::string where() const { return path_.string(); }

  void open_zip();
  void open_legacy();
  void collect(const Value* root);
  void flatten(const Value* container, const std::string& prefix, int depth);
  bool contains_tensor(const Value* v, int depth);
  nlohmann::json to_json(const Value* v, int depth);
  std::string key_string(const Value* key, int depth);
  void visit(int depth);
  void add_tensors(const std::unordered_map<std::string, size_t>& storage_by_key);
  std::pair<std::shared_ptr<Storage>, size_t> storage_bytes(size_t index) const;

  std::shared_ptr<Storage> file_;
  std::unique_ptr<ZipReader> zip_;
  std::vector<StorageBytes> storages_;
  std::vector<Entry> entries_;  // parallel to infos_
  // Inflated or realigned copies of storages, made on first use.
  mutable std::mutex copies_mutex_;
  mutable std::unordered_map<size_t, std::shared_ptr<Storage>> copies_;

  // Walk state while opening.
  std::vector<Found> found_;
  std::unordered_map<const Value*, bool> has_tensor_;
  size_t visits_ = 0;
};

void TorchCheckpoint::open_zip() {
  zip_ = std::make_unique<ZipReader>(file_, where());
  // torch.save puts everything under one folder ("archive", or the file's stem).
  std::string prefix;
  for (const ZipEntry& entry : zip_->entries()) {
    const size_t slash = entry.name.find('/');
    if (slash == std::string::npos || entry.name.compare(slash, std::string::npos, "/data.pkl"))
      continue;
    MMGEN_CHECK(prefix.empty(), where(), ": zip archive holds both '", prefix, "/data.pkl' and '",
                entry.name, "'; expected one checkpoint folder");
    prefix = entry.name.substr(0, slash);
  }
  MMGEN_CHECK(!prefix.empty(), where(),
              ": zip archive has no <folder>/data.pkl entry; it is not a PyTorch checkpoint");
  for (const ZipEntry& entry : zip_->entries())
    MMGEN_CHECK(entry.name.rfind(prefix + "/code/", 0) != 0, where(),
                ": a TorchScript archive (torch.jit.save) holds a program, not a weights "
                "checkpoint; save the model's state_dict() with torch.save instead");
  if (const ZipEntry* order = zip_->find(prefix + "/byteorder")) {
    const ZipBytes bytes = zip_->read(*order);
    MMGEN_CHECK(bytes.view() == "little", where(), ": the checkpoint's byte order is '",
                bytes.view().substr(0, 16),
                "'; only little-endian checkpoints are supported (re-save it on a "
                "little-endian machine)");
  }

  const ZipBytes data_pkl = zip_->read(*zip_->find(prefix + "/data.pkl"));
  pickle::Unpickler unpickler(where() + ": " + prefix + "/data.pkl");
  collect(unpickler.load(data_pkl.data(), data_pkl.size));

  std::unordered_map<std::string, size_t> storage_by_key;
  for (const Found& found : found_) {
    const std::string& key = found.tensor->storage.key;
    if (storage_by_key.count(key)) continue;
    const std::string entry_name = prefix + "/data/" + key;
    const ZipEntry* entry = zip_->find(entry_name);
    MMGEN_CHECK(entry != nullptr, where(), ": tensor '", found.name, "' uses storage '", key,
                "' but the archive has no entry '", entry_name, "'");
    StorageBytes bytes;
    bytes.key = key;
    bytes.size = static_cast<size_t>(entry->size);
    if (entry->method == 0)
      bytes.offset = static_cast<size_t>(entry->data_offset);
    else
      bytes.deflated = entry;
    storage_by_key.emplace(key, storages_.size());
    storages_.push_back(std::move(bytes));
  }
  add_tensors(storage_by_key);
}

void TorchCheckpoint::open_legacy() {
  pickle::Unpickler unpickler(where());
  const std::byte* data = file_->data();
  size_t pos = 0;
  auto next = [&] {
    size_t used = 0;
    const Value* v = unpickler.load(data + pos, file_->size() - pos, &used);
    pos += used;
    return v;
  };
  const Value* magic = next();
  MMGEN_CHECK(magic->kind == Kind::kBigInt && magic->text.size() == kLegacyMagic.size() &&
                  std::memcmp(magic->text.data(), kLegacyMagic.data(), kLegacyMagic.size()) == 0,
              where(),
              ": a pickle file, but not a PyTorch checkpoint (no torch.save magic "
              "number)");
  const Value* protocol = next();
  MMGEN_CHECK(protocol->kind == Kind::kInt && protocol->integer == kLegacyProtocol, where(),
              ": legacy checkpoint protocol is not ", kLegacyProtocol);
  const Value* sys_info = next();
  MMGEN_CHECK(sys_info->kind == Kind::kDict, where(), ": legacy checkpoint sys_info is a ",
              pickle::kind_name(sys_info->kind), ", expected a dict");
  if (const Value* little = sys_info->find("little_endian"))
    MMGEN_CHECK(little->kind == Kind::kBool && little->boolean, where(),
                ": the checkpoint was saved big-endian; only little-endian checkpoints are "
                "supported");
  collect(next());
  const Value* keys = next();
  MMGEN_CHECK(keys->kind == Kind::kList, where(), ": legacy checkpoint storage keys are a ",
              pickle::kind_name(keys->kind), ", expected a list");

  // The element type of each key, from the persistent ids that named it.
  std::unordered_map<std::string, DType> key_dtype;
  for (const Value* storage : unpickler.storages())
    key_dtype.emplace(storage->storage->key, storage->storage->dtype);

  ByteReader reader(data, file_->size(), where() + ": legacy storage data");
  reader.skip(pos, "pickles");
  std::unordered_map<std::string, size_t> storage_by_key;
  for (const Value* key : keys->items) {
    MMGEN_CHECK(key->kind == Kind::kString, where(), ": legacy storage key is a ",
                pickle::kind_name(key->kind), ", expected a str");
    const auto dtype = key_dtype.find(key->text);
    MMGEN_CHECK(dtype != key_dtype.end(), where(), ": legacy storage '", key->text,
                "' is listed but no tensor names it, so its element size is unknown");
    const uint64_t numel = reader.read<uint64_t>("storage element count");
    uint64_t bytes = 0;
    MMGEN_CHECK(
        checked_mul(numel, block_bytes(dtype->second), &bytes) && bytes <= reader.remaining(),
        where(), ": legacy storage '", key->text, "' claims ", numel, " ",
        dtype_name(dtype->second), " elements but only ", reader.remaining(),
        " bytes remain; the file is truncated");
    StorageBytes storage;
    storage.key = key->text;
    storage.offset = reader.offset();
    storage.size = static_cast<size_t>(bytes);
    reader.skip(bytes, "storage");
    MMGEN_CHECK(storage_by_key.emplace(key->text, storages_.size()).second, where(),
                ": legacy storage '", key->text, "' is listed twice");
    storages_.push_back(std::move(storage));
  }
  add_tensors(storage_by_key);
}

void TorchCheckpoint::visit(int depth) {
  MMGEN_CHECK(depth <= kMaxNesting, where(), ": checkpoint objects are nested more than ",
              kMaxNesting, " deep (or contain themselves); the file is corrupt");
  MMGEN_CHECK(++visits_ <= kMaxVisits, where(),
              ": checkpoint object graph is too large to walk; the file is corrupt");
}

bool TorchCheckpoint::contains_tensor(const Value* v, int depth) {
  if (v->kind == Kind::kTensor) return true;
  if (v->kind != Kind::kDict && v->kind != Kind::kList && v->kind != Kind::kTuple) return false;
  visit(depth);
  if (const auto it = has_tensor_.find(v); it != has_tensor_.end()) return it->second;
  bool found = false;
  for (const Value* item : v->items) found = found || contains_tensor(item, depth + 1);
  has_tensor_[v] = found;
  return found;
}

std::string TorchCheckpoint::key_string(const Value* key, int depth) {
  switch (key->kind) {
    case Kind::kString:
      return sanitize_utf8(key->text);
    case Kind::kInt:
      return std::to_string(key->integer);
    case Kind::kBool:
      return key->boolean ? "True" : "False";
    case Kind::kNone:
      return "None";
    case Kind::kFloat:
      return nlohmann::json(key->real).dump();
    case Kind::kTuple: {
      visit(depth);
      std::string out = "(";
      for (size_t i = 0; i < key->items.size(); ++i)
        out += (i ? ", " : "") + key_string(key->items[i], depth + 1);
      return out + ")";
    }
    default:
      return "<" + std::string(pickle::kind_name(key->kind)) + ">";
  }
}

nlohmann::json TorchCheckpoint::to_json(const Value* v, int depth) {
  visit(depth);
  switch (v->kind) {
    case Kind::kNone:
      return nullptr;
    case Kind::kBool:
      return v->boolean;
    case Kind::kInt:
      return v->integer;
    case Kind::kBigInt:
      return "<int of " + std::to_string(v->text.size()) + " bytes>";
    case Kind::kFloat:
      return v->real;
    case Kind::kString:
      return sanitize_utf8(v->text);
    case Kind::kBytes:
      return "<bytes " + std::to_string(v->text.size()) + ">";
    case Kind::kTuple:
    case Kind::kList:
    case Kind::kSet: {
      nlohmann::json array = nlohmann::json::array();
      for (const Value* item : v->items) array.push_back(to_json(item, depth + 1));
      return array;
    }
    case Kind::kDict: {
      nlohmann::json object = nlohmann::json::object();
      for (size_t i = 0; i < v->dict_size(); ++i)
        object[key_string(v->dict_key(i), depth + 1)] = to_json(v->dict_value(i), depth + 1);
      return object;
    }
    case Kind::kTensor:
      return tensor_description(*v->tensor);
    case Kind::kStorage:
      return "<storage " + sanitize_utf8(v->storage->key) + ">";
    case Kind::kGlobal:
      return "<" + v->text + ">";
    case Kind::kNumpyDtype:
      return "<numpy.dtype " + sanitize_utf8(v->text) + ">";
  }
  return nullptr;
}

void TorchCheckpoint::flatten(const Value* container, const std::string& prefix, int depth) {
  visit(depth);
  const bool is_dict = container->kind == Kind::kDict;
  const size_t count = is_dict ? container->dict_size() : container->items.size();
  for (size_t i = 0; i < count; ++i) {
    const std::string key =
        is_dict ? key_string(container->dict_key(i), depth + 1) : std::to_string(i);
    const Value* value = is_dict ? container->dict_value(i) : container->items[i];
    const std::string name = prefix.empty() ? key : prefix + "." + key;
    if (value->kind == Kind::kTensor)
      found_.push_back({name, value->tensor.get()});
    else if (contains_tensor(value, depth + 1))
      flatten(value, name, depth + 1);
    else
      metadata_[name] = to_json(value, depth + 1);
  }
}

void TorchCheckpoint::collect(const Value* root) {
  MMGEN_CHECK(root->kind == Kind::kDict || root->kind == Kind::kList || root->kind == Kind::kTuple,
              where(), ": the checkpoint holds a ", pickle::kind_name(root->kind),
              ", expected a dict of tensors (a state_dict)");
  const Value* state_dict = root->find("state_dict");
  if (state_dict && state_dict->kind == Kind::kDict) {
    flatten(state_dict, "", 1);
    for (size_t i = 0; i < root->dict_size(); ++i) {
      if (root->dict_value(i) == state_dict) continue;
      metadata_[key_string(root->dict_key(i), 1)] = to_json(root->dict_value(i), 1);
    }
  } else {
    flatten(root, "", 0);
  }
}

void TorchCheckpoint::add_tensors(const std::unordered_map<std::string, size_t>& storage_by_key) {
  std::vector<TensorInfo> infos;
  infos.reserve(found_.size());
  entries_.reserve(found_.size());
  for (const Found& found : found_) {
    const pickle::TensorRef& t = *found.tensor;
    const std::string at = where() + ": tensor '" + found.name + "'";
    const auto it = storage_by_key.find(t.storage.key);
    MMGEN_CHECK(it != storage_by_key.end(), at, ": storage '", t.storage.key,
                "' is not in the file");
    StorageBytes& storage = storages_[it->second];
    const uint64_t element = block_bytes(t.storage.dtype);

    // The storage as the persistent id declares it must fit in the bytes present...
    uint64_t declared = 0;
    MMGEN_CHECK(checked_mul(static_cast<uint64_t>(t.storage.numel), element, &declared) &&
                    declared <= storage.size,
                at, ": storage '", t.storage.key, "' should hold ", t.storage.numel, " ",
                dtype_name(t.storage.dtype), " elements but has only ", storage.size,
                " bytes; the file is truncated or corrupt");
    // ...and every element the view reaches must lie inside the declared storage.
    uint64_t last = static_cast<uint64_t>(t.storage_offset);
    uint64_t numel = 1;
    bool ok = true;
    for (size_t d = 0; d < t.shape.size(); ++d) {
      uint64_t reach = 0;
      if (t.shape[d] > 0)
        ok = ok && checked_mul(static_cast<uint64_t>(t.shape[d] - 1),
                               static_cast<uint64_t>(t.strides[d]), &reach);
      ok = ok && checked_add(last, reach, &last);
      ok = ok && checked_mul(numel, static_cast<uint64_t>(t.shape[d]), &numel);
    }
    uint64_t logical_bytes = 0;
    ok = ok && checked_mul(numel, element, &logical_bytes) && logical_bytes <= kMaxTensorBytes;
    MMGEN_CHECK(ok, at, ": size ", shape_str(t.shape), " with stride ", shape_str(t.strides),
                " is too large; the file is corrupt");
    if (numel > 0) {
      MMGEN_CHECK(last < static_cast<uint64_t>(t.storage.numel), at, ": size ", shape_str(t.shape),
                  " with stride ", shape_str(t.strides), " at storage offset ", t.storage_offset,
                  " reaches element ", last, ", past the end of storage '", t.storage.key, "' (",
                  t.storage.numel, " elements); the file is corrupt");
    } else {
      MMGEN_CHECK(static_cast<uint64_t>(t.storage_offset) <= static_cast<uint64_t>(t.storage.numel),
                  at, ": storage offset ", t.storage_offset, " lies past the end of storage '",
                  t.storage.key, "' (", t.storage.numel, " elements); the file is corrupt");
    }

    storage.alignment = std::max(storage.alignment, element_alignment(t.storage.dtype));
    Entry entry;
    entry.storage = it->second;
    entry.dtype = t.storage.dtype;
    entry.offset_bytes = static_cast<uint64_t>(t.storage_offset) * element;
    entry.shape = t.shape;
    entry.strides = t.strides;
    entries_.push_back(std::move(entry));
    infos.push_back(TensorInfo{found.name, t.storage.dtype, t.shape});
  }
  set_tensors(std::move(infos));
  found_.clear();
  has_tensor_.clear();
}

std::pair<std::shared_ptr<Storage>, size_t> TorchCheckpoint::storage_bytes(size_t index) const {
  const StorageBytes& bytes = storages_[index];
  const auto address = reinterpret_cast<uintptr_t>(file_->data()) + bytes.offset;
  if (!bytes.deflated && address % bytes.alignment == 0) return {file_, bytes.offset};

  // A DEFLATE entry, or a storage whose address does not suit typed access to its
  // elements (legacy files pack storages unaligned): an aligned copy, made once.
  std::lock_guard<std::mutex> lock(copies_mutex_);
  auto& copy = copies_[index];
  if (!copy) {
    if (bytes.deflated) {
      copy = zip_->read(*bytes.deflated).storage;
    } else {
      copy = allocate_storage(bytes.size, Device::cpu());
      if (bytes.size) std::memcpy(copy->data(), file_->data() + bytes.offset, bytes.size);
    }
  }
  return {copy, 0};
}

}  // namespace

std::unique_ptr<ModelFile> open_torch_checkpoint(const std::filesystem::path& path) {
  return std::make_unique<TorchCheckpoint>(path);
}

}  // namespace mmgen
