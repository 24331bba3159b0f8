#include "core/gguf.h"

#include <catch2/catch.hpp>
#include <cstring>
#include <fstream>

#include "core/convert.h"
#include "tests/support/test_support.h"

namespace mmgen {
namespace {

using Catch::Matchers::Contains;

// Builds GGUF bytes field by field, for headers the writer would never produce.
class RawGguf {
 public:
  RawGguf& u8(uint8_t v) { return put(v); }
  RawGguf& u32(uint32_t v) { return put(v); }
  RawGguf& u64(uint64_t v) { return put(v); }
  RawGguf& f32(float v) { return put(v); }
  RawGguf& str(const std::string& s) {
    u64(s.size());
    bytes_ += s;
    return *this;
  }
  RawGguf& header(uint32_t version, uint64_t n_tensors, uint64_t n_kv) {
    bytes_ += "GGUF";
    return u32(version).u64(n_tensors).u64(n_kv);
  }
  // A tensor info: name, ne[], ggml type id, offset.
  RawGguf& tensor(const std::string& name, const std::vector<uint64_t>& ne, uint32_t type,
                  uint64_t offset) {
    str(name).u32(static_cast<uint32_t>(ne.size()));
    for (uint64_t d : ne) u64(d);
    return u32(type).u64(offset);
  }
  RawGguf& pad_to(size_t alignment) {
    bytes_.append((alignment - bytes_.size() % alignment) % alignment, '\0');
    return *this;
  }
  RawGguf& zeros(size_t n) {
    bytes_.append(n, '\0');
    return *this;
  }
  std::filesystem::path save(const std::filesystem::path& path) const {
    std::ofstream(path, std::ios::binary) << bytes_;
    return path;
  }
  const std::string& bytes() const { return bytes_; }

