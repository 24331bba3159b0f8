#include "core/pickle.h"

#include <algorithm>
#include <array>
#include <cstring>
#include <optional>

#include "core/byte_reader.h"
#include "core/error.h"
#include "core/half.h"

namespace mmgen::pickle {
namespace {

// About a hundred times what real checkpoints need (an SDXL data.pkl makes ~50k values,
// a Lightning checkpoint with optimizer state a few hundred thousand); bounds the memory
// that a corrupt pickle can claim.
constexpr size_t kMaxValues = 5'000'000;
constexpr size_t kMaxTensorDims = 64;
constexpr int kMaxKeyDepth = 32;

constexpr std::array<std::string_view, 10> kStorageTypes = {
    "torch.FloatStorage", "torch.HalfStorage", "torch.BFloat16Storage", "torch.DoubleStorage",
    "torch.LongStorage",  "torch.IntStorage",  "torch.ShortStorage",    "torch.CharStorage",
    "torch.ByteStorage",  "torch.BoolStorage"};
constexpr std::array<DType, 10> kStorageDTypes = {
    DType::kF32, DType::kF16, DType::kBF16, DType::kF64, DType::kI64,
    DType::kI32, DType::kI16, DType::kI8,   DType::kU8,  DType::kBool};

constexpr std::array<std::string_view, 21> kAllowedGlobals = {
    "collections.OrderedDict",
    "torch._utils._rebuild_tensor_v2",
    "torch._utils._rebuild_tensor",
    "torch._utils._rebuild_parameter",
    "torch._utils._rebuild_parameter_with_state",
    "torch._tensor._rebuild_from_type_v2",
    "torch.Tensor",
    "torch.nn.parameter.Parameter",
    "torch.Size",
    "_codecs.encode",
    "builtins.set",
    "builtins.frozenset",
    "argparse.Namespace",
    "pathlib.Path",
    "pathlib.PosixPath",
    "pathlib.WindowsPath",
    "pathlib.PurePath",
    "pathlib.PurePosixPath",
    "pathlib.PureWindowsPath",
    "numpy.dtype",
    "numpy.core.multiarray.scalar",
};

// Protocol 2 writes Python 3 names in their Python 2 spelling; numpy 2 renamed core.
std::string canonical_global(std::string name) {
  if (name.rfind("__builtin__.", 0) == 0) return "builtins." + name.substr(12);
  if (name == "numpy._core.multiarray.scalar") return "numpy.core.multiarray.scalar";
  return name;
}

struct OpcodeName {
  uint8_t op;
  std::string_view name;
};

// Opcode names, for error messages.
// clang-format off
constexpr OpcodeName kOpcodeNames[] = {
    {'(', "MARK"}, {'.', "STOP"}, {'0', "POP"}, {'1', "POP_MARK"}, {'2', "DUP"}, {'F', "FLOAT"},
    {'I', "INT"}, {'J', "BININT"}, {'K', "BININT1"}, {'L', "LONG"}, {'M', "BININT2"},
    {'N', "NONE"}, {'P', "PERSID"}, {'Q', "BINPERSID"}, {'R', "REDUCE"}, {'S', "STRING"},
    {'T', "BINSTRING"}, {'U', "SHORT_BINSTRING"}, {'V', "UNICODE"}, {'X', "BINUNICODE"},
    {'a', "APPEND"}, {'b', "BUILD"}, {'c', "GLOBAL"}, {'d', "DICT"}, {'}', "EMPTY_DICT"},
    {'e', "APPENDS"}, {'g', "GET"}, {'h', "BINGET"}, {'i', "INST"}, {'j', "LONG_BINGET"},
    {'l', "LIST"}, {']', "EMPTY_LIST"}, {'o', "OBJ"}, {'p', "PUT"}, {'q', "BINPUT"},
    {'r', "LONG_BINPUT"}, {'s', "SETITEM"}, {'t', "TUPLE"}, {')', "EMPTY_TUPLE"},
    {'u', "SETITEMS"}, {'G', "BINFLOAT"}, {0x80, "PROTO"}, {0x81, "NEWOBJ"}, {0x82, "EXT1"},
    {0x83, "EXT2"}, {0x84, "EXT4"}, {0x85, "TUPLE1"}, {0x86, "TUPLE2"}, {0x87, "TUPLE3"},
    {0x88, "NEWTRUE"}, {0x89, "NEWFALSE"}, {0x8a, "LONG1"}, {0x8b, "LONG4"}, {'B', "BINBYTES"},
    {'C', "SHORT_BINBYTES"}, {0x8c, "SHORT_BINUNICODE"}, {0x8d, "BINUNICODE8"},
    {0x8e, "BINBYTES8"}, {0x8f, "EMPTY_SET"}, {0x90, "ADDITEMS"}, {0x91, "FROZENSET"},
    {0x92, "NEWOBJ_EX"}, {0x93, "STACK_GLOBAL"}, {0x94, "MEMOIZE"}, {0x95, "FRAME"},
    {0x96, "BYTEARRAY8"}, {0x97, "NEXT_BUFFER"}, {0x98, "READONLY_BUFFER"},
};
// clang-format on

std::string_view opcode_name(uint8_t op) {
  for (const auto& entry : kOpcodeNames)
    if (entry.op == op) return entry.name;
  return "unknown";
}

std::string hex_byte(uint8_t b) {
  constexpr char kDigits[] = "0123456789abcdef";
  return std::string("0x") + kDigits[b >> 4] + kDigits[b & 15];
}

// Latin-1 text to UTF-8 (Python 2 str opcodes).
std::string latin1_to_utf8(std::string_view in) {
  std::string out;
  out.reserve(in.size());
  for (const char c : in) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x80) {
      out += c;
    } else {
      out += static_cast<char>(0xc0 | (u >> 6));
      out += static_cast<char>(0x80 | (u & 0x3f));
    }
  }
  return out;
}

