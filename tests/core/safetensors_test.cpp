#include "core/safetensors.h"

#include <catch2/catch.hpp>
#include <cstring>
#include <fstream>

#include "core/half.h"
#include "core/model_file.h"
#include "tests/support/test_support.h"

namespace mmgen {
namespace {

using Catch::Matchers::Contains;

// Writes a safetensors file from a raw header text and data bytes.
std::filesystem::path write_raw(const std::filesystem::path& dir, const std::string& name,
                                const std::string& header, const std::string& data = {},
                                std::optional<uint64_t> header_len = std::nullopt) {
  const auto path = dir / name;
  std::ofstream out(path, std::ios::binary);
  const uint64_t len = header_len.value_or(header.size());
  out.write(reinterpret_cast<const char*>(&len), 8);
  out << header << data;
  return path;
}

std::string read_all(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

}  // namespace

TEST_CASE("safetensors dtype names map both ways", "[safetensors]") {
  const std::vector<std::pair<std::string, DType>> names = {
      {"BOOL", DType::kBool}, {"U8", DType::kU8},          {"I8", DType::kI8},
      {"U16", DType::kU16},   {"I16", DType::kI16},        {"U32", DType::kU32},
      {"I32", DType::kI32},   {"U64", DType::kU64},        {"I64", DType::kI64},
      {"F16", DType::kF16},   {"BF16", DType::kBF16},      {"F32", DType::kF32},
      {"F64", DType::kF64},   {"F8_E4M3", DType::kF8E4M3}, {"F8_E5M2", DType::kF8E5M2}};
  for (const auto& [name, dtype] : names) {
    CHECK(safetensors_dtype_name(dtype) == name);
    CHECK(dtype_from_safetensors_name(name) == dtype);
  }
  CHECK_FALSE(dtype_from_safetensors_name("F4").has_value());
  CHECK_THROWS_WITH(safetensors_dtype_name(DType::kQ4_0), Contains("q4_0"));
}

TEST_CASE("safetensors round trip keeps every dtype, value, order and metadata", "[safetensors]") {
  const auto dir = test::temp_dir("safetensors-roundtrip");
  const auto path = dir / "all.safetensors";

  std::vector<std::pair<std::string, Tensor>> tensors;
  tensors.emplace_back("z.f32",
                       Tensor::from_vector<float>({1.5f, -2.25f, 3.0f, 0.0f, 1e-3f, 7.0f}, {2, 3}));
  tensors.emplace_back("a.f64", Tensor::from_vector<double>({0.1, -1e300}, {2}));
  tensors.emplace_back("m.i64", Tensor::from_vector<int64_t>({-5, 1LL << 40, 3}, {3, 1}));
  tensors.emplace_back("i32", Tensor::from_vector<int32_t>({7, -8}, {2}));
  tensors.emplace_back("u8", Tensor::from_vector<uint8_t>({0, 255, 17}, {3}));
  tensors.emplace_back("i8", Tensor::from_vector<int8_t>({-128, 127}, {1, 2}));
  tensors.emplace_back("f16",
                       Tensor::from_vector<float>({0.5f, -65504.0f, 6e-8f}, {3}).to(DType::kF16));
  tensors.emplace_back("bf16", Tensor::from_vector<float>({1.0f, -3.0f}, {2}).to(DType::kBF16));
  const uint16_t u16[] = {1, 65535};
  tensors.emplace_back("u16", Tensor::from_data(u16, {2}, DType::kU16));
  const int16_t i16[] = {-32768, 5};
  tensors.emplace_back("i16", Tensor::from_data(i16, {2}, DType::kI16));
  const uint32_t u32[] = {4000000000u};
  tensors.emplace_back("u32", Tensor::from_data(u32, {1}, DType::kU32));
  const uint64_t u64[] = {1, 2, 3, 4};
  tensors.emplace_back("u64", Tensor::from_data(u64, {2, 2}, DType::kU64));
  const uint8_t flags[] = {1, 0, 1};
  tensors.emplace_back("bool", Tensor::from_data(flags, {3}, DType::kBool));
  const uint8_t e4m3[] = {0x38, 0xb8, 0x01};  // 1.0, -1.0, 2^-9
  tensors.emplace_back("f8e4m3", Tensor::from_data(e4m3, {3}, DType::kF8E4M3));
  const uint8_t e5m2[] = {0x3c, 0x40};  // 1.0, 2.0
  tensors.emplace_back("f8e5m2", Tensor::from_data(e5m2, {2}, DType::kF8E5M2));
  tensors.emplace_back("scalar", Tensor::from_vector<float>({42.0f}, {}));
  tensors.emplace_back("empty", Tensor::empty({0, 4}, DType::kF32));

  write_safetensors(path, tensors, {{"format", "pt"}, {"note", "héllo"}});

  // The header is padded so the data starts 8-byte aligned.
  const std::string bytes = read_all(path);
  uint64_t header_len;
  std::memcpy(&header_len, bytes.data(), 8);
  CHECK((8 + header_len) % 8 == 0);
  CHECK(bytes[8] == '{');
  // No temporary file is left behind.
  CHECK(std::distance(std::filesystem::directory_iterator(dir),
                      std::filesystem::directory_iterator()) == 1);

  auto file = ModelFile::open(path);
  REQUIRE(file->format() == ModelFormat::kSafetensors);
  CHECK(file->metadata() == nlohmann::json({{"format", "pt"}, {"note", "héllo"}}));
  REQUIRE(file->tensors().size() == tensors.size());
  for (size_t i = 0; i < tensors.size(); ++i) {
    const auto& [name, expected] = tensors[i];
    INFO(name);
    const TensorInfo& info = file->tensors()[i];  // file order = the order written
    CHECK(info.name == name);
    CHECK(info.dtype == expected.dtype());
    CHECK(info.shape == expected.shape());
    const Tensor t = file->tensor(name);
    CHECK(t.dtype() == expected.dtype());
    CHECK(t.shape() == expected.shape());
    REQUIRE(t.nbytes() == expected.nbytes());
    CHECK(std::memcmp(t.data(), expected.data(), t.nbytes()) == 0);
  }
  CHECK(file->tensor("f8e4m3").to_f32_vector() == std::vector<float>{1.0f, -1.0f, 1.0f / 512});
  CHECK(file->tensor("f8e5m2").to_f32_vector() == std::vector<float>{1.0f, 2.0f});
  CHECK(file->tensor("bf16").to_f32_vector() == std::vector<float>{1.0f, -3.0f});
  CHECK(file->tensor("m.i64").to_i64_vector() == std::vector<int64_t>{-5, 1LL << 40, 3});
  CHECK(file->contains("u8"));
  CHECK_FALSE(file->contains("missing"));
  CHECK_THROWS_WITH(file->tensor("missing"),
                    Contains("no tensor 'missing'") && Contains("all.safetensors"));
  CHECK(file->info("z.f32").shape == Shape{2, 3});
}

TEST_CASE("safetensors tensors are zero-copy views of the mapped file", "[safetensors]") {
  const auto dir = test::temp_dir("safetensors-view");
  const auto path = dir / "v.safetensors";
  write_safetensors(path,
                    {{"a", test::random_tensor({4, 8}, 1)}, {"b", test::random_tensor({16}, 2)}});
  auto file = ModelFile::open(path);
  const Tensor a = file->tensor("a");
  const Tensor b = file->tensor("b");
  CHECK(a.storage() == b.storage());
  CHECK(a.storage()->size() == std::filesystem::file_size(path));
  CHECK(b.byte_offset() == a.byte_offset() + 4 * 8 * 4);
  CHECK(test::compare(b, test::random_tensor({16}, 2)).max_abs == 0);
  // The view outlives the ModelFile object.
  file.reset();
  CHECK(test::compare(a, test::random_tensor({4, 8}, 1)).max_abs == 0);
}

TEST_CASE("safetensors writer stores non-contiguous tensors contiguously", "[safetensors]") {
  const auto dir = test::temp_dir("safetensors-layout");
  const auto path = dir / "t.safetensors";
  const Tensor base = Tensor::from_vector<float>({1, 2, 3, 4, 5, 6}, {2, 3});
  write_safetensors(path, {{"t", base.transpose(0, 1)}, {"n", base.narrow(1, 1, 2)}});
  auto file = ModelFile::open(path);
  CHECK(file->tensor("t").shape() == Shape{3, 2});
  CHECK(file->tensor("t").to_f32_vector() == std::vector<float>{1, 4, 2, 5, 3, 6});
  CHECK(file->tensor("n").to_f32_vector() == std::vector<float>{2, 3, 5, 6});
}

TEST_CASE("safetensors writer rejects what the format cannot hold", "[safetensors]") {
  const auto dir = test::temp_dir("safetensors-writer-errors");
  const Tensor x = Tensor::zeros({32});
  CHECK_THROWS_WITH(write_safetensors(dir / "q.safetensors", {{"q", x.to(DType::kQ8_0)}}),
                    Contains("'q'") && Contains("q8_0"));
  CHECK_THROWS_WITH(write_safetensors(dir / "d.safetensors", {{"a", x}, {"a", x}}),
                    Contains("'a'") && Contains("more than once"));
  CHECK_THROWS_WITH(write_safetensors(dir / "m.safetensors", {{"__metadata__", x}}),
                    Contains("reserved"));
  CHECK_THROWS_WITH(write_safetensors(dir / "u.safetensors", {{"u", Tensor()}}),
                    Contains("undefined"));
  CHECK_THROWS_WITH(write_safetensors(dir / "no-such-dir" / "x.safetensors", {{"x", x}}),
                    Contains("no-such-dir"));
  // Nothing was written, not even temporary files.
  CHECK(std::filesystem::directory_iterator(dir) == std::filesystem::directory_iterator());
}

TEST_CASE("safetensors reads an unaligned data section by copying", "[safetensors]") {
  const auto dir = test::temp_dir("safetensors-unaligned");
  // A 1-byte gap puts the f32 tensor at an odd file offset.
  const std::string header = R"({"x":{"dtype":"F32","shape":[2],"data_offsets":[1,9]}})";
  std::string data(1, '\0');
  const float values[] = {3.5f, -1.25f};
  data.append(reinterpret_cast<const char*>(values), sizeof(values));
  const auto path = write_raw(dir, "u.safetensors", header, data);
  auto file = ModelFile::open(path);
  const Tensor x = file->tensor("x");
  CHECK(reinterpret_cast<uintptr_t>(x.data()) % 4 == 0);
  CHECK(x.to_f32_vector() == std::vector<float>{3.5f, -1.25f});
}

TEST_CASE("a header length whose first byte is 0x80 still opens as safetensors", "[safetensors]") {
  const auto dir = test::temp_dir("safetensors-sniff");
  // 384 = 0x180: the file starts with the byte a pickle starts with.
  std::string header = R"({"x":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})";
  header.append(384 - header.size(), ' ');
  const float value = 2.5f;
  const auto path = write_raw(dir, "sniff.safetensors", header,
                              std::string(reinterpret_cast<const char*>(&value), 4));
  auto file = ModelFile::open(path);
  CHECK(file->format() == ModelFormat::kSafetensors);
  CHECK(file->tensor("x").to_f32_vector() == std::vector<float>{2.5f});
  CHECK(ModelFile::open(test::golden_file("tts/mel_hifigan_io.safetensors"))->format() ==
        ModelFormat::kSafetensors);
}

TEST_CASE("safetensors golden files read with the reference values", "[safetensors]") {
  auto gpt2 = ModelFile::open(test::golden_file("llm/gpt2_tiny/model.safetensors"));
  CHECK(gpt2->format() == ModelFormat::kSafetensors);
  CHECK(gpt2->metadata() == nlohmann::json({{"format", "pt"}}));
  CHECK(gpt2->tensors().size() == 28);
  CHECK(gpt2->tensors()[0].name == "transformer.h.0.attn.c_attn.bias");  // data order
  const TensorInfo& wte = gpt2->info("transformer.wte.weight");
  CHECK(wte.dtype == DType::kF16);
  CHECK(wte.shape == Shape{50257, 64});
  const auto w = gpt2->tensor("transformer.wte.weight").to_f32_vector();
  CHECK(w[0] == 0.052337646484375f);
  CHECK(w[1] == -0.155517578125f);
  CHECK(w[3] == -0.02215576171875f);
  CHECK(w.back() == -0.048797607421875f);
  CHECK(gpt2->tensor("transformer.ln_f.weight").to_f32_vector()[1] == 1.046875f);

  auto vae = ModelFile::open(test::golden_file("sd1/vae.safetensors"));
  CHECK(vae->metadata().empty());
  REQUIRE(vae->tensors().size() == 6);
  CHECK(vae->info("moments").shape == Shape{1, 8, 8, 8});
  const auto decoded = vae->tensor("decoded").to_f32_vector();
  CHECK(decoded[0] == 0.005733554717153311f);
  CHECK(decoded[2] == -0.0417822040617466f);
  CHECK(decoded.back() == 0.043824952095746994f);
}

TEST_CASE("safetensors reader names the file and tensor in every error", "[safetensors]") {
  const auto dir = test::temp_dir("safetensors-errors");
  const std::string ok_entry = R"({"dtype":"F32","shape":[2],"data_offsets":[0,8]})";
  const std::string eight(8, '\0');
  const auto open = [&](const std::string& name, const std::string& header,
                        const std::string& data = std::string(8, '\0')) {
    return ModelFile::open(write_raw(dir, name, header, data));
  };

  SECTION("shorter than the header length field") {
    const auto path = dir / "short.safetensors";
    std::ofstream(path, std::ios::binary) << "\x05\0\0";
    CHECK_THROWS_WITH(open_safetensors(path),
                      Contains("short.safetensors") && Contains("shorter than the 8-byte"));
  }
  SECTION("absurd header length") {
    const auto path = write_raw(dir, "absurd.safetensors", "{}", "", 1ULL << 40);
    CHECK_THROWS_WITH(ModelFile::open(path), Contains("absurd.safetensors") && Contains("absurd"));
  }
  SECTION("header length past the end of the file") {
    const auto path = write_raw(dir, "past.safetensors", "{}", "", 5000);
    CHECK_THROWS_WITH(ModelFile::open(path),
                      Contains("past.safetensors") && Contains("past the end of the file"));
  }
  SECTION("malformed JSON") {
    CHECK_THROWS_WITH(open("bad.safetensors", R"({"x": {"dtype": "F32",)"),
                      Contains("bad.safetensors") && Contains("malformed safetensors JSON"));
  }
  SECTION("header that is not an object") {
    CHECK_THROWS_WITH(open_safetensors(write_raw(dir, "arr.safetensors", "[1, 2]")),
                      Contains("arr.safetensors") && Contains("expected an object"));
  }
  SECTION("missing and ill-typed fields") {
    CHECK_THROWS_WITH(open("m1.safetensors", R"({"x":{"shape":[2],"data_offsets":[0,8]}})"),
                      Contains("tensor 'x'") && Contains("missing \"dtype\""));
    CHECK_THROWS_WITH(open("m2.safetensors", R"({"x":{"dtype":"F32","data_offsets":[0,8]}})"),
                      Contains("tensor 'x'") && Contains("missing \"shape\""));
    CHECK_THROWS_WITH(open("m3.safetensors", R"({"x":{"dtype":"F32","shape":[2]}})"),
                      Contains("tensor 'x'") && Contains("missing \"data_offsets\""));
    CHECK_THROWS_WITH(
        open("t1.safetensors", R"({"x":{"dtype":5,"shape":[2],"data_offsets":[0,8]}})"),
        Contains("dtype is a JSON number"));
    CHECK_THROWS_WITH(
        open("t2.safetensors", R"({"x":{"dtype":"F32","shape":"2","data_offsets":[0,8]}})"),
        Contains("shape is a JSON string"));
    CHECK_THROWS_WITH(
        open("t3.safetensors", R"({"x":{"dtype":"F32","shape":[2.5],"data_offsets":[0,8]}})"),
        Contains("shape[0]") && Contains("non-negative integer"));
    CHECK_THROWS_WITH(
        open("t4.safetensors", R"({"x":{"dtype":"F32","shape":[2],"data_offsets":[0]}})"),
        Contains("data_offsets must be an array [begin, end]"));
    CHECK_THROWS_WITH(open("t5.safetensors", R"({"x":[1,2]})"),
                      Contains("tensor 'x'") && Contains("entry is a JSON array"));
    CHECK_THROWS_WITH(open("t6.safetensors", R"({"__metadata__":{"a":1}})"),
                      Contains("__metadata__ entry 'a'") && Contains("expected a string"));
  }
  SECTION("unknown dtype") {
    CHECK_THROWS_WITH(
        open("dt.safetensors", R"({"x":{"dtype":"Q4","shape":[2],"data_offsets":[0,8]}})"),
        Contains("tensor 'x'") && Contains("unknown dtype \"Q4\"") && Contains("BF16"));
  }
  SECTION("negative dimension") {
    CHECK_THROWS_WITH(
        open("neg.safetensors", R"({"x":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})"),
        Contains("neg.safetensors") && Contains("shape[0] is negative"));
  }
  SECTION("size mismatch") {
    CHECK_THROWS_WITH(
        open("size.safetensors", R"({"x":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})"),
        Contains("tensor 'x'") && Contains("size mismatch") && Contains("needs 12 bytes"));
  }
  SECTION("shape whose byte size overflows") {
    CHECK_THROWS_WITH(
        open("overflow.safetensors", R"({"x":{"dtype":"F64","shape":[4294967296,4294967296],)"
                                     R"("data_offsets":[0,8]}})"),
        Contains("tensor 'x'") && Contains("too large"));
  }
  SECTION("begin after end") {
    CHECK_THROWS_WITH(
        open("order.safetensors", R"({"x":{"dtype":"F32","shape":[0],"data_offsets":[8,0]}})"),
        Contains("tensor 'x'") && Contains("end before they begin"));
  }
  SECTION("offsets past the end of the data") {
    CHECK_THROWS_WITH(
        open("end.safetensors", R"({"x":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})"),
        Contains("end.safetensors") && Contains("tensor 'x'") &&
            Contains("past the end of the data section"));
  }
  SECTION("overlapping tensors") {
    CHECK_THROWS_WITH(
        open("overlap.safetensors", R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                                    R"("b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})"),
        Contains("overlap.safetensors") && Contains("'a'") && Contains("'b'") &&
            Contains("overlap"));
  }
  SECTION("duplicate names") {
    CHECK_THROWS_WITH(open("dup.safetensors", R"({"a":)" + ok_entry + R"(,"a":)" + ok_entry + "}"),
                      Contains("dup.safetensors") && Contains("'a'") && Contains("more than once"));
  }
}

}  // namespace mmgen
