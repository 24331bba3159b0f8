#include "tests/support/test_support.h"

#include <cmath>
#include <cstdlib>
#include <random>

#include "core/error.h"

namespace mmgen::test {

std::filesystem::path golden_dir() {
  const char* env = std::getenv("MMGEN_GOLDEN_DIR");
  std::filesystem::path dir = env && *env ? env : MMGEN_GOLDEN_DIR;
  MMGEN_CHECK(std::filesystem::is_directory(dir), "golden fixtures folder not found: ",
              dir.string(), " (expected ../shared/golden beside the project, or MMGEN_GOLDEN_DIR)");
  return dir;
}

std::filesystem::path golden_file(const std::string& relative) {
  auto path = golden_dir() / relative;
  MMGEN_CHECK(std::filesystem::exists(path), "golden fixture missing: ", path.string());
  return path;
}

std::filesystem::path test_data_dir() { return MMGEN_TEST_DATA_DIR; }

std::filesystem::path temp_dir(const std::string& name) {
  auto dir = std::filesystem::temp_directory_path() /
             ("mmgen-test-" + name + "-" + std::to_string(std::random_device{}()));
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
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
