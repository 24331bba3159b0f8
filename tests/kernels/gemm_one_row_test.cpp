// kernels::cpu::gemm with one row of A (gemm_small_m's decode paths), written and
// accumulated, against a plain double-precision loop.
#include <catch2/catch.hpp>
#include <cmath>
#include <cstdint>
#include <vector>

#include "kernels/cpu/gemm.h"

namespace mmgen {
namespace {

std::vector<float> values(int64_t count, float scale, float offset) {
  std::vector<float> v(static_cast<size_t>(count));
  for (int64_t i = 0; i < count; ++i) v[i] = std::sin(0.37f * i + offset) * scale;
  return v;
}

TEST_CASE("gemm with one row of A writes and accumulates like the plain product",
          "[kernels][gemm]") {
  // B stored [k, ldb] (plain) or [n, ldb] (transposed), ldb wider than used: strided rows
  // as the KV cache hands them in. n = 72 leaves a tail after the vector widths.
  const int64_t k = 33, n = 72, ldb = 100;
  const std::vector<float> a = values(k, 1.0f, 0.1f);
  for (bool transposed : {false, true}) {
    const std::vector<float> b = values((transposed ? n : k) * ldb, 0.5f, 1.3f);
    const kernels::cpu::MatrixOperand operand{b.data(), DType::kF32, ldb, transposed};
    for (bool accumulate : {false, true}) {
      std::vector<float> c = values(n, 2.0f, 2.9f);
      const std::vector<float> before = c;
      kernels::cpu::gemm(1, n, k, a.data(), k, false, operand, c.data(), n, accumulate);
      INFO("transposed " << transposed << ", accumulate " << accumulate);
      for (int64_t j = 0; j < n; ++j) {
        double expected = accumulate ? before[j] : 0.0;
        for (int64_t p = 0; p < k; ++p)
          expected += double(a[p]) * (transposed ? b[j * ldb + p] : b[p * ldb + j]);
        CHECK(c[j] == Approx(expected).margin(1e-5));
      }
    }
  }
}

}  // namespace
}  // namespace mmgen