// UTF-8 text whose code points are all below 256 to the bytes they stand for
// (how _codecs.encode(text, "latin1") turns protocol-2 text back into bytes).
std::optional<std::string> utf8_to_latin1(std::string_view in) {
  std::string out;
  out.reserve(in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    const auto u = static_cast<unsigned char>(in[i]);
    if (u < 0x80) {
      out += static_cast<char>(u);
    } else if ((u & 0xe0) == 0xc0 && u <= 0xc3 && i + 1 < in.size() &&
               (static_cast<unsigned char>(in[i + 1]) & 0xc0) == 0x80) {
      out += static_cast<char>(((u & 0x1f) << 6) | (static_cast<unsigned char>(in[i + 1]) & 0x3f));
      ++i;
    } else {
      return std::nullopt;
    }
  }
  return out;
}

}  // namespace

std::string_view kind_name(Kind kind) {
  switch (kind) {
    case Kind::kNone:
      return "None";
    case Kind::kBool:
      return "bool";
    case Kind::kInt:
      return "int";
    case Kind::kBigInt:
      return "int";
    case Kind::kFloat:
      return "float";
    case Kind::kString:
      return "str";
    case Kind::kBytes:
      return "bytes";
    case Kind::kTuple:
      return "tuple";
    case Kind::kList:
      return "list";
    case Kind::kSet:
      return "set";
    case Kind::kDict:
      return "dict";
    case Kind::kGlobal:
      return "global";
    case Kind::kStorage:
      return "storage";
    case Kind::kTensor:
      return "tensor";
    case Kind::kNumpyDtype:
      return "numpy.dtype";
  }
  return "unknown";
}

const Value* Value::find(std::string_view key) const {
  if (kind != Kind::kDict) return nullptr;
  for (size_t i = 0; i < dict_size(); ++i) {
    const Value* k = dict_key(i);
    if (k->kind == Kind::kString && k->text == key) return dict_value(i);
  }
  return nullptr;
}

bool is_allowed_global(std::string_view module_dot_name) {
  const std::string name = canonical_global(std::string(module_dot_name));
  for (const auto allowed : kAllowedGlobals)
    if (name == allowed) return true;
  return storage_type_dtype(name).has_value();
}

std::optional<DType> storage_type_dtype(std::string_view module_dot_name) {
  for (size_t i = 0; i < kStorageTypes.size(); ++i)
    if (module_dot_name == kStorageTypes[i]) return kStorageDTypes[i];
  return std::nullopt;
}

// ---- the virtual machine --------------------------------------------------------------------

class Unpickler::Machine {
 public:
  Machine(Unpickler& owner, const std::byte* data, size_t size)
      : owner_(owner), in_(data, size, owner.source_) {}

  const Value* run();
  size_t consumed() const { return in_.offset(); }

 private:
  template <typename... Args>
  [[noreturn]] void error(Args&&... args) const {
    fail(owner_.source_, ": pickle opcode ", opcode_name(op_), " at byte ", op_offset_, ": ",
         std::forward<Args>(args)...);
  }

