// Helpers shared by the tests: fixture paths, random tensors, comparisons.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>

#include "core/tensor.h"

namespace mmgen::test {

// ../shared/golden (or $MMGEN_GOLDEN_DIR). Fails the test loudly when missing.
std::filesystem::path golden_dir();
// A file under the golden folder; fails loudly, naming the fixture, when missing.
std::filesystem::path golden_file(const std::string& relative);
// tests/data in the source tree.
std::filesystem::path test_data_dir();
// A fresh empty temporary folder for one test, removed when the test program exits
// (kept when MMGEN_KEEP_TEST_FILES is set).
std::filesystem::path temp_dir(const std::string& name);

// Uniform random f32 tensor in [lo, hi) from a fixed seed (std::mt19937).
Tensor random_tensor(const Shape& shape, uint64_t seed, float lo = -1.0f, float hi = 1.0f);

// max |a - b| and ||a - b|| / ||b|| over all elements (any plain dtype, any device).
struct Difference {
  double max_abs = 0;
  double rel_l2 = 0;
};
Difference compare(const Tensor& actual, const Tensor& expected);

}  // namespace mmgen::test