 private:
  template <typename T>
  RawGguf& put(T v) {
    bytes_.append(reinterpret_cast<const char*>(&v), sizeof(T));
    return *this;
  }
  std::string bytes_;
};

const GgufFile& as_gguf(const ModelFile& file) {
  const auto* gguf = dynamic_cast<const GgufFile*>(&file);
  REQUIRE(gguf != nullptr);
  return *gguf;
}

}  // namespace

TEST_CASE("ggml type ids map to dtypes both ways", "[gguf]") {
  const std::vector<std::pair<uint32_t, DType>> ids = {
      {0, DType::kF32},   {1, DType::kF16},   {2, DType::kQ4_0},  {3, DType::kQ4_1},
      {6, DType::kQ5_0},  {7, DType::kQ5_1},  {8, DType::kQ8_0},  {10, DType::kQ2_K},
      {11, DType::kQ3_K}, {12, DType::kQ4_K}, {13, DType::kQ5_K}, {14, DType::kQ6_K},
      {15, DType::kQ8_K}, {24, DType::kI8},   {25, DType::kI16},  {26, DType::kI32},
      {27, DType::kI64},  {28, DType::kF64},  {30, DType::kBF16}};
  for (const auto& [id, dtype] : ids) {
    CHECK(dtype_from_ggml_type(id) == dtype);
    CHECK(ggml_type_id(dtype) == id);
  }
  CHECK_FALSE(dtype_from_ggml_type(9).has_value());
  CHECK_FALSE(ggml_type_id(DType::kU16).has_value());
}

TEST_CASE("GGUF writer and reader round-trip metadata of every type", "[gguf]") {
  const auto dir = test::temp_dir("gguf-metadata");
  GgufWriter w;
  w.add_uint8("u8", 200);
  w.add_int8("i8", -100);
  w.add_uint16("u16", 60000);
  w.add_int16("i16", -30000);
  w.add_uint32("u32", 4000000000u);
  w.add_int32("i32", -2000000000);
  w.add_uint64("u64", 18000000000000000000ull);
  w.add_int64("i64", -9000000000000000000ll);
  w.add_float32("f32", 1e-5f);
  w.add_float64("f64", 0.1);
  w.add_bool("yes", true);
  w.add_bool("no", false);
  w.add_string("name", "tiny \"model\"\n");
  w.add_string("empty", "");
  w.add_array("a.u8", std::vector<uint8_t>{1, 2, 255});
  w.add_array("a.i32", std::vector<int32_t>{-1, 0, 7});
  w.add_array("a.u64", std::vector<uint64_t>{1ull << 63});
  w.add_array("a.f32", std::vector<float>{0.5f, -0.25f});
  w.add_array("a.f64", std::vector<double>{});
  w.add_bool_array("a.bool", {true, false, true});
  std::vector<std::string> tokens;
  for (int i = 0; i < 120000; ++i) tokens.push_back("tok" + std::to_string(i));
  w.add_string_array("tokenizer.ggml.tokens", tokens);
  w.add_string_array_array("nested", {{"a", "b"}, {}, {"c"}});
  CHECK_THROWS_WITH(w.add_uint8("u8", 1), Contains("'u8'") && Contains("more than once"));
  w.write(dir / "meta.gguf");

  auto file = ModelFile::open(dir / "meta.gguf");
  const GgufFile& gguf = as_gguf(*file);
  CHECK(gguf.format() == ModelFormat::kGguf);
  CHECK(gguf.version() == 3);
  CHECK(gguf.alignment() == 32);
  CHECK(gguf.tensors().empty());
  const auto& m = gguf.metadata();
  CHECK(m.size() == 22);
  CHECK(m["u8"].is_number_unsigned());
  CHECK(m["u8"] == 200);
  CHECK(m["i8"] == -100);
  CHECK(m["i8"].is_number_integer());
  CHECK(m["u16"] == 60000);
  CHECK(m["i16"] == -30000);
  CHECK(m["u32"].get<uint64_t>() == 4000000000u);
  CHECK(m["i32"] == -2000000000);
  CHECK(m["u64"].get<uint64_t>() == 18000000000000000000ull);
  CHECK(m["i64"].get<int64_t>() == -9000000000000000000ll);
  CHECK(m["f32"].is_number_float());
  CHECK(m["f32"].get<float>() == 1e-5f);
  CHECK(m["f64"].get<double>() == 0.1);
  CHECK(m["yes"] == true);
  CHECK(m["no"] == false);
  CHECK(m["name"] == "tiny \"model\"\n");
  CHECK(m["empty"] == "");
  CHECK(m["a.u8"] == nlohmann::json({1, 2, 255}));
  CHECK(m["a.i32"] == nlohmann::json({-1, 0, 7}));
  CHECK(m["a.u64"][0].get<uint64_t>() == 1ull << 63);
  CHECK(m["a.f32"] == nlohmann::json({0.5, -0.25}));
  CHECK(m["a.f64"] == nlohmann::json::array());
  CHECK(m["a.bool"] == nlohmann::json({true, false, true}));
  REQUIRE(m["tokenizer.ggml.tokens"].size() == 120000);
  CHECK(m["tokenizer.ggml.tokens"][119999] == "tok119999");
  CHECK(m["nested"] == nlohmann::json({{"a", "b"}, nlohmann::json::array(), {"c"}}));

  CHECK(gguf.value_type("u16") == GgufType::kUint16);
  CHECK(gguf.value_type("f32") == GgufType::kFloat32);
  CHECK(gguf.value_type("name") == GgufType::kString);
  CHECK(gguf.value_type("tokenizer.ggml.tokens") == GgufType::kArray);
  CHECK(gguf.array_type("tokenizer.ggml.tokens") == GgufType::kString);
  CHECK(gguf.array_type("nested") == GgufType::kArray);
  CHECK(gguf.array_type("a.f32") == GgufType::kFloat32);
  CHECK_FALSE(gguf.array_type("u8").has_value());
  CHECK_FALSE(gguf.value_type("missing").has_value());
}

TEST_CASE("GGUF writer and reader round-trip tensors of every stored type", "[gguf]") {
  const auto dir = test::temp_dir("gguf-tensors");
  const Tensor f32 = test::random_tensor({3, 64}, 11);
  std::vector<std::pair<std::string, Tensor>> tensors = {
      {"f32", f32},
      {"f16", f32.to(DType::kF16)},
      {"bf16", f32.to(DType::kBF16)},
      {"f64", f32.to(DType::kF64)},
      {"q4_0", f32.to(DType::kQ4_0)},
      {"q4_1", f32.to(DType::kQ4_1)},
      {"q5_0", f32.to(DType::kQ5_0)},
      {"q5_1", f32.to(DType::kQ5_1)},
      {"q8_0", f32.to(DType::kQ8_0)},
      {"i8", Tensor::from_vector<int8_t>({-1, 2, -3}, {3})},
      {"i32", Tensor::from_vector<int32_t>({1, -2, 3, -4}, {2, 2})},
      {"i64", Tensor::from_vector<int64_t>({1LL << 50}, {1})},
      {"4d", test::random_tensor({2, 3, 4, 5}, 12)},
      {"transposed", f32.transpose(0, 1)},
  };
  // K-quant blocks from raw bytes: the writer stores any block type as is.
  for (DType t :
       {DType::kQ2_K, DType::kQ3_K, DType::kQ4_K, DType::kQ5_K, DType::kQ6_K, DType::kQ8_K}) {
    std::vector<uint8_t> raw(block_bytes(t) * 2);
    for (size_t i = 0; i < raw.size(); ++i) raw[i] = static_cast<uint8_t>(i * 37 + 5);
    tensors.emplace_back(std::string(dtype_name(t)), Tensor::from_data(raw.data(), {1, 512}, t));
  }
  const int16_t i16[] = {-7, 9};
  tensors.emplace_back("i16", Tensor::from_data(i16, {2}, DType::kI16));

  GgufWriter w;
  w.add_string("general.architecture", "test");
  for (const auto& [name, t] : tensors) w.add_tensor(name, t);
  w.write(dir / "t.gguf");

  auto file = ModelFile::open(dir / "t.gguf");
  const GgufFile& gguf = as_gguf(*file);
  CHECK(gguf.data_offset() % 32 == 0);
  REQUIRE(file->tensors().size() == tensors.size());
  for (size_t i = 0; i < tensors.size(); ++i) {
    const auto& [name, expected_any] = tensors[i];
    INFO(name);
    const Tensor expected = expected_any.contiguous();
    CHECK(file->tensors()[i].name == name);
    const Tensor t = file->tensor(name);
    CHECK(t.dtype() == expected.dtype());
    CHECK(t.shape() == expected.shape());
    CHECK((t.byte_offset() - gguf.data_offset()) % 32 == 0);
    REQUIRE(t.nbytes() == expected.nbytes());
    CHECK(std::memcmp(t.data(), expected.data(), t.nbytes()) == 0);
    CHECK(t.storage()->size() == std::filesystem::file_size(dir / "t.gguf"));  // a view
  }
  CHECK(file->tensor("transposed").shape() == Shape{64, 3});
  CHECK(test::compare(file->tensor("q8_0"), f32).max_abs < 0.01);
}

TEST_CASE("GGUF writer with a non-default alignment records it", "[gguf]") {
  const auto dir = test::temp_dir("gguf-align");
  GgufWriter w(64);
  w.add_tensor("a", test::random_tensor({3}, 1));
  w.add_tensor("b", test::random_tensor({5}, 2));
  w.write(dir / "a.gguf");
  auto file = ModelFile::open(dir / "a.gguf");
  const GgufFile& gguf = as_gguf(*file);
  CHECK(gguf.alignment() == 64);
  CHECK(gguf.metadata()["general.alignment"] == 64);
  CHECK(gguf.data_offset() % 64 == 0);
  CHECK(file->tensor("b").byte_offset() - gguf.data_offset() == 64);
  CHECK(test::compare(file->tensor("b"), test::random_tensor({5}, 2)).max_abs == 0);
  CHECK_THROWS_WITH(GgufWriter(24), Contains("power of two"));
  GgufWriter bad;
  CHECK_THROWS_WITH(bad.add_tensor("u", Tensor::zeros({2}, DType::kU16)), Contains("'u'"));
  CHECK_THROWS_WITH(bad.add_tensor("x", Tensor::zeros({1, 1, 1, 1, 2})),
                    Contains("'x'") && Contains("5 dimensions"));
}

TEST_CASE("GGUF golden files hold the reference metadata and tensors", "[gguf]") {
  SECTION("gpt2") {
    auto gguf = ModelFile::open(test::golden_file("llm/gpt2_tiny.gguf"));
    const GgufFile& g = as_gguf(*gguf);
    CHECK(g.version() == 3);
    CHECK(g.tensors().size() == 29);
    CHECK(g.tensors()[0].name == "blk.0.attn_qkv.bias");
    const auto& m = g.metadata();
    CHECK(m.size() == 19);
    CHECK(m["general.architecture"] == "gpt2");
    CHECK(m["gpt2.block_count"] == 2);
    CHECK(g.value_type("gpt2.block_count") == GgufType::kUint32);
    CHECK(m["gpt2.attention.layer_norm_epsilon"].get<float>() == 1e-5f);
    REQUIRE(m["tokenizer.ggml.tokens"].size() == 50257);
    CHECK(m["tokenizer.ggml.tokens"][0] == "!");
    CHECK(m["tokenizer.ggml.merges"].size() == 50000);
    CHECK(m["tokenizer.ggml.merges"][0] == "Ġ t");
    CHECK(m["tokenizer.ggml.token_type"][0] == 1);

    auto hf = ModelFile::open(test::golden_file("llm/gpt2_tiny/model.safetensors"));
    const TensorInfo& embd = g.info("token_embd.weight");
    CHECK(embd.dtype == DType::kF16);
    CHECK(embd.shape == Shape{50257, 64});  // ne = [64, 50257] reversed
    CHECK(test::compare(gguf->tensor("token_embd.weight"), hf->tensor("transformer.wte.weight"))
              .max_abs == 0);
    CHECK(test::compare(gguf->tensor("output.weight"), hf->tensor("transformer.wte.weight"))
              .max_abs == 0);
    CHECK(g.info("output_norm.weight").dtype == DType::kF32);
    CHECK(test::compare(gguf->tensor("output_norm.weight"), hf->tensor("transformer.ln_f.weight"))
              .max_abs == 0);
    CHECK(test::compare(gguf->tensor("position_embd.weight"), hf->tensor("transformer.wpe.weight"))
              .max_abs == 0);
    // Conv1D [in, out] weights are stored transposed to [out, in].
    CHECK(test::compare(gguf->tensor("blk.1.ffn_up.weight"),
                        hf->tensor("transformer.h.1.mlp.c_fc.weight").transpose(0, 1))
              .max_abs == 0);
  }
  SECTION("llama") {
    auto gguf = ModelFile::open(test::golden_file("llm/llama_tiny.gguf"));
    auto hf = ModelFile::open(test::golden_file("llm/llama_tiny/model.safetensors"));
    CHECK(gguf->tensors().size() == 21);
    CHECK(gguf->metadata()["llama.rope.freq_base"].get<double>() == 10000.0);
    CHECK(gguf->metadata()["tokenizer.ggml.add_bos_token"] == true);
    CHECK(gguf->metadata()["tokenizer.ggml.scores"].size() == 32000);
    // q and k rows are permuted for ggml's rope; the others are stored as they are.
    const std::vector<std::pair<std::string, std::string>> same = {
        {"token_embd.weight", "model.embed_tokens.weight"},
        {"output.weight", "lm_head.weight"},
        {"output_norm.weight", "model.norm.weight"},
        {"blk.0.attn_norm.weight", "model.layers.0.input_layernorm.weight"},
        {"blk.0.attn_v.weight", "model.layers.0.self_attn.v_proj.weight"},
        {"blk.1.ffn_down.weight", "model.layers.1.mlp.down_proj.weight"},
        {"blk.1.ffn_gate.weight", "model.layers.1.mlp.gate_proj.weight"}};
    for (const auto& [g, h] : same) {
      INFO(g);
      CHECK(gguf->info(g).shape == hf->info(h).shape);
      CHECK(test::compare(gguf->tensor(g), hf->tensor(h)).max_abs == 0);
    }
  }
  SECTION("qwen2") {
    auto gguf = ModelFile::open(test::golden_file("llm/qwen2_tiny.gguf"));
    auto hf = ModelFile::open(test::golden_file("llm/qwen2_tiny/model.safetensors"));
    CHECK(gguf->tensors().size() == 26);
    // qwen2's q/k are not permuted (NEOX rope), so they compare directly too.
    const std::vector<std::pair<std::string, std::string>> same = {
        {"token_embd.weight", "model.embed_tokens.weight"},
        {"blk.0.attn_q.weight", "model.layers.0.self_attn.q_proj.weight"},
        {"blk.0.attn_q.bias", "model.layers.0.self_attn.q_proj.bias"},
        {"blk.1.attn_k.weight", "model.layers.1.self_attn.k_proj.weight"},
        {"output_norm.weight", "model.norm.weight"}};
    for (const auto& [g, h] : same) {
      INFO(g);
      CHECK(test::compare(gguf->tensor(g), hf->tensor(h)).max_abs == 0);
    }
  }
  SECTION("vocabulary-only files without tensors") {
    auto vocab = ModelFile::open(test::golden_file("llm/tokenizers/ggml-vocab-llama-spm.gguf"));
    CHECK(vocab->tensors().empty());
    CHECK(vocab->metadata()["tokenizer.ggml.model"] == "llama");
    CHECK(vocab->metadata()["tokenizer.ggml.tokens"][1] == "<s>");
  }
}

TEST_CASE("GGUF reader rejects malformed headers with clear errors", "[gguf]") {
  const auto dir = test::temp_dir("gguf-errors");
  const auto path = dir / "bad.gguf";
  const auto open = [&](const RawGguf& raw) { return ModelFile::open(raw.save(path)); };

  SECTION("versions") {
    CHECK_THROWS_WITH(open(RawGguf().header(1, 0, 0)),
                      Contains("bad.gguf") && Contains("GGUF version 1 is not supported"));
    CHECK_THROWS_WITH(open(RawGguf().header(4, 0, 0)),
                      Contains("unsupported GGUF version 4") && Contains("2 and 3"));
    CHECK_THROWS_WITH(open(RawGguf().header(3u << 24, 0, 0)), Contains("big-endian"));
    CHECK_NOTHROW(open(RawGguf().header(2, 0, 0)));
  }
  SECTION("absurd counts and lengths are checked before allocating") {
    CHECK_THROWS_WITH(open(RawGguf().header(3, 0, 1ull << 60)),
                      Contains("metadata count") && Contains("cannot fit"));
    CHECK_THROWS_WITH(open(RawGguf().header(3, 1ull << 60, 0)),
                      Contains("tensor count") && Contains("cannot fit"));
    CHECK_THROWS_WITH(open(RawGguf().header(3, 0, 1).u64(1ull << 62).zeros(16)),
                      Contains("bad.gguf") && Contains("truncated") && Contains("metadata key"));
    CHECK_THROWS_WITH(open(RawGguf().header(3, 0, 1).str("k").u32(8).u64(~0ull)),
                      Contains("truncated") && Contains("'k'"));
    CHECK_THROWS_WITH(open(RawGguf().header(3, 0, 1).str("k").u32(9).u32(8).u64(1ull << 61)),
                      Contains("'k'") && Contains("cannot fit"));
  }
  SECTION("invalid value types and nesting") {
    CHECK_THROWS_WITH(open(RawGguf().header(3, 0, 1).str("k").u32(13).u32(0)),
                      Contains("'k'") && Contains("invalid value type 13"));
    RawGguf deep;
    deep.header(3, 0, 1).str("deep").u32(9);
    for (int i = 0; i < 20; ++i) deep.u32(9).u64(1);
    deep.u32(0).u64(0);
    CHECK_THROWS_WITH(open(deep), Contains("'deep'") && Contains("nests arrays"));
  }
  SECTION("duplicate keys and tensor names") {
    CHECK_THROWS_WITH(open(RawGguf().header(3, 0, 2).str("k").u32(0).u8(1).str("k").u32(0).u8(2)),
                      Contains("'k'") && Contains("more than once"));
    CHECK_THROWS_WITH(open(RawGguf()
                               .header(3, 2, 0)
                               .tensor("t", {4}, 0, 0)
                               .tensor("t", {4}, 0, 32)
                               .pad_to(32)
                               .zeros(64)),
                      Contains("'t'") && Contains("more than once"));
  }
  SECTION("alignment") {
    CHECK_THROWS_WITH(open(RawGguf().header(3, 0, 1).str("general.alignment").u32(4).u32(0)),
                      Contains("general.alignment must be a nonzero power of two, got 0"));
    CHECK_THROWS_WITH(open(RawGguf().header(3, 0, 1).str("general.alignment").u32(4).u32(48)),
                      Contains("got 48"));
    CHECK_THROWS_WITH(open(RawGguf().header(3, 0, 1).str("general.alignment").u32(6).f32(32)),
                      Contains("general.alignment"));
    auto ok = open(RawGguf().header(3, 0, 1).str("general.alignment").u32(4).u32(16));
    CHECK(as_gguf(*ok).alignment() == 16);
  }
  SECTION("tensor infos") {
    CHECK_THROWS_WITH(open(RawGguf().header(3, 1, 0).tensor("w", {1, 1, 1, 1, 1}, 0, 0)),
                      Contains("tensor 'w'") && Contains("5 dimensions"));
    CHECK_THROWS_WITH(open(RawGguf().header(3, 1, 0).tensor("w", {32}, 16, 0).pad_to(32).zeros(64)),
                      Contains("tensor 'w'") && Contains("ggml type 16") && Contains("IQ2_XXS"));
    CHECK_THROWS_WITH(open(RawGguf().header(3, 1, 0).tensor("w", {32}, 77, 0).pad_to(32).zeros(64)),
                      Contains("tensor 'w'") && Contains("ggml type 77"));
    CHECK_THROWS_WITH(
        open(RawGguf().header(3, 1, 0).tensor("w", {48}, 2, 0).pad_to(32).zeros(64)),
        Contains("tensor 'w'") && Contains("row length 48") && Contains("block size 32"));
    CHECK_THROWS_WITH(open(RawGguf().header(3, 1, 0).tensor("w", {4}, 0, 8).pad_to(32).zeros(64)),
                      Contains("tensor 'w'") && Contains("not a multiple of the alignment 32"));
    CHECK_THROWS_WITH(open(RawGguf().header(3, 1, 0).tensor("w", {64}, 0, 0).pad_to(32).zeros(64)),
                      Contains("tensor 'w'") && Contains("past the end of the data section"));
    CHECK_THROWS_WITH(
        open(RawGguf().header(3, 1, 0).tensor("w", {1ull << 62, 1ull << 62}, 0, 0).pad_to(32)),
        Contains("tensor 'w'") && Contains("too large"));
    CHECK_THROWS_WITH(open(RawGguf()
                               .header(3, 2, 0)
                               .tensor("a", {16}, 0, 0)
                               .tensor("b", {8}, 0, 32)
                               .pad_to(32)
                               .zeros(128)),
                      Contains("'a'") && Contains("'b'") && Contains("overlap"));
    CHECK_THROWS_WITH(open(RawGguf().header(3, 1, 0).tensor("w", {4}, 0, 0)),
                      Contains("before its data section"));
  }
  SECTION("every truncation of a valid file is an error, never a crash") {
    GgufWriter w;
    w.add_string("general.architecture", "llama");
    w.add_string_array("tokenizer.ggml.tokens", {"a", "bb", "ccc"});
    w.add_tensor("x", test::random_tensor({2, 32}, 3).to(DType::kQ8_0));
    w.write(dir / "full.gguf");
    std::ifstream in(dir / "full.gguf", std::ios::binary);
    const std::string full(std::istreambuf_iterator<char>(in), {});
    // Only the padding after the last tensor's 2 x 34 bytes may go missing.
    const size_t data_end = as_gguf(*ModelFile::open(dir / "full.gguf")).data_offset() + 68;
    for (size_t n = 4; n < data_end; ++n) {
      INFO(n);
      std::ofstream(path, std::ios::binary) << full.substr(0, n);
      CHECK_THROWS_AS(open_gguf(path), Error);
    }
  }
}

}  // namespace mmgen
