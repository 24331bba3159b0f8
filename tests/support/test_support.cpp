#include "tests/support/test_support.h"

#include <cmath>
#include <cstdlib>
#include <random>
#include <string>
#include <system_error>
#include <vector>

#include "core/error.h"

namespace mmgen::test {

std::filesystem::path golden_dir() {
  const char* env = std::getenv("MMGEN_GOLDEN_DIR");
  std::filesystem::path dir = env && *env ? env : MMGEN_GOLDEN_DIR;
  MMGEN_CHECK(std::filesystem::is_directory(dir),
              "golden fixtures folder not found: ", dir.string(),
              " (expected ../shared/golden beside the project, or MMGEN_GOLDEN_DIR)");
  return dir;
}

std::filesystem::path golden_file(const std::string& relative) {
  auto path = golden_dir() / relative;
  MMGEN_CHECK(std::filesystem::exists(path), "golden fixture missing: ", path.string());
  return path;
}

std::filesystem::path test_data_dir() { return MMGEN_TEST_DATA_DIR; }

namespace {

// Removes every folder temp_dir made when the test program exits, so repeated runs do not
// pile up in /tmp. MMGEN_KEEP_TEST_FILES=1 keeps them for a look after a failure.
class TempDirRegistry {
 public:
  void add(const std::filesystem::path& dir) { dirs_.push_back(dir); }
  ~TempDirRegistry() {
    const char* keep = std::getenv("MMGEN_KEEP_TEST_FILES");
    if (keep && *keep && std::string(keep) != "0") return;
    for (const auto& dir : dirs_) {
      std::error_code ignored;  // a test may have removed it already
      std::filesystem::remove_all(dir, ignored);
    }
  }

 private:
  std::vector<std::filesystem::path> dirs_;
};

TempDirRegistry& temp_dirs() {
  static TempDirRegistry registry;
  return registry;
}

}  // namespace

std::filesystem::path temp_dir(const std::string& name) {
  auto dir = std::filesystem::temp_directory_path() /
             ("mmgen-test-" + name + "-" + std::to_string(std::random_device{}()));
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  temp_dirs().add(dir);
  return dir;
}

Tensor random_tensor(const Shape& shape, uint64_t seed, float lo, float hi) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<float> dist(lo, hi);
  Tensor t = Tensor::empty(shape, DType::kF32);
  float* p = t.typed_data<float>();
  for (int64_t i = 0; i < t.numel(); ++i) p[i] = dist(rng);
  return t;
}

Difference compare(const Tensor& actual, const Tensor& expected) {
  MMGEN_CHECK(actual.shape() == expected.shape(), "compare: shape ", shape_str(actual.shape()),
              " vs expected ", shape_str(expected.shape()));
  const auto a = actual.to_f32_vector();
  const auto b = expected.to_f32_vector();
  Difference d;
  double diff2 = 0, ref2 = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    const double delta = static_cast<double>(a[i]) - b[i];
    d.max_abs = std::max(d.max_abs, std::isnan(delta) ? INFINITY : std::abs(delta));
    diff2 += delta * delta;
    ref2 += static_cast<double>(b[i]) * b[i];
  }
  d.rel_l2 = ref2 > 0 ? std::sqrt(diff2 / ref2) : std::sqrt(diff2);
  return d;
}

}  // namespace mmgen::test