  Value* make(Kind kind);
  Value* make_int(int64_t v);
  Value* make_text(Kind kind, std::string text);
  void push(Value* v) { stack_.push_back(v); }
  Value* pop();
  Value* top();
  size_t pop_mark();  // the stack size when the innermost MARK was pushed
  std::vector<Value*> pop_to_mark();

  void read_long(uint64_t n);
  std::string read_line(std::string_view what);
  void global(std::string module, std::string name);
  void memo_put(uint64_t index);
  void memo_get(uint64_t index);
  void set_items(Value* dict, const std::vector<Value*>& pairs);
  std::string hash_key(const Value* key, int depth) const;
  void persistent_load(const Value* pid);
  Value* call(const Value* callable, const Value* args);
  Value* call_named(const std::string& name, const std::vector<Value*>& args);
  Value* rebuild_tensor(const std::vector<Value*>& args, const std::string& name);
  Value* numpy_scalar(const std::vector<Value*>& args);
  void build(Value* object, const Value* state);
  int64_t int_arg(const Value* v, std::string_view what) const;
  Shape int_tuple(const Value* v, std::string_view what) const;

  Unpickler& owner_;
  ByteReader in_;
  uint8_t op_ = 0;
  size_t op_offset_ = 0;
  std::vector<Value*> stack_;
  std::vector<size_t> marks_;
  std::unordered_map<uint64_t, Value*> memo_;
};

Value* Unpickler::Machine::make(Kind kind) {
  if (owner_.values_.size() >= kMaxValues)
    error("more than ", kMaxValues, " objects; the pickle is corrupt");
  Value& v = owner_.values_.emplace_back();
  v.kind = kind;
  return &v;
}

Value* Unpickler::Machine::make_int(int64_t i) {
  Value* v = make(Kind::kInt);
  v->integer = i;
  return v;
}

Value* Unpickler::Machine::make_text(Kind kind, std::string text) {
  Value* v = make(kind);
  v->text = std::move(text);
  return v;
}

Value* Unpickler::Machine::pop() {
  if (stack_.empty() || (!marks_.empty() && stack_.size() <= marks_.back()))
    error("the stack is empty; the pickle is corrupt");
  Value* v = stack_.back();
  stack_.pop_back();
  return v;
}

Value* Unpickler::Machine::top() {
  if (stack_.empty() || (!marks_.empty() && stack_.size() <= marks_.back()))
    error("the stack is empty; the pickle is corrupt");
  return stack_.back();
}

size_t Unpickler::Machine::pop_mark() {
  if (marks_.empty()) error("no MARK on the stack; the pickle is corrupt");
  const size_t mark = marks_.back();
  marks_.pop_back();
  return mark;
}

std::vector<Value*> Unpickler::Machine::pop_to_mark() {
  const size_t mark = pop_mark();
  std::vector<Value*> items(stack_.begin() + static_cast<std::ptrdiff_t>(mark), stack_.end());
  stack_.resize(mark);
  return items;
}

void Unpickler::Machine::read_long(uint64_t n) {
  const std::string_view bytes = in_.read_bytes(n, "integer bytes");
  const auto byte = [&](size_t i) { return static_cast<unsigned char>(bytes[i]); };
  // Two's complement, little-endian. A value wider than 64 bits is kept as bytes
  // (the legacy format's magic number has 80).
  const size_t size = bytes.size();
  const bool negative = size > 0 && (byte(size - 1) & 0x80);
  if (size > 8) {
    bool fits = ((byte(7) & 0x80) != 0) == negative;
    for (size_t i = 8; i < size; ++i) fits = fits && byte(i) == (negative ? 0xff : 0x00);
    if (!fits) {
      push(make_text(Kind::kBigInt, std::string(bytes)));
      return;
    }
  }
  uint64_t u = 0;
  for (size_t i = 0; i < std::min<size_t>(size, 8); ++i) u |= uint64_t{byte(i)} << (8 * i);
  if (size < 8 && negative) u |= ~uint64_t{0} << (8 * size);
  push(make_int(static_cast<int64_t>(u)));
}

std::string Unpickler::Machine::read_line(std::string_view what) {
  std::string out;
  for (;;) {
    const char c = static_cast<char>(in_.read<uint8_t>(what));
    if (c == '\n') return out;
    if (out.size() >= 1024) error(what, " is longer than 1024 bytes");
    out += c;
  }
}

