// TF.js weight manifests: float32, uint8/uint16 (scale, min) and float16 entries,
// several shards, both manifest shapes, and one clear error per kind of bad input.
#include "vision/tfjs_weights.h"

#include <catch2/catch.hpp>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "core/half.h"
#include "tests/support/test_support.h"

namespace mmgen::vision {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

void write_bytes(const fs::path& path, const std::vector<uint8_t>& bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(bytes.data()),
            static_cast<std::streamsize>(bytes.size()));
}

void write_text(const fs::path& path, const std::string& text) { std::ofstream(path) << text; }

void append_f32(std::vector<uint8_t>& bytes, float v) {
  const size_t at = bytes.size();
  bytes.resize(at + 4);
  std::memcpy(bytes.data() + at, &v, 4);
}

// A manifest with a float32 [2, 2], a uint8 [3] and a float16 [2] weight in two shards.
json sample_manifest() {
  return json::parse(R"([{
    "paths": ["a.bin", "b.bin"],
    "weights": [
      {"name": "layer/filters", "shape": [2, 2], "dtype": "float32"},
      {"name": "layer/bias", "shape": [3], "dtype": "float32",
       "quantization": {"dtype": "uint8", "scale": 0.5, "min": -1.0}},
      {"name": "layer/gain", "shape": [2], "dtype": "float32", "quantization": {"dtype": "float16"}}
    ]}])");
}

std::vector<uint8_t> sample_bytes() {
  std::vector<uint8_t> bytes;
  for (float v : {1.5f, -2.0f, 0.25f, 8.0f}) append_f32(bytes, v);
  for (uint8_t q : {0, 2, 255}) bytes.push_back(q);
  for (float v : {1.0f, -0.5f}) {
    const uint16_t h = f32_to_f16(v);
    bytes.push_back(static_cast<uint8_t>(h & 0xff));
    bytes.push_back(static_cast<uint8_t>(h >> 8));
  }
  return bytes;
}

// Writes the manifest and splits the bytes over a.bin and b.bin.
fs::path write_model(const fs::path& dir, const json& manifest, const std::vector<uint8_t>& bytes,
                     const std::string& file = "model-weights_manifest.json") {
  const size_t half = bytes.size() / 2;
  write_bytes(dir / "a.bin", std::vector<uint8_t>(bytes.begin(), bytes.begin() + half));
  write_bytes(dir / "b.bin", std::vector<uint8_t>(bytes.begin() + half, bytes.end()));
  write_text(dir / file, manifest.dump());
  return dir / file;
}

}  // namespace

TEST_CASE("TF.js manifests give float32 and dequantised weights", "[tfjs]") {
  const auto dir = test::temp_dir("tfjs_weights");
  const TfjsWeights w = read_tfjs_weights(write_model(dir, sample_manifest(), sample_bytes()));
  CHECK(w.tensors().size() == 3);
  CHECK(w.get("layer/filters", {2, 2}).to_f32_vector() == std::vector<float>{1.5f, -2, 0.25f, 8});
  // uint8: q * scale + min.
  CHECK(w.get("layer/bias").to_f32_vector() == std::vector<float>{-1.0f, 0.0f, 126.5f});
  CHECK(w.get("layer/gain").to_f32_vector() == std::vector<float>{1.0f, -0.5f});

  // The same groups inside a model.json.
  json model = {{"format", "layers-model"}, {"weightsManifest", sample_manifest()}};
  const TfjsWeights w2 = read_tfjs_weights(write_model(dir, model, sample_bytes(), "model.json"));
  CHECK(w2.get("layer/bias").to_f32_vector() == std::vector<float>{-1.0f, 0.0f, 126.5f});
}

TEST_CASE("Bad TF.js manifests give clear errors naming the file", "[tfjs]") {
  const auto dir = test::temp_dir("tfjs_bad");
  const std::string file = (dir / "model-weights_manifest.json").string();
  using Catch::Contains;

  SECTION("missing manifest") {
    CHECK_THROWS_WITH(read_tfjs_weights(dir / "absent.json"),
                      Contains("absent.json") && Contains("cannot open"));
  }
  SECTION("invalid JSON") {
    write_text(file, "[{\"paths\": [");
    CHECK_THROWS_WITH(read_tfjs_weights(file), Contains(file) && Contains("invalid JSON"));
  }
  SECTION("not a manifest") {
    write_text(file, "{\"format\": \"graph-model\"}");
    CHECK_THROWS_WITH(read_tfjs_weights(file), Contains(file) && Contains("weightsManifest"));
  }
  SECTION("missing shard") {
    write_text(file, sample_manifest().dump());
    CHECK_THROWS_WITH(read_tfjs_weights(file), Contains(file) && Contains("a.bin"));
  }
  SECTION("truncated shards") {
    std::vector<uint8_t> bytes = sample_bytes();
    bytes.resize(bytes.size() - 3);
    CHECK_THROWS_WITH(read_tfjs_weights(write_model(dir, sample_manifest(), bytes)),
                      Contains(file) && Contains("layer/gain") && Contains("shards hold only"));
  }
  SECTION("extra bytes") {
    std::vector<uint8_t> bytes = sample_bytes();
    bytes.push_back(0);
    CHECK_THROWS_WITH(read_tfjs_weights(write_model(dir, sample_manifest(), bytes)),
                      Contains(file) && Contains("weights use"));
  }
  SECTION("unsupported quantisation") {
    json m = sample_manifest();
    m[0]["weights"][1]["quantization"]["dtype"] = "int4";
    CHECK_THROWS_WITH(read_tfjs_weights(write_model(dir, m, sample_bytes())),
                      Contains(file) && Contains("layer/bias") && Contains("int4"));
  }
  SECTION("quantisation without scale") {
    json m = sample_manifest();
    m[0]["weights"][1]["quantization"].erase("scale");
    CHECK_THROWS_WITH(read_tfjs_weights(write_model(dir, m, sample_bytes())),
                      Contains("layer/bias") && Contains("scale"));
  }
  SECTION("bad shape") {
    json m = sample_manifest();
    m[0]["weights"][0]["shape"] = json::array({2, -2});
    CHECK_THROWS_WITH(read_tfjs_weights(write_model(dir, m, sample_bytes())),
                      Contains("layer/filters") && Contains("shape"));
  }
  SECTION("missing or misshapen weight") {
    const TfjsWeights w = read_tfjs_weights(write_model(dir, sample_manifest(), sample_bytes()));
    CHECK_THROWS_WITH(w.get("layer/other"), Contains(file) && Contains("layer/other"));
    CHECK_THROWS_WITH(w.get("layer/filters", {4}),
                      Contains("layer/filters") && Contains("[2, 2]") && Contains("[4]"));
  }
}

}  // namespace mmgen::vision
