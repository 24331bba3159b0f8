// PyTorch checkpoints: the fixtures written by tools/make_torch_fixtures.py load with
// the names, dtypes, shapes, strides and values torch itself gives (expected.json);
// checkpoints that name code-running globals or reach outside their storages are refused.
#include <catch2/catch.hpp>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "core/model_file.h"
#include "core/pickle.h"
#include "core/zip_reader.h"
#include "tests/support/test_support.h"

namespace mmgen {
namespace {

using namespace std::string_literals;

constexpr const char* kMarker = "/tmp/mmgen-pwned";

std::filesystem::path fixture(const std::string& name) {
  return test::test_data_dir() / "torch" / name;
}

const nlohmann::json& expected() {
  static const nlohmann::json json = [] {
    std::ifstream in(fixture("expected.json"));
    REQUIRE(in.good());
    return nlohmann::json::parse(in);
  }();
  return json;
}

std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  REQUIRE(in.good());
  return std::string(std::istreambuf_iterator<char>(in), {});
}

void write_file(const std::filesystem::path& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  REQUIRE(out.good());
}

// The message of the Error that `action` throws ("" when it does not throw).
template <typename F>
std::string error_of(F&& action) {
  try {
    action();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

void check_values(const Tensor& t, const nlohmann::json& want, const std::string& label) {
  INFO(label);
  REQUIRE(static_cast<size_t>(t.numel()) == want.size());
  if (t.dtype() == DType::kF64) {
    const Tensor c = t.contiguous();
    for (size_t i = 0; i < want.size(); ++i)
      CHECK(c.typed_data<double>()[i] == want[i].get<double>());
  } else if (is_float(t.dtype())) {
    const auto got = t.to_f32_vector();
    for (size_t i = 0; i < want.size(); ++i)
      CHECK(got[i] == static_cast<float>(want[i].get<double>()));
  } else {
    const auto got = t.to_i64_vector();
    for (size_t i = 0; i < want.size(); ++i) CHECK(got[i] == want[i].get<int64_t>());
  }
}

void check_against_expected(const std::string& name) {
  INFO("fixture " << name);
  const auto& want = expected().at(name);
  auto file = ModelFile::open(fixture(name));
  CHECK(file->format() == ModelFormat::kTorch);
  const auto& tensors = want.at("tensors");
  REQUIRE(file->tensors().size() == tensors.size());
  for (size_t i = 0; i < tensors.size(); ++i) {
    const auto& w = tensors[i];
    const std::string tensor_name = w.at("name");
    const TensorInfo& info = file->tensors()[i];
    CHECK(info.name == tensor_name);  // file order
    CHECK(dtype_name(info.dtype) == w.at("dtype").get<std::string>());
    CHECK(info.shape == w.at("shape").get<Shape>());
    const Tensor t = file->tensor(tensor_name);
    CHECK(t.dtype() == info.dtype);
    CHECK(t.shape() == info.shape);
    CHECK(t.strides() == w.at("strides").get<Shape>());
    check_values(t, w.at("values"), name + ": " + tensor_name);
  }
  CHECK(file->metadata() == want.at("metadata"));
}

// A STORED zip (CRC left 0: the reader checks CRC-32 only where it inflates).
std::string make_zip(const std::vector<std::pair<std::string, std::string>>& entries) {
  std::string out, central;
  auto put16 = [](std::string& s, uint16_t v) { s.append(reinterpret_cast<char*>(&v), 2); };
  auto put32 = [](std::string& s, uint32_t v) { s.append(reinterpret_cast<char*>(&v), 4); };
  for (const auto& [name, data] : entries) {
    const auto offset = static_cast<uint32_t>(out.size());
    put32(out, 0x04034b50);
    for (uint16_t v : {20, 0, 0, 0, 0}) put16(out, v);
    put32(out, 0);
    put32(out, static_cast<uint32_t>(data.size()));
    put32(out, static_cast<uint32_t>(data.size()));
    put16(out, static_cast<uint16_t>(name.size()));
    put16(out, 0);
    out += name + data;
    put32(central, 0x02014b50);
    for (uint16_t v : {20, 20, 0, 0, 0, 0}) put16(central, v);
    put32(central, 0);
    put32(central, static_cast<uint32_t>(data.size()));
    put32(central, static_cast<uint32_t>(data.size()));
    put16(central, static_cast<uint16_t>(name.size()));
    for (uint16_t v : {0, 0, 0, 0}) put16(central, v);
    put32(central, 0);
    put32(central, offset);
    central += name;
  }
  const auto central_offset = static_cast<uint32_t>(out.size());
  out += central;
  put32(out, 0x06054b50);
  put16(out, 0);
  put16(out, 0);
  put16(out, static_cast<uint16_t>(entries.size()));
  put16(out, static_cast<uint16_t>(entries.size()));
  put32(out, static_cast<uint32_t>(central.size()));
  put32(out, central_offset);
  put16(out, 0);
  return out;
}

// A checkpoint archive around a hand-written data.pkl.
std::filesystem::path write_checkpoint(const std::string& test, const std::string& data_pkl,
                                       const std::string& storage = std::string(16, '\0')) {
  const auto path = test::temp_dir(test) / "model.pt";
  write_file(path, make_zip({{"archive/data.pkl", data_pkl},
                             {"archive/data/0", storage},
                             {"archive/version", "3\n"}}));
  return path;
}

// Pickle fragments for hand-written checkpoints.
std::string binunicode(const std::string& s) {
  std::string out = "X";
  const auto n = static_cast<uint32_t>(s.size());
  out.append(reinterpret_cast<const char*>(&n), 4);
  return out + s;
}
// _rebuild_tensor_v2(('storage', FloatStorage, '0', 'cpu', numel), offset, (n,), (1,), False,
// OrderedDict()) with one-byte ints.
std::string tensor_pickle(uint8_t numel, uint8_t offset, uint8_t size) {
  std::string out = "ctorch._utils\n_rebuild_tensor_v2\n((";
  out += binunicode("storage");
  out += "ctorch\nFloatStorage\n";
  out += binunicode("0");
  out += binunicode("cpu");
  for (const char c : {'K', static_cast<char>(numel), 't', 'Q', 'K', static_cast<char>(offset), 'K',
                       static_cast<char>(size), '\x85', 'K', '\x01', '\x85', '\x89'})
    out.push_back(c);
  out += "ccollections\nOrderedDict\n)R";
  out += "tR";
  return out;
}

const pickle::Value* unpickle(pickle::Unpickler& u, const std::string& bytes) {
  return u.load(reinterpret_cast<const std::byte*>(bytes.data()), bytes.size());
}

}  // namespace

TEST_CASE("torch checkpoint: zip state_dict with every dtype and layout", "[torch]") {
  check_against_expected("plain.pt");

  auto file = open_torch_checkpoint(fixture("plain.pt"));
  const auto file_size = std::filesystem::file_size(fixture("plain.pt"));
  // Zero-copy: STORED storages are views of the one mapped file.
  const Tensor weight = file->tensor("linear.weight");
  CHECK(weight.storage()->size() == file_size);
  CHECK(weight.is_contiguous());
  CHECK(weight.item_f32(5) == 1e-3f);

  const Tensor transposed = file->tensor("transposed");
  CHECK_FALSE(transposed.is_contiguous());
  CHECK(transposed.strides() == Shape{1, 3});
  CHECK(transposed.item_f32(1) == 4.5f);  // [0][1] is base[1][0]

  // Two views of one storage: same bytes, 3 floats apart.
  const Tensor a = file->tensor("shared_a");
  const Tensor b = file->tensor("shared_b");
  CHECK(a.storage() == b.storage());
  CHECK(static_cast<const std::byte*>(b.data()) - static_cast<const std::byte*>(a.data()) == 12);

  const Tensor expanded = file->tensor("expanded");
  CHECK(expanded.strides() == Shape{0});
  CHECK(expanded.to_f32_vector() == std::vector<float>{7, 7, 7});

  const Tensor scalar = file->tensor("scalar");
  CHECK(scalar.ndim() == 0);
  CHECK(scalar.item_f32(0) == 3.5f);
  CHECK(file->tensor("empty").numel() == 0);
  CHECK(file->tensor("param").to_f32_vector() == std::vector<float>{1, 2});

  CHECK(file->contains("long"));
  CHECK_FALSE(file->contains("missing"));
  CHECK_THAT(error_of([&] { file->tensor("missing"); }), Catch::Contains("no tensor 'missing'"));
}

TEST_CASE("torch checkpoint: DEFLATE and zip64 archives give the same tensors", "[torch]") {
  check_against_expected("deflate.pt");
  check_against_expected("zip64.pt");
  auto file = ModelFile::open(fixture("deflate.pt"));
  // Inflated storages are owned copies, not the mapped file.
  CHECK(file->tensor("linear.weight").storage()->size() !=
        std::filesystem::file_size(fixture("deflate.pt")));
  // The same storage is inflated once and shared by its views.
  CHECK(file->tensor("shared_a").storage() == file->tensor("shared_b").storage());
}

TEST_CASE("torch checkpoint: legacy (pre-1.6) torch.save format", "[torch]") {
  check_against_expected("legacy.pt");
}

TEST_CASE("torch checkpoint: Lightning, nested and protocol-4 layouts", "[torch]") {
  check_against_expected("lightning.ckpt");
  check_against_expected("nested.pth");
  check_against_expected("protocol4.pt");
  check_against_expected("extras.ckpt");

  auto lightning = ModelFile::open(fixture("lightning.ckpt"));
  // Only the state_dict wrapper is removed: the names are its keys.
  CHECK(lightning->contains("model.encoder.weight"));
  CHECK(lightning->metadata().at("global_step") == 10);
  auto nested = ModelFile::open(fixture("nested.pth"));
  CHECK(nested->contains("model.enc.weight"));
  CHECK(nested->contains("model.dec.weight"));
}

TEST_CASE("torch checkpoint: code-running globals are refused, never run", "[torch]") {
  std::filesystem::remove(kMarker);
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"malicious_system.pt", "'posix.system'"},
      {"malicious_eval.pt", "'__builtin__.eval'"},
      {"malicious_subprocess.pt", "'subprocess.Popen'"},
      {"malicious_stack_global.pt", "'posix.system'"},
      {"malicious_raw.pkl", "'posix.system'"},
  };
  for (const auto& [name, global] : cases) {
    INFO(name);
    const std::string message = error_of([&] { ModelFile::open(fixture(name)); });
    CHECK_THAT(message, Catch::Contains("refusing to load global " + global));
    CHECK_THAT(message, Catch::Contains(name));
    CHECK_THAT(message, Catch::Contains("safetensors"));
  }
  CHECK_FALSE(std::filesystem::exists(kMarker));
}