void Unpickler::Machine::global(std::string module, std::string name) {
  const std::string full = module + "." + name;
  if (!is_allowed_global(full))
    fail(owner_.source_, ": refusing to load global '", full, "' (byte ", op_offset_,
         "): a checkpoint may only name tensor, storage and plain-data types, and this name "
         "could run code or build an unknown object; nothing was executed. If the file is "
         "trusted, convert it to safetensors with PyTorch and load that instead");
  push(make_text(Kind::kGlobal, canonical_global(full)));
}

void Unpickler::Machine::memo_put(uint64_t index) { memo_[index] = top(); }

void Unpickler::Machine::memo_get(uint64_t index) {
  const auto it = memo_.find(index);
  if (it == memo_.end()) error("memo index ", index, " was never stored; the pickle is corrupt");
  push(it->second);
}

std::string Unpickler::Machine::hash_key(const Value* key, int depth) const {
  if (depth > kMaxKeyDepth) error("dict key nested too deeply");
  switch (key->kind) {
    case Kind::kNone:
      return "N";
    case Kind::kBool:
      return key->boolean ? "i1" : "i0";  // Python: True == 1
    case Kind::kInt:
      return "i" + std::to_string(key->integer);
    case Kind::kBigInt:
      return "I" + key->text;
    case Kind::kFloat: {
      uint64_t bits;
      std::memcpy(&bits, &key->real, 8);
      return "f" + std::to_string(bits);
    }
    case Kind::kString:
      return "s" + key->text;
    case Kind::kBytes:
      return "b" + key->text;
    case Kind::kTuple: {
      std::string out = "t" + std::to_string(key->items.size()) + "(";
      for (const Value* item : key->items) {
        const std::string part = hash_key(item, depth + 1);
        out += std::to_string(part.size()) + ":" + part;
      }
      return out + ")";
    }
    case Kind::kList:
    case Kind::kSet:
    case Kind::kDict:
      error("unhashable ", kind_name(key->kind), " used as a dict key; the pickle is corrupt");
    default: {
      // Objects hash by identity in Python.
      return "p" + std::to_string(reinterpret_cast<uintptr_t>(key));
    }
  }
}

void Unpickler::Machine::set_items(Value* dict, const std::vector<Value*>& pairs) {
  if (dict->kind != Kind::kDict) error("needs a dict, found a ", kind_name(dict->kind));
  if (pairs.size() % 2 != 0) error("odd number of items for a dict; the pickle is corrupt");
  if (!dict->dict_index)
    dict->dict_index = std::make_unique<std::unordered_map<std::string, size_t>>();
  for (size_t i = 0; i < pairs.size(); i += 2) {
    const auto [it, inserted] = dict->dict_index->emplace(hash_key(pairs[i], 0), dict->dict_size());
    if (inserted) {
      dict->items.push_back(pairs[i]);
      dict->items.push_back(pairs[i + 1]);
    } else {
      dict->items[2 * it->second + 1] = pairs[i + 1];  // a later value replaces an earlier one
    }
  }
}

int64_t Unpickler::Machine::int_arg(const Value* v, std::string_view what) const {
  if (v->kind == Kind::kBool) return v->boolean ? 1 : 0;
  if (v->kind != Kind::kInt) error(what, " is a ", kind_name(v->kind), ", expected an int");
  return v->integer;
}

Shape Unpickler::Machine::int_tuple(const Value* v, std::string_view what) const {
  if (v->kind != Kind::kTuple && v->kind != Kind::kList)
    error(what, " is a ", kind_name(v->kind), ", expected a tuple of ints");
  if (v->items.size() > kMaxTensorDims)
    error(what, " has ", v->items.size(), " dimensions, more than ", kMaxTensorDims);
  Shape out;
  for (const Value* item : v->items) {
    const int64_t i = int_arg(item, what);
    if (i < 0) error(what, " holds a negative value ", i);
    out.push_back(i);
  }
  return out;
}

