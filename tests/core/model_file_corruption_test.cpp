// Truncated and randomly corrupted weight files: opening one and reading every tensor
// either succeeds or throws mmgen::Error naming the file; nothing else is acceptable.
#include <fcntl.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstring>
#include <fstream>
#include <functional>
#include <random>

#include "core/gguf.h"
#include "core/model_file.h"
#include "core/safetensors.h"
#include "tests/support/test_support.h"

namespace mmgen {
namespace {

using Catch::Matchers::Contains;

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

// The file that holds the variants: written once, then patched, restored and shrunk in
// place through one descriptor (opening files is the slow part on some file systems).
class VariantFile {
 public:
  VariantFile(const std::filesystem::path& path, const std::string& bytes) {
    write_file(path, bytes);
    fd_ = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
    REQUIRE(fd_ >= 0);
  }
  ~VariantFile() { ::close(fd_); }
  VariantFile(const VariantFile&) = delete;
  VariantFile& operator=(const VariantFile&) = delete;

  void patch(size_t offset, char value) {
    REQUIRE(::pwrite(fd_, &value, 1, static_cast<off_t>(offset)) == 1);
  }
  void truncate(size_t size) { REQUIRE(::ftruncate(fd_, static_cast<off_t>(size)) == 0); }

 private:
  int fd_ = -1;
};

template <typename T>
std::string le_bytes(T value) {
  return std::string(reinterpret_cast<const char*>(&value), sizeof(T));
}

struct Outcomes {
  int opened = 0;
  int rejected = 0;
};

// Opens the file and reads every tensor (dequantising quantised ones). Returns
// normally on success or on an Error that names the file; anything else fails.
void open_and_read_all(const std::filesystem::path& path, Outcomes& outcomes) {
  try {
    const auto file = ModelFile::open(path);
    double checksum = 0;
    for (const TensorInfo& info : file->tensors()) {
      const Tensor t = file->tensor(info.name);
      REQUIRE(t.shape() == info.shape);
      REQUIRE(t.dtype() == info.dtype);
      for (float v : t.to_f32_vector()) checksum += v == v ? v : 0.0;
    }
    (void)file->metadata().dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    ++outcomes.opened;
    (void)checksum;
  } catch (const Error& e) {
    ++outcomes.rejected;
    const std::string message = e.what();
    CHECK_THAT(message, Contains(path.string()));
    CHECK(message.find('\n') == std::string::npos);
  } catch (const std::exception& e) {
    FAIL("non-Error exception for " << path << ": " << e.what());
  }
}

// Starting bytes the PyTorch reader would claim; those variants belong to its own tests.
bool looks_like_torch(const std::string& bytes) {
  return !bytes.empty() &&
         (static_cast<unsigned char>(bytes[0]) == 0x80 || bytes.rfind("PK\x03\x04", 0) == 0);
}

// Truncates a copy of `original` at `cuts` points (longest first, shrinking the same
// file) and opens each; then restores the copy.
void truncations(const std::filesystem::path& path, const std::string& original,
                 std::vector<size_t> cuts, Outcomes& outcomes) {
  VariantFile file(path, original);
  std::sort(cuts.rbegin(), cuts.rend());
  cuts.erase(std::unique(cuts.begin(), cuts.end()), cuts.end());
  for (size_t n : cuts) {
    if (n >= original.size()) continue;
    INFO("truncated to " << n << " of " << original.size() << " bytes");
    file.truncate(n);
    if (looks_like_torch(original.substr(0, n))) continue;
    open_and_read_all(path, outcomes);
  }
}

// Truncation points: every byte of the first `dense` bytes, then `sparse` random ones.
std::vector<size_t> cut_points(size_t size, size_t dense, int sparse, uint32_t seed) {
  std::vector<size_t> cuts;
  for (size_t n = 0; n < std::min(dense, size); ++n) cuts.push_back(n);
  std::mt19937 rng(seed);
  for (int i = 0; i < sparse; ++i) cuts.push_back(rng() % size);
  return cuts;
}

// Flips 1-4 random bytes per variant, mostly inside [0, header_end), in a copy that
// is patched and restored in place (large files are written once).
void byte_flips(const std::filesystem::path& path, const std::string& original, size_t header_end,
                int variants, uint32_t seed, Outcomes& outcomes) {
  VariantFile file(path, original);
  std::mt19937 rng(seed);
  for (int v = 0; v < variants; ++v) {
    const int flips = 1 + static_cast<int>(rng() % 4);
    std::vector<std::pair<size_t, char>> changes;
    std::string head = original.substr(0, 16);
    for (int f = 0; f < flips; ++f) {
      const bool in_header = rng() % 10 < 8;
      const size_t at = rng() % (in_header ? header_end : original.size());
      // Half the time one bit, otherwise a random byte (often 0x00 or 0xff-like extremes).
      char value = original[at];
      if (rng() % 2)
        value = static_cast<char>(value ^ (1 << (rng() % 8)));
      else
        value = static_cast<char>(rng() % 4 == 0 ? 0xff : rng());
      changes.emplace_back(at, value);
      if (at < head.size()) head[at] = value;
    }
    if (looks_like_torch(head)) continue;
    INFO("variant " << v << " of seed " << seed);
    for (const auto& [at, value] : changes) file.patch(at, value);
    open_and_read_all(path, outcomes);
    for (const auto& [at, value] : changes) file.patch(at, original[at]);
  }
}

size_t safetensors_header_end(const std::string& bytes) {
  uint64_t len;
  std::memcpy(&len, bytes.data(), 8);
  return static_cast<size_t>(8 + len);
}

// A small safetensors file with every dtype, written by the project's writer.
std::string small_safetensors(const std::filesystem::path& dir) {
  const uint8_t bytes[] = {1, 0, 1, 0x38, 0xb8, 0x7f, 0x3c, 0x40};
  std::vector<std::pair<std::string, Tensor>> tensors = {
      {"f32", test::random_tensor({3, 5}, 1)},
      {"f16", test::random_tensor({7}, 2).to(DType::kF16)},
      {"bf16", test::random_tensor({2, 2}, 3).to(DType::kBF16)},
      {"f64", test::random_tensor({3}, 4).to(DType::kF64)},
      {"i64", Tensor::from_vector<int64_t>({1, -2, 3}, {3})},
      {"i32", Tensor::from_vector<int32_t>({5, 6}, {2, 1})},
      {"u8", Tensor::from_data(bytes, {8}, DType::kU8)},
      {"bool", Tensor::from_data(bytes, {3}, DType::kBool)},
      {"f8_e4m3", Tensor::from_data(bytes, {2, 4}, DType::kF8E4M3)},
      {"f8_e5m2", Tensor::from_data(bytes, {8}, DType::kF8E5M2)},
      {"scalar", Tensor::from_vector<float>({1.0f}, {})},
      {"empty", Tensor::empty({0}, DType::kF32)},
  };
  write_safetensors(dir / "small.safetensors", tensors, {{"format", "pt"}, {"k", "v"}});
  return read_file(dir / "small.safetensors");
}

// A small GGUF file with quantised tensors and every kind of metadata value.
std::string small_gguf(const std::filesystem::path& dir, size_t* data_offset) {
  GgufWriter w;
  w.add_string("general.architecture", "llama");
  w.add_uint32("llama.block_count", 2);
  w.add_float32("llama.rope.freq_base", 10000.0f);
  w.add_bool("tokenizer.ggml.add_bos_token", true);
  w.add_int64("i64", -5);
  w.add_string_array("tokenizer.ggml.tokens", {"<unk>", "<s>", "</s>", "hello", "world"});
  w.add_array("tokenizer.ggml.scores", std::vector<float>{0, 0, 0, -1.5f, -2.5f});
  w.add_array("tokenizer.ggml.token_type", std::vector<int32_t>{2, 3, 3, 1, 1});
  w.add_string_array_array("nested", {{"a"}, {"b", "c"}});
  const Tensor x = test::random_tensor({2, 256}, 5);
  w.add_tensor("f32", test::random_tensor({4, 3}, 6));
  w.add_tensor("f16", x.to(DType::kF16));
  w.add_tensor("q4_0", x.to(DType::kQ4_0));
  w.add_tensor("q5_1", x.to(DType::kQ5_1));
  w.add_tensor("q8_0", x.to(DType::kQ8_0));
  std::vector<uint8_t> raw(block_bytes(DType::kQ4_K) * 2);
  for (size_t i = 0; i < raw.size(); ++i) raw[i] = static_cast<uint8_t>(i * 13 + 1);
  w.add_tensor("q4_k", Tensor::from_data(raw.data(), {2, 256}, DType::kQ4_K));
  w.add_tensor("i32", Tensor::from_vector<int32_t>({1, 2, 3}, {3}));
  w.write(dir / "small.gguf");
  const auto file = ModelFile::open(dir / "small.gguf");
  *data_offset = static_cast<size_t>(dynamic_cast<const GgufFile&>(*file).data_offset());
  return read_file(dir / "small.gguf");
}

// Rewrites a safetensors file with an edited header and the original data section.
std::filesystem::path with_header(const std::filesystem::path& path, const std::string& original,
                                  const std::function<void(nlohmann::json&)>& edit) {
  const size_t header_end = safetensors_header_end(original);
  auto header = nlohmann::json::parse(original.substr(8, header_end - 8));
  edit(header);
  const std::string text = header.dump();
  write_file(path, le_bytes<uint64_t>(text.size()) + text + original.substr(header_end));
  return path;
}

}  // namespace

TEST_CASE("truncated and corrupted safetensors files fail cleanly", "[corruption]") {
  const auto dir = test::temp_dir("corrupt-safetensors");
  const auto path = dir / "variant.safetensors";
  Outcomes outcomes;
  SECTION("golden sd1/vae.safetensors") {
    const std::string original = read_file(test::golden_file("sd1/vae.safetensors"));
    const size_t header_end = safetensors_header_end(original);
    truncations(path, original, cut_points(original.size(), header_end + 16, 60, 1), outcomes);
    byte_flips(path, original, header_end, 300, 2, outcomes);
  }
  SECTION("small file with every dtype") {
    const std::string original = small_safetensors(dir);
    const size_t header_end = safetensors_header_end(original);
    truncations(path, original, cut_points(original.size(), original.size(), 0, 3), outcomes);
    byte_flips(path, original, header_end, 400, 4, outcomes);
  }
  // Both outcomes occur: the variants are neither all harmless nor all fatal.
  INFO("opened " << outcomes.opened << ", rejected " << outcomes.rejected);
  CHECK(outcomes.opened > 5);
  CHECK(outcomes.rejected > 100);
  std::filesystem::remove_all(dir);
}

TEST_CASE("truncated and corrupted GGUF files fail cleanly", "[corruption]") {
  const auto dir = test::temp_dir("corrupt-gguf");
  const auto path = dir / "variant.gguf";
  Outcomes outcomes;
  SECTION("golden llm/gpt2_tiny.gguf") {
    const std::string original = read_file(test::golden_file("llm/gpt2_tiny.gguf"));
    const auto golden = ModelFile::open(test::golden_file("llm/gpt2_tiny.gguf"));
    const auto data_offset = dynamic_cast<const GgufFile&>(*golden).data_offset();
    // Dense at the start (counts, first keys), then spread over header and data.
    auto cuts = cut_points(original.size(), 64, 30, 5);
    for (size_t n : {data_offset - 1, data_offset, data_offset + 1, original.size() - 1})
      cuts.push_back(n);
    truncations(path, original, cuts, outcomes);
    // Flips mostly in the fixed fields and the tensor infos at the end of the header.
    byte_flips(path, original, 64, 40, 6, outcomes);
    VariantFile file(path, original);
    std::mt19937 rng(7);
    for (int v = 0; v < 40; ++v) {
      const size_t at = data_offset - 1 - rng() % 2000;  // the tensor infos
      file.patch(at, static_cast<char>(rng()));
      INFO("tensor info byte " << at);
      open_and_read_all(path, outcomes);
      file.patch(at, original[at]);
    }
  }
  SECTION("small file with quantised tensors and nested metadata") {
    size_t data_offset = 0;
    const std::string original = small_gguf(dir, &data_offset);
    truncations(path, original, cut_points(original.size(), data_offset + 8, 40, 8), outcomes);
    byte_flips(path, original, data_offset, 500, 9, outcomes);
  }
  INFO("opened " << outcomes.opened << ", rejected " << outcomes.rejected);
  CHECK(outcomes.opened > 10);
  CHECK(outcomes.rejected > 30);
  std::filesystem::remove_all(dir);
}

TEST_CASE("corrupt files give errors that say what is wrong", "[corruption]") {
  const auto dir = test::temp_dir("corrupt-targeted");
  const std::string vae = read_file(test::golden_file("sd1/vae.safetensors"));
  const std::string gpt2 = read_file(test::golden_file("llm/gpt2_tiny.gguf"));

  SECTION("truncated files") {
    const auto st = dir / "vae-truncated.safetensors";
    write_file(st, vae.substr(0, vae.size() - 100));
    CHECK_THROWS_WITH(ModelFile::open(st), Contains("vae-truncated.safetensors") &&
                                               Contains("tensor 'z'") &&
                                               Contains("past the end of the data section"));
    write_file(st, vae.substr(0, 100));
    CHECK_THROWS_WITH(ModelFile::open(st),
                      Contains("past the end of the file") && Contains("truncated"));
    const auto gg = dir / "gpt2-truncated.gguf";
    write_file(gg, gpt2.substr(0, 5000));
    CHECK_THROWS_WITH(ModelFile::open(gg),
                      Contains("gpt2-truncated.gguf") && Contains("truncated"));
    write_file(gg, gpt2.substr(0, gpt2.size() - 1));
    CHECK_THROWS_WITH(ModelFile::open(gg), Contains("gpt2-truncated.gguf") &&
                                               Contains("past the end of the data section"));
  }
  SECTION("offset past the end") {
    const auto st = with_header(dir / "offset.safetensors", vae, [](nlohmann::json& h) {
      h["z"]["data_offsets"] = {102400 + 4096, 103424 + 4096};
    });
    CHECK_THROWS_WITH(ModelFile::open(st), Contains("offset.safetensors") &&
                                               Contains("tensor 'z'") &&
                                               Contains("past the end of the data section"));
  }
  SECTION("overlapping tensors") {
    const auto st = with_header(dir / "overlap.safetensors", vae, [](nlohmann::json& h) {
      h["mean"]["data_offsets"] = {98304 + 512, 99328 + 512};
    });
    CHECK_THROWS_WITH(ModelFile::open(st), Contains("overlap.safetensors") &&
                                               Contains("'logvar'") && Contains("'mean'") &&
                                               Contains("overlap"));
  }
  SECTION("size mismatch") {
    const auto st = with_header(dir / "size.safetensors", vae, [](nlohmann::json& h) {
      h["z"]["shape"] = {1, 4, 8, 9};
    });
    CHECK_THROWS_WITH(ModelFile::open(st), Contains("size.safetensors") && Contains("tensor 'z'") &&
                                               Contains("size mismatch"));
  }
  SECTION("absurd header length") {
    const auto st = dir / "absurd.safetensors";
    write_file(st, le_bytes<uint64_t>(1ull << 50) + vae.substr(8));
    CHECK_THROWS_WITH(ModelFile::open(st), Contains("absurd.safetensors") && Contains("absurd"));
  }
  SECTION("malformed JSON") {
    const auto st = dir / "json.safetensors";
    std::string bytes = vae;
    bytes[bytes.find(':')] = '#';
    write_file(st, bytes);
    CHECK_THROWS_WITH(ModelFile::open(st), Contains("json.safetensors") &&
                                               Contains("malformed safetensors JSON header"));
  }
  SECTION("bad GGUF version") {
    const auto gg = dir / "version.gguf";
    write_file(gg, gpt2.substr(0, 4) + le_bytes<uint32_t>(1) + gpt2.substr(8));
    CHECK_THROWS_WITH(ModelFile::open(gg),
                      Contains("version.gguf") && Contains("GGUF version 1 is not supported"));
    write_file(gg, gpt2.substr(0, 4) + le_bytes<uint32_t>(99) + gpt2.substr(8));
    CHECK_THROWS_WITH(ModelFile::open(gg), Contains("unsupported GGUF version 99"));
  }
  SECTION("absurd GGUF string length and counts") {
    const auto gg = dir / "string.gguf";
    // The first key's length field follows the 24-byte fixed header.
    write_file(gg, gpt2.substr(0, 24) + le_bytes<uint64_t>(1ull << 61) + gpt2.substr(32));
    CHECK_THROWS_WITH(ModelFile::open(gg),
                      Contains("string.gguf") && Contains("metadata key") && Contains("truncated"));
    write_file(gg, gpt2.substr(0, 8) + le_bytes<uint64_t>(1ull << 40) + gpt2.substr(16));
    CHECK_THROWS_WITH(ModelFile::open(gg), Contains("tensor count") && Contains("cannot fit"));
  }
  SECTION("bad alignment") {
    for (uint32_t alignment : {0u, 48u}) {
      GgufWriter w;
      w.add_uint32("general.alignment", alignment);
      w.add_tensor("x", Tensor::zeros({4}));
      w.write(dir / "align.gguf");
      CHECK_THROWS_WITH(ModelFile::open(dir / "align.gguf"),
                        Contains("align.gguf") &&
                            Contains("general.alignment must be a nonzero power of two, got " +
                                     std::to_string(alignment)));
    }
  }
  SECTION("unknown content") {
    const auto path = dir / "notes.txt";
    write_file(path, "just some text, not weights");
    CHECK_THROWS_WITH(ModelFile::open(path), Contains("notes.txt") && Contains("safetensors") &&
                                                 Contains("GGUF") && Contains("PyTorch"));
    write_file(path, "");
    CHECK_THROWS_WITH(ModelFile::open(path), Contains("notes.txt") && Contains("empty"));
    CHECK_THROWS_WITH(ModelFile::open(dir / "missing.gguf"),
                      Contains("missing.gguf") && Contains("no such file"));
    CHECK_THROWS_WITH(ModelFile::open(dir), Contains("not a regular file"));
  }
  std::filesystem::remove_all(dir);
}

}  // namespace mmgen