TEST_CASE("torch checkpoint: tensors reaching outside their storage are refused", "[torch]") {
  CHECK_THAT(error_of([] { ModelFile::open(fixture("bad_offset.pt")); }),
             Catch::Contains("storage offset 5 reaches element 5, past the end of storage '0'"));
  CHECK_THAT(error_of([] { ModelFile::open(fixture("bad_stride.pt")); }),
             Catch::Contains("with stride [3, 1] at storage offset 0 reaches element 4"));
  CHECK_THAT(error_of([] { ModelFile::open(fixture("bad_storage_size.pt")); }),
             Catch::Contains("should hold 4 f32 elements but has only 12 bytes"));
  CHECK_THAT(error_of([] { ModelFile::open(fixture("big_endian.pt")); }),
             Catch::Contains("only little-endian checkpoints are supported"));

  // Hand-written: a shape whose reach overflows 64 bits.
  std::string huge =
      "\x80\x02"
      "ccollections\nOrderedDict\n)R" +
      binunicode("t");
  huge += "ctorch._utils\n_rebuild_tensor_v2\n((" + binunicode("storage") +
          "ctorch\nFloatStorage\n" + binunicode("0") + binunicode("cpu") + "K\x04tQK\x00"s;
  huge += "\x8a\x08\xff\xff\xff\xff\xff\xff\xff\x3f\x8a\x08\xff\xff\xff\xff\xff\xff\xff\x3f\x86";
  huge += "K\x08K\x01\x86\x89)tRs.";
  CHECK_THAT(error_of([&] { ModelFile::open(write_checkpoint("torch-huge", huge)); }),
             Catch::Contains("is too large"));

  // A well-formed hand-written checkpoint loads (the writer above is sound).
  const std::string good =
      "\x80\x02"
      "ccollections\nOrderedDict\n)R" +
      binunicode("w") + tensor_pickle(4, 1, 3) + "s.";
  std::string floats(16, '\0');
  const float values[4] = {1, 2, 3, 4};
  std::memcpy(floats.data(), values, 16);
  auto file = ModelFile::open(write_checkpoint("torch-good", good, floats));
  CHECK(file->tensor("w").to_f32_vector() == std::vector<float>{2, 3, 4});
}