// ('storage', torch.FloatStorage, key, location, numel[, view_metadata]) -> a StorageRef.
void Unpickler::Machine::persistent_load(const Value* pid) {
  if (pid->kind != Kind::kTuple || pid->items.empty() || pid->items[0]->kind != Kind::kString)
    error("persistent id is a ", kind_name(pid->kind), ", expected ('storage', type, key, ...)");
  if (pid->items[0]->text != "storage")
    error("persistent id of kind '", pid->items[0]->text,
          "' is not supported (only 'storage'; whole saved modules are refused)");
  if (pid->items.size() != 5 && pid->items.size() != 6)
    error("storage persistent id has ", pid->items.size(), " fields, expected 5 or 6");
  const Value* type = pid->items[1];
  if (type->kind != Kind::kGlobal) error("storage type is a ", kind_name(type->kind));
  const auto dtype = storage_type_dtype(type->text);
  if (!dtype) error("'", type->text, "' is not a supported storage type");
  const Value* key = pid->items[2];
  const Value* location = pid->items[3];
  auto ref = std::make_unique<StorageRef>();
  if (key->kind == Kind::kString)
    ref->key = key->text;
  else if (key->kind == Kind::kInt)
    ref->key = std::to_string(key->integer);
  else
    error("storage key is a ", kind_name(key->kind), ", expected a str");
  ref->dtype = *dtype;
  ref->location = location->kind == Kind::kString ? location->text : "";
  ref->numel = int_arg(pid->items[4], "storage size");
  if (ref->numel < 0) error("storage size ", ref->numel, " is negative");
  if (pid->items.size() == 6 && pid->items[5]->kind != Kind::kNone)
    error("storage views (view_metadata) of pre-1.0 checkpoints are not supported");
  Value* v = make(Kind::kStorage);
  v->storage = std::move(ref);
  owner_.storages_.push_back(v);
  push(v);
}

Value* Unpickler::Machine::rebuild_tensor(const std::vector<Value*>& args,
                                          const std::string& name) {
  if (args.size() < 4) error(name, " takes at least 4 arguments, got ", args.size());
  if (args[0]->kind != Kind::kStorage)
    error(name, ": first argument is a ", kind_name(args[0]->kind), ", expected a storage");
  auto ref = std::make_unique<TensorRef>();
  ref->storage = *args[0]->storage;
  ref->storage_offset = int_arg(args[1], "storage offset");
  if (ref->storage_offset < 0) error(name, ": negative storage offset ", ref->storage_offset);
  ref->shape = int_tuple(args[2], "tensor size");
  ref->strides = int_tuple(args[3], "tensor stride");
  if (ref->shape.size() != ref->strides.size())
    error(name, ": size ", shape_str(ref->shape), " and stride ", shape_str(ref->strides),
          " have different lengths");
  Value* v = make(Kind::kTensor);
  v->tensor = std::move(ref);
  return v;
}

Value* Unpickler::Machine::numpy_scalar(const std::vector<Value*>& args) {
  if (args.size() != 2 || args[0]->kind != Kind::kNumpyDtype || args[1]->kind != Kind::kBytes)
    error("numpy scalar expects (dtype, bytes)");
  const std::string& code = args[0]->text;
  std::string bytes = args[1]->text;
  if (code.size() != 2 || code[1] < '1' || code[1] > '8' ||
      bytes.size() != static_cast<size_t>(code[1] - '0'))
    error("numpy scalar of dtype '", code, "' with ", bytes.size(),
          " bytes is not supported (expected a bool, int or float)");
  if (args[0]->byte_order == '>') std::reverse(bytes.begin(), bytes.end());
  uint64_t u = 0;
  for (size_t i = 0; i < bytes.size(); ++i)
    u |= uint64_t{static_cast<unsigned char>(bytes[i])} << (8 * i);
  const size_t width = bytes.size();
  switch (code[0]) {
    case 'b':
      if (width == 1) {
        Value* v = make(Kind::kBool);
        v->boolean = u != 0;
        return v;
      }
      break;
    case 'i': {
      if (width != 1 && width != 2 && width != 4 && width != 8) break;
      const int shift = static_cast<int>(64 - 8 * width);
      return make_int(static_cast<int64_t>(u << shift) >> shift);
    }
    case 'u':
      if (width != 1 && width != 2 && width != 4 && width != 8) break;
      if (u > static_cast<uint64_t>(INT64_MAX)) error("numpy uint64 scalar ", u, " is too large");
      return make_int(static_cast<int64_t>(u));
    case 'f': {
      Value* v = make(Kind::kFloat);
      if (width == 2) {
        v->real = f16_to_f32(static_cast<uint16_t>(u));
      } else if (width == 4) {
        v->real = bits_float(static_cast<uint32_t>(u));
      } else if (width == 8) {
        std::memcpy(&v->real, &u, 8);
      } else {
        break;
      }
      return v;
    }
    default:
      break;
  }
  error("numpy scalar of dtype '", code, "' is not supported (expected a bool, int or float)");
}

