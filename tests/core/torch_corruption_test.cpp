// Damaged PyTorch checkpoints: every truncation and random byte flip of every fixture
// either loads (and then every tensor reads inside its storage) or throws mmgen::Error;
// nothing crashes, reads out of bounds or runs. Meant to run under the sanitizers too.
#include <algorithm>
#include <catch2/catch.hpp>
#include <fstream>
#include <random>
#include <string>

#include "core/model_file.h"
#include "tests/support/test_support.h"

namespace mmgen {
namespace {

std::string read_bytes(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  REQUIRE(in.good());
  return std::string(std::istreambuf_iterator<char>(in), {});
}

void write_bytes(const std::filesystem::path& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  REQUIRE(out.good());
}

std::vector<std::filesystem::path> torch_fixtures() {
  std::vector<std::filesystem::path> out;
  for (const auto& entry : std::filesystem::directory_iterator(test::test_data_dir() / "torch"))
    if (entry.path().extension() != ".json") out.push_back(entry.path());
  std::sort(out.begin(), out.end());
  REQUIRE(out.size() >= 10);
  return out;
}

struct Outcome {
  int loaded = 0;
  int refused = 0;
};

// Opens the file; on success reads every tensor's elements and serialises the metadata.
void try_open(const std::filesystem::path& path, Outcome& outcome) {
  try {
    auto file = ModelFile::open(path);
    for (const TensorInfo& info : file->tensors()) {
      const Tensor t = file->tensor(info.name);
      if (bytes_for(t.dtype(), t.numel()) > (size_t{64} << 20)) continue;  // a flipped size
      const auto values = t.to_f32_vector();
      REQUIRE(values.size() == static_cast<size_t>(t.numel()));
    }
    (void)file->metadata().dump();
    ++outcome.loaded;
  } catch (const Error&) {
    ++outcome.refused;
  }
}

}  // namespace

TEST_CASE("torch corruption: truncated checkpoints are errors", "[torch][corruption]") {
  const auto dir = test::temp_dir("torch-truncate");
  for (const auto& fixture : torch_fixtures()) {
    INFO(fixture.filename().string());
    const std::string bytes = read_bytes(fixture);
    const size_t step = std::max<size_t>(1, bytes.size() / 400);
    Outcome outcome;
    for (size_t length = 0; length < bytes.size(); ++length) {
      // Every length near the ends (headers, end records), a sample in between.
      if (length > 64 && length + 64 < bytes.size() && length % step != 0) continue;
      const auto path = dir / ("cut" + fixture.extension().string());
      write_bytes(path, bytes.substr(0, length));
      try_open(path, outcome);
    }
    // A zip without its end record, or a pickle without STOP, never loads.
    CHECK(outcome.loaded == 0);
    CHECK(outcome.refused > 0);
  }
}

TEST_CASE("torch corruption: random byte flips are loaded or refused", "[torch][corruption]") {
  const auto dir = test::temp_dir("torch-flip");
  std::mt19937 rng(20240611);
  Outcome total;
  for (const auto& fixture : torch_fixtures()) {
    INFO(fixture.filename().string());
    const std::string bytes = read_bytes(fixture);
    Outcome outcome;
    for (int trial = 0; trial < 300; ++trial) {
      std::string damaged = bytes;
      const int flips = 1 + static_cast<int>(rng() % 4);
      for (int f = 0; f < flips; ++f)
        damaged[rng() % damaged.size()] ^= static_cast<char>(1 + rng() % 255);
      const auto path = dir / ("flip" + fixture.extension().string());
      write_bytes(path, damaged);
      try_open(path, outcome);
    }
    CHECK(outcome.loaded + outcome.refused == 300);
    total.loaded += outcome.loaded;
    total.refused += outcome.refused;
  }
  // Flips in tensor data still load; flips in structure are refused.
  CHECK(total.loaded > 0);
  CHECK(total.refused > 0);
  CHECK_FALSE(std::filesystem::exists("/tmp/mmgen-pwned"));
}

}  // namespace mmgen