TEST_CASE("torch checkpoint: absurd zip structures are refused", "[torch]") {
  const auto dir = test::temp_dir("torch-zip");
  // deflate.pt has a plain end record; torch.save's own archives always add zip64 records.
  std::string count = read_file(fixture("deflate.pt"));
  const size_t end = count.rfind("PK\x05\x06"s);
  REQUIRE(end != std::string::npos);
  count[end + 8] = count[end + 10] = '\xfe';  // entries far beyond what the directory holds
  count[end + 9] = count[end + 11] = '\x7f';
  write_file(dir / "count.pt", count);
  CHECK_THAT(error_of([&] { ModelFile::open(dir / "count.pt"); }),
             Catch::Contains("more than its"));

  std::string offset = read_file(fixture("plain.pt"));  // central directory past the end
  const size_t plain_record = offset.rfind("PK\x06\x06"s);
  REQUIRE(plain_record != std::string::npos);
  offset[plain_record + 54] = '\x7f';
  write_file(dir / "offset.pt", offset);
  CHECK_THAT(error_of([&] { ModelFile::open(dir / "offset.pt"); }),
             Catch::Contains("lies outside the archive"));

  std::string zip64 = read_file(fixture("zip64.pt"));  // zip64 count of 2^40
  const size_t record = zip64.rfind("PK\x06\x06"s);
  REQUIRE(record != std::string::npos);
  for (size_t field : {24, 32}) {
    const uint64_t n = uint64_t{1} << 40;
    std::memcpy(zip64.data() + record + field, &n, 8);
  }
  write_file(dir / "zip64.pt", zip64);
  CHECK_THAT(error_of([&] { ModelFile::open(dir / "zip64.pt"); }),
             Catch::Contains("more than its"));

  write_file(dir / "nopickle.pt", make_zip({{"archive/version", "3\n"}}));
  CHECK_THAT(error_of([&] { ModelFile::open(dir / "nopickle.pt"); }),
             Catch::Contains("no <folder>/data.pkl"));
  write_file(dir / "script.pt",
             make_zip({{"archive/data.pkl", "\x80\x02}."}, {"archive/code/__torch__.py", "x"}}));
  CHECK_THAT(error_of([&] { ModelFile::open(dir / "script.pt"); }), Catch::Contains("TorchScript"));
  write_file(dir / "nostorage.pt",
             make_zip({{"archive/data.pkl",
                        "\x80\x02}" + binunicode("w") + tensor_pickle(4, 0, 4) + "s."}}));
  CHECK_THAT(error_of([&] { ModelFile::open(dir / "nostorage.pt"); }),
             Catch::Contains("has no entry 'archive/data/0'"));
}