Value* Unpickler::Machine::call(const Value* callable, const Value* args) {
  if (callable->kind != Kind::kGlobal)
    error("calls a ", kind_name(callable->kind), ", expected an allow-listed global");
  if (args->kind != Kind::kTuple)
    error(callable->text, ": arguments are a ", kind_name(args->kind), ", expected a tuple");
  return call_named(callable->text, args->items);
}

Value* Unpickler::Machine::call_named(const std::string& name, const std::vector<Value*>& args) {
  if (name == "collections.OrderedDict") {
    Value* dict = make(Kind::kDict);
    if (args.empty()) return dict;
    if (args.size() != 1 || (args[0]->kind != Kind::kList && args[0]->kind != Kind::kTuple))
      error("OrderedDict expects no arguments or a list of pairs");
    std::vector<Value*> pairs;
    for (const Value* pair : args[0]->items) {
      if (pair->kind != Kind::kTuple || pair->items.size() != 2)
        error("OrderedDict expects (key, value) pairs");
      pairs.push_back(pair->items[0]);
      pairs.push_back(pair->items[1]);
    }
    set_items(dict, pairs);
    return dict;
  }
  if (name == "torch._utils._rebuild_tensor_v2" || name == "torch._utils._rebuild_tensor")
    return rebuild_tensor(args, name);
  if (name == "torch._utils._rebuild_parameter" ||
      name == "torch._utils._rebuild_parameter_with_state") {
    if (args.empty() || args[0]->kind != Kind::kTensor) error(name, " expects a tensor first");
    return args[0];
  }
  if (name == "torch._tensor._rebuild_from_type_v2") {
    // (func, type, args, state): a tensor subclass wrapper; only plain tensors and
    // parameters are accepted, and func must itself be allow-listed.
    if (args.size() != 4 || args[0]->kind != Kind::kGlobal || args[1]->kind != Kind::kGlobal)
      error(name, " expects (function, type, args, state)");
    if (args[1]->text != "torch.Tensor" && args[1]->text != "torch.nn.parameter.Parameter")
      error(name, ": tensor type '", args[1]->text, "' is not supported");
    return call(args[0], args[2]);
  }
  if (name == "torch.Size") {
    Value* tuple = make(Kind::kTuple);
    if (args.empty()) return tuple;
    if (args.size() != 1 || (args[0]->kind != Kind::kTuple && args[0]->kind != Kind::kList))
      error("torch.Size expects a tuple of ints");
    tuple->items = args[0]->items;
    return tuple;
  }
  if (name == "_codecs.encode") {
    if (args.size() != 2 || args[0]->kind != Kind::kString || args[1]->kind != Kind::kString)
      error("_codecs.encode expects (str, encoding)");
    const std::string& encoding = args[1]->text;
    if (encoding != "latin1" && encoding != "latin-1" && encoding != "iso-8859-1")
      error("_codecs.encode with encoding '", encoding, "' is not supported (only latin1)");
    auto bytes = utf8_to_latin1(args[0]->text);
    if (!bytes) error("_codecs.encode: text is not latin1");
    return make_text(Kind::kBytes, std::move(*bytes));
  }
  if (name == "builtins.set" || name == "builtins.frozenset") {
    Value* set = make(Kind::kSet);
    if (args.empty()) return set;
    if (args.size() != 1 || (args[0]->kind != Kind::kList && args[0]->kind != Kind::kTuple &&
                             args[0]->kind != Kind::kSet))
      error(name, " expects a list");
    set->items = args[0]->items;
    return set;
  }
  if (name.rfind("pathlib.", 0) == 0) {
    std::string path;
    for (const Value* part : args) {
      if (part->kind != Kind::kString) error(name, " expects str parts");
      if (!path.empty() && path.back() != '/' && path.back() != '\\') path += '/';
      path += part->text;
    }
    return make_text(Kind::kString, path);
  }
  if (name == "argparse.Namespace") {
    if (!args.empty()) error("argparse.Namespace expects no positional arguments");
    Value* dict = make(Kind::kDict);
    dict->build_sets_items = true;
    return dict;
  }
  if (name == "numpy.dtype") {
    if (args.empty() || args[0]->kind != Kind::kString) error("numpy.dtype expects a type code");
    Value* dtype = make_text(Kind::kNumpyDtype, args[0]->text);
    if (!dtype->text.empty() && (dtype->text[0] == '<' || dtype->text[0] == '>')) {
      dtype->byte_order = dtype->text[0];
      dtype->text.erase(0, 1);
    }
    return dtype;
  }
  if (name == "numpy.core.multiarray.scalar") return numpy_scalar(args);
  error("'", name, "' cannot be called here");
}

