// Batched matrix product on the CPU (see gemm.cpp for the kernel).
#include <algorithm>
#include <cstddef>

#include "kernels/cpu/cpu_backend.h"
#include "kernels/cpu/gemm.h"
#include "kernels/cpu/parallel.h"
#include "kernels/cpu/row_convert.h"
#include "kernels/cpu/row_dot.h"

namespace mmgen::kernels::cpu {

Tensor matmul(const Tensor& a, const Tensor& b, bool transpose_a, bool transpose_b) {
  const int64_t batches = a.dim(0);
  const int64_t m = transpose_a ? a.dim(2) : a.dim(1);
  const int64_t k = transpose_a ? a.dim(1) : a.dim(2);
  const int64_t n = transpose_b ? b.dim(1) : b.dim(2);
  const bool shared_b = b.dim(0) == 1;
  Tensor c = Tensor::empty({batches, m, n}, DType::kF32);
  const float* ap = a.typed_data<float>();
  float* cp = c.typed_data<float>();
  const int64_t lda = transpose_a ? m : k;
  const int64_t ldb = transpose_b ? k : n;

  auto operand = [&](int64_t batch) {
    const int64_t index = shared_b ? 0 : batch;
    return MatrixOperand{element_address(b.dtype(), b.data(), index * k * n), b.dtype(), ldb,
                         transpose_b};
  };
  const int64_t rows = batches * m;
  const bool whole_blocks = !is_quantized(b.dtype()) || k % block_size(b.dtype()) == 0;
  if (transpose_b && !transpose_a && (batches == 1 || shared_b) && rows <= kMaxFusedRows && n > 0 &&
      k > 0 && whole_blocks) {
    // Decode: a few rows of a against stored weight rows, each streamed from memory
    // once and converted in registers. Threads take contiguous runs of weight rows,
    // about eight per thread, so that a core busy with other work does not hold
    // the others up at the end.
    const int64_t grain = std::max<int64_t>(16, (n + 8 * num_threads() - 1) / (8 * num_threads()));
    const size_t row_bytes = bytes_for(b.dtype(), k);
    const auto* weights = static_cast<const std::byte*>(b.data());
    parallel_chunks(n, grain, [&](int64_t j0, int64_t j1) {
      fused_dot_rows(b.dtype(), weights + j0 * row_bytes, row_bytes, j1 - j0, ap, rows, k, cp + j0,
                     n);
    });
    return c;
  }
  if (batches == 1 || (shared_b && !transpose_a)) {
    // One product: the batches of a stack into rows against the shared b.
    gemm(batches * m, n, k, ap, lda, transpose_a, operand(0), cp, n);
    return c;
  }
  auto one = [&](int64_t batch) {
    gemm(m, n, k, ap + batch * m * k, lda, transpose_a, operand(batch), cp + batch * m * n, n);
  };
  if (batches >= num_threads()) {
    parallel_tasks(batches, one);  // each product runs on one thread
  } else {
    for (int64_t batch = 0; batch < batches; ++batch) one(batch);
  }
  return c;
}

}  // namespace mmgen::kernels::cpu