TEST_CASE("torch checkpoint: hostile object graphs are errors", "[torch]") {
  // A list that contains itself.
  CHECK_THAT(error_of([] {
               ModelFile::open(write_checkpoint("torch-cycle",
                                                "\x80\x02]q\x00h\x00"
                                                "a."s));
             }),
             Catch::Contains("nested more than"));
  // 60 levels of lists each holding the level below twice: 2^60 paths.
  std::string dag = "\x80\x02]";
  for (int i = 0; i < 60; ++i)
    dag +=
        "q\x00"
        "0]h\x00"
        "ah\x00"
        "a"s;
  dag = dag + ".";
  CHECK_THAT(error_of([&] { ModelFile::open(write_checkpoint("torch-dag", dag)); }),
             Catch::Contains("too large to walk"));
  // A bare tensor is not a state dict.
  CHECK_THAT(
      error_of([] {
        ModelFile::open(write_checkpoint("torch-bare", "\x80\x02" + tensor_pickle(4, 0, 4) + "."));
      }),
      Catch::Contains("holds a tensor, expected a dict of tensors"));
}

TEST_CASE("pickle: opcodes decode to plain values", "[torch]") {
  pickle::Unpickler u("test.pkl");
  // {'a': [1, -2, 2**40, 1.5, None, True, b'xy'], 'big': 2**70, 'set': {3}}
  std::string p =
      "\x80\x04\x95\x00\x00\x00\x00\x00\x00\x00\x00}\x94(\x8c\x01"
      "a\x94]\x94(K\x01"s;
  p += "J\xfe\xff\xff\xff\x8a\x06\x00\x00\x00\x00\x00\x01G\x3f\xf8\x00\x00\x00\x00\x00\x00N\x88"s;
  p += "C\x02xye\x8c\x03"
       "big\x8a\x09\x00\x00\x00\x00\x00\x00\x00\x00\x40\x8c\x03set\x8f(K\x03\x90u."s;
  const pickle::Value* v = unpickle(u, p);
  REQUIRE(v->kind == pickle::Kind::kDict);
  const pickle::Value* a = v->find("a");
  REQUIRE(a != nullptr);
  REQUIRE(a->items.size() == 7);
  CHECK(a->items[0]->integer == 1);
  CHECK(a->items[1]->integer == -2);
  CHECK(a->items[2]->integer == (int64_t{1} << 40));
  CHECK(a->items[3]->real == 1.5);
  CHECK(a->items[4]->kind == pickle::Kind::kNone);
  CHECK(a->items[5]->boolean);
  CHECK(a->items[6]->text == "xy");
  CHECK(v->find("big")->kind == pickle::Kind::kBigInt);
  CHECK(v->find("set")->items.size() == 1);

  // A later SETITEM replaces an earlier value under the same key.
  const pickle::Value* d = unpickle(u, "\x80\x02}(K\x01K\x02K\x01K\x03u.");
  REQUIRE(d->dict_size() == 1);
  CHECK(d->dict_value(0)->integer == 3);
  // LONG1 with sign extension only fits 64 bits.
  CHECK(unpickle(u, "\x80\x02\x8a\x09\xff\xff\xff\xff\xff\xff\xff\xff\xff.")->integer == -1);
}