void Unpickler::Machine::build(Value* object, const Value* state) {
  switch (object->kind) {
    case Kind::kDict:
      if (object->build_sets_items) {
        // An object's __dict__, possibly as (dict, slots).
        if (state->kind == Kind::kTuple && state->items.size() == 2) state = state->items[0];
        if (state->kind == Kind::kNone) return;
        if (state->kind != Kind::kDict) error("object state is a ", kind_name(state->kind));
        set_items(object, state->items);
      }
      // An OrderedDict's attributes (a state_dict's _metadata) are not items: dropped.
      return;
    case Kind::kNumpyDtype:
      if (state->kind == Kind::kTuple && state->items.size() >= 2 &&
          state->items[1]->kind == Kind::kString && state->items[1]->text.size() == 1)
        object->byte_order = state->items[1]->text[0];
      return;
    case Kind::kTensor:
      return;  // Python attributes of a tensor do not change its data
    default:
      error("cannot set the state of a ", kind_name(object->kind));
  }
}

const Value* Unpickler::Machine::run() {
  for (;;) {
    op_offset_ = in_.offset();
    op_ = in_.read<uint8_t>("opcode");
    switch (op_) {
      case 0x80:  // PROTO
        if (const uint8_t proto = in_.read<uint8_t>("protocol"); proto > 5)
          error("protocol ", int{proto}, " is newer than 5");
        break;
      case 0x95:  // FRAME: only a read-ahead hint
        in_.skip(8, "frame length");
        break;
      case '.':  // STOP
        return pop();
      case '(':
        marks_.push_back(stack_.size());
        break;
      case '0':
        pop();
        break;
      case '1':
        pop_to_mark();
        break;
      case '2':
        push(top());
        break;
      case 'N':
        push(make(Kind::kNone));
        break;
      case 0x88:
      case 0x89: {
        Value* v = make(Kind::kBool);
        v->boolean = op_ == 0x88;
        push(v);
        break;
      }
      case 'J':
        push(make_int(in_.read<int32_t>("BININT")));
        break;
      case 'K':
        push(make_int(in_.read<uint8_t>("BININT1")));
        break;
      case 'M':
        push(make_int(in_.read<uint16_t>("BININT2")));
        break;
      case 0x8a:
        read_long(in_.read<uint8_t>("LONG1 length"));
        break;
      case 0x8b: {
        const int32_t n = in_.read<int32_t>("LONG4 length");
        if (n < 0) error("negative length");
        read_long(static_cast<uint64_t>(n));
        break;
      }
      case 'G': {
        const uint64_t bits = __builtin_bswap64(in_.read<uint64_t>("BINFLOAT"));  // big-endian
        Value* v = make(Kind::kFloat);
        std::memcpy(&v->real, &bits, 8);
        push(v);
        break;
      }
      case 'X':
        push(make_text(Kind::kString,
                       std::string(in_.read_bytes(in_.read<uint32_t>("length"), "string"))));
        break;
      case 0x8c:
        push(make_text(Kind::kString,
                       std::string(in_.read_bytes(in_.read<uint8_t>("length"), "string"))));
        break;
      case 0x8d:
        push(make_text(Kind::kString,
                       std::string(in_.read_bytes(in_.read<uint64_t>("length"), "string"))));
        break;
      case 'T': {
        const int32_t n = in_.read<int32_t>("length");
        if (n < 0) error("negative length");
        push(make_text(Kind::kString, latin1_to_utf8(in_.read_bytes(n, "string"))));
        break;
      }
      case 'U':
        push(make_text(Kind::kString,
                       latin1_to_utf8(in_.read_bytes(in_.read<uint8_t>("length"), "string"))));
        break;
      case 'B':
        push(make_text(Kind::kBytes,
                       std::string(in_.read_bytes(in_.read<uint32_t>("length"), "bytes"))));
        break;
      case 'C':
        push(make_text(Kind::kBytes,
                       std::string(in_.read_bytes(in_.read<uint8_t>("length"), "bytes"))));
        break;
      case 0x8e:
      case 0x96:
        push(make_text(Kind::kBytes,
                       std::string(in_.read_bytes(in_.read<uint64_t>("length"), "bytes"))));
        break;
      case '}':
        push(make(Kind::kDict));
        break;
      case ']':
        push(make(Kind::kList));
        break;
      case ')':
        push(make(Kind::kTuple));
        break;
      case 0x8f:
        push(make(Kind::kSet));
        break;
      case 'd': {
        Value* dict = make(Kind::kDict);
        set_items(dict, pop_to_mark());
        push(dict);
        break;
      }
      case 'l':
      case 't':
      case 0x91: {
        Value* v = make(op_ == 'l' ? Kind::kList : op_ == 't' ? Kind::kTuple : Kind::kSet);
        v->items = pop_to_mark();
        push(v);
        break;
      }
      case 0x85:
      case 0x86:
      case 0x87: {
        const size_t n = op_ - 0x84u;
        std::vector<Value*> items(n);
        for (size_t i = n; i-- > 0;) items[i] = pop();
        Value* v = make(Kind::kTuple);
        v->items = std::move(items);
        push(v);
        break;
      }
      case 'a': {
        Value* item = pop();
        Value* list = top();
        if (list->kind != Kind::kList) error("APPEND to a ", kind_name(list->kind));
        list->items.push_back(item);
        break;
      }
      case 'e':
      case 0x90: {
        std::vector<Value*> items = pop_to_mark();
        Value* target = top();
        const Kind want = op_ == 'e' ? Kind::kList : Kind::kSet;
        if (target->kind != want) error("adds items to a ", kind_name(target->kind));
        target->items.insert(target->items.end(), items.begin(), items.end());
        break;
      }
      case 's': {
        Value* value = pop();
        Value* key = pop();
        set_items(top(), {key, value});
        break;
      }
      case 'u': {
        std::vector<Value*> pairs = pop_to_mark();
        set_items(top(), pairs);
        break;
      }
      case 'q':
        memo_put(in_.read<uint8_t>("memo index"));
        break;
      case 'r':
        memo_put(in_.read<uint32_t>("memo index"));
        break;
      case 0x94:
        memo_put(memo_.size());
        break;
      case 'h':
        memo_get(in_.read<uint8_t>("memo index"));
        break;
      case 'j':
        memo_get(in_.read<uint32_t>("memo index"));
        break;
      case 'c': {  // "module\nname\n"
        std::string module = read_line("module name");
        global(std::move(module), read_line("global name"));
        break;
      }
      case 0x93: {
        const Value* name = pop();
        const Value* module = pop();
        if (module->kind != Kind::kString || name->kind != Kind::kString)
          error("module and name must be str");
        global(module->text, name->text);
        break;
      }
      case 'R': {
        const Value* args = pop();
        const Value* callable = pop();
        push(call(callable, args));
        break;
      }
      case 0x81: {
        const Value* args = pop();
        const Value* cls = pop();
        push(call(cls, args));
        break;
      }
      case 0x92: {
        const Value* kwargs = pop();
        const Value* args = pop();
        const Value* cls = pop();
        if (kwargs->kind != Kind::kDict || kwargs->dict_size() != 0)
          error("keyword arguments are not supported");
        push(call(cls, args));
        break;
      }
      case 'b': {
        const Value* state = pop();
        build(top(), state);
        break;
      }
      case 'Q':
        persistent_load(pop());
        break;
      case 'i': {  // INST builds an instance of a class it names: never allowed
        std::string module = read_line("module name");
        const std::string name = module + "." + read_line("class name");
        fail(owner_.source_, ": refusing to load global '", name, "' (byte ", op_offset_,
             ", opcode INST): a checkpoint may only name tensor, storage and plain-data types; "
             "nothing was executed");
      }
      default:
        fail(owner_.source_, ": unsupported pickle opcode ", hex_byte(op_), " (", opcode_name(op_),
             ") at byte ", op_offset_,
             "; a PyTorch checkpoint pickle does not use it, so the file is corrupt or not a "
             "checkpoint");
    }
  }
}

Unpickler::Unpickler(std::string source) : source_(std::move(source)) {}

const Value* Unpickler::load(const std::byte* data, size_t size, size_t* consumed) {
  Machine machine(*this, data, size);
  const Value* result = machine.run();
  if (consumed) *consumed = machine.consumed();
  return result;
}

}  // namespace mmgen::pickle
