// A restricted unpickler for the pickles inside PyTorch checkpoints.
//
// Safety model: nothing is ever executed. The virtual machine below interprets the
// pickle opcodes (protocols 2-5) into plain values, and the only callables it
// understands are an allow-list of names that it decodes itself:
//
//   tensors   torch._utils._rebuild_tensor_v2, _rebuild_tensor, _rebuild_parameter,
//             _rebuild_parameter_with_state, torch._tensor._rebuild_from_type_v2 (for
//             torch.Tensor and torch.nn.parameter.Parameter), torch.Size, and the storage
//             types torch.{Float,Half,BFloat16,Double,Long,Int,Short,Char,Byte,Bool}Storage
//             (only inside persistent ids)
//   containers collections.OrderedDict, builtins.set / frozenset, _codecs.encode (how
//             protocol 2 writes bytes)
//   metadata  plain-data types that training scripts leave next to the weights
//             (PyTorch Lightning hyper-parameters, piper and VITS checkpoints):
//             argparse.Namespace (decoded as a dict), pathlib paths (decoded as a string),
//             numpy scalars (numpy.core.multiarray.scalar with numpy.dtype, decoded as a
//             number).
//
// Every other GLOBAL / STACK_GLOBAL (os.system, builtins.eval, subprocess.Popen, but
// also torch.device, torch.storage._load_from_bytes, numpy arrays, arbitrary classes)
// is refused at the opcode that names it, with an error naming "module.name" and the
// file, and suggesting a conversion to safetensors. Refusing is the default even for
// objects that are not needed to rebuild the tensors: a checkpoint that needs another
// type is better converted once in Python than half-understood here. Opcodes that
// construct objects without naming a global (INST, OBJ, EXT*, out-of-band buffers) are
// refused too, naming the opcode.
//
// Malformed input (truncation, stack underflow, unknown memo index, a wrong argument
// type) is an Error naming the pickle and the byte offset; sizes are bounded by the
// input, containers hold pointers into one arena, and no step recurses on the data.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/dtype.h"
#include "core/tensor.h"

namespace mmgen::pickle {

enum class Kind : uint8_t {
  kNone,
  kBool,
  kInt,
  kBigInt,  // an integer wider than 64 bits; `text` holds its little-endian bytes
  kFloat,
  kString,  // UTF-8 (as pickled; not validated)
  kBytes,
  kTuple,
  kList,
  kSet,
  kDict,
  kGlobal,  // an allow-listed name, "module.name" in `text`
  kStorage,
  kTensor,
  kNumpyDtype,  // `text` is the type code ("f8", "i4", ...), `byte_order` its order
};
std::string_view kind_name(Kind kind);

// A storage named by a persistent id: ('storage', torch.FloatStorage, key, location,
// numel). Its bytes live elsewhere (data/<key> in a zip checkpoint).
struct StorageRef {
  std::string key;
  DType dtype = DType::kF32;
  int64_t numel = 0;  // in elements of dtype
  std::string location;
};

// What _rebuild_tensor_v2 describes: a strided view of a storage, in elements.
struct TensorRef {
  StorageRef storage;
  int64_t storage_offset = 0;
  Shape shape;
  Shape strides;
};

struct Value {
  Kind kind = Kind::kNone;
  bool boolean = false;
  int64_t integer = 0;
  double real = 0;
  std::string text;           // string, bytes, global name, big integer, numpy type code
  std::vector<Value*> items;  // tuple / list / set elements; dict: key, value, key, value...
  std::unique_ptr<TensorRef> tensor;    // kTensor
  std::unique_ptr<StorageRef> storage;  // kStorage
  char byte_order = '<';                // kNumpyDtype
  bool build_sets_items = false;        // kDict decoded from an object: BUILD adds its state
  std::unique_ptr<std::unordered_map<std::string, size_t>> dict_index;  // key -> pair index

  size_t dict_size() const { return items.size() / 2; }
  const Value* dict_key(size_t i) const { return items[2 * i]; }
  const Value* dict_value(size_t i) const { return items[2 * i + 1]; }
  // The value under a string key, or nullptr.
  const Value* find(std::string_view key) const;
};

class Unpickler {
 public:
  // `source` names the pickle in errors ("model.ckpt: archive/data.pkl").
  explicit Unpickler(std::string source);

  // Runs one pickle from data[0, size) up to its STOP opcode and returns the result;
  // `consumed` (optional) receives the number of bytes read. Values stay owned by
  // this Unpickler, which may run several pickles (a legacy checkpoint holds five).
  const Value* load(const std::byte* data, size_t size, size_t* consumed = nullptr);

  // Every storage that a persistent id named, in the order first seen.
  const std::vector<const Value*>& storages() const { return storages_; }

 private:
  class Machine;
  friend class Machine;

  std::string source_;
  std::deque<Value> values_;
  std::vector<const Value*> storages_;
};

// True for the names the unpickler accepts in GLOBAL / STACK_GLOBAL.
bool is_allowed_global(std::string_view module_dot_name);
// The element type of a torch.*Storage class ("torch.HalfStorage" -> f16), if supported.
std::optional<DType> storage_type_dtype(std::string_view module_dot_name);

}  // namespace mmgen::pickle