TEST_CASE("pickle: malformed and refused opcodes name the problem", "[torch]") {
  auto message = [](const std::string& bytes) {
    return error_of([&] {
      pickle::Unpickler u("test.pkl");
      unpickle(u, bytes);
    });
  };
  CHECK_THAT(message("\x80\x02I1\n."), Catch::Contains("unsupported pickle opcode 0x49 (INT)"));
  CHECK_THAT(message("\x80\x02\x97."), Catch::Contains("NEXT_BUFFER"));
  CHECK_THAT(message("\x80\x02"
                     "a."),
             Catch::Contains("the stack is empty"));
  CHECK_THAT(message("\x80\x02h\x05."), Catch::Contains("memo index 5 was never stored"));
  CHECK_THAT(message("\x80\x02t."), Catch::Contains("no MARK"));
  CHECK_THAT(message("\x80\x02X\xff\x00\x00\x00"
                     "ab"s),
             Catch::Contains("truncated"));
  CHECK_THAT(message("\x80\x02(ios\nsystem\nS'x'\n."),
             Catch::Contains("refusing to load global 'os.system'"));
  CHECK_THAT(message("\x80\x02"
                     "ctorch\ndevice\n."),
             Catch::Contains("refusing to load global 'torch.device'"));
  CHECK_THAT(message("\x80\x02"
                     "ctorch.storage\n_load_from_bytes\n."),
             Catch::Contains("'torch.storage._load_from_bytes'"));
  CHECK_THAT(message("\x80\x02"
                     "cnumpy.core.multiarray\n_reconstruct\n."),
             Catch::Contains("'numpy.core.multiarray._reconstruct'"));
  CHECK_THAT(message("\x80\x02"
                     "ctorch\nFloatStorage\n)R."),
             Catch::Contains("'torch.FloatStorage' cannot be called"));
  CHECK_THAT(message("\x80\x02"
                     "ccollections\nOrderedDict\n]\x85R]]s."),
             Catch::Contains("unhashable list"));
  CHECK_THAT(message("\x80\x02(" + binunicode("module") + "K\x01tQ."),
             Catch::Contains("persistent id of kind 'module' is not supported"));

  CHECK(pickle::is_allowed_global("torch._utils._rebuild_tensor_v2"));
  CHECK(pickle::is_allowed_global("__builtin__.set"));
  CHECK_FALSE(pickle::is_allowed_global("builtins.eval"));
  CHECK_FALSE(pickle::is_allowed_global("torch.load"));
}

}  // namespace mmgen

namespace mmgen {

TEST_CASE("Tensor::strided_view_of checks every reachable element", "[torch]") {
  const Tensor base = Tensor::from_vector<float>({0, 1, 2, 3, 4, 5}, {6});
  const auto storage = base.storage();
  const Tensor t = Tensor::strided_view_of(storage, 4, {2, 2}, {1, 2}, DType::kF32);
  CHECK(t.to_f32_vector() == std::vector<float>{1, 3, 2, 4});
  CHECK(Tensor::strided_view_of(storage, 0, {4}, {0}, DType::kF32).to_f32_vector() ==
        std::vector<float>{0, 0, 0, 0});
  CHECK(Tensor::strided_view_of(storage, 24, {0, 3}, {3, 1}, DType::kF32).numel() == 0);
  CHECK_THROWS_AS(Tensor::strided_view_of(storage, 4, {2, 3}, {3, 1}, DType::kF32), Error);
  CHECK_THROWS_AS(Tensor::strided_view_of(storage, 0, {2}, {-1}, DType::kF32), Error);
  CHECK_THROWS_AS(Tensor::strided_view_of(storage, 28, {0}, {1}, DType::kF32), Error);
  CHECK_THROWS_AS(Tensor::strided_view_of(storage, 0, {int64_t{1} << 62, 4}, {1, 0}, DType::kF32),
                  Error);
  CHECK_THROWS_AS(Tensor::strided_view_of(storage, 0, {2}, {1, 1}, DType::kF32), Error);
}

}  // namespace mmgen
