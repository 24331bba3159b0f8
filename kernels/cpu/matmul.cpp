// Batched matrix product on the CPU (see gemm.cpp for the kernel).
#include <algorithm>
#include <cstddef>
#include <vector>

#include "kernels/cpu/cpu_backend.h"
#include "kernels/cpu/gemm.h"
#include "kernels/cpu/linear_products.h"
#include "kernels/cpu/parallel.h"
#include "kernels/cpu/row_convert.h"
#include "kernels/cpu/row_dot.h"

namespace mmgen::kernels::cpu {

namespace {

// Few rows of a against stored weight rows: the decode path of fused_dot_rows.
bool decode_shaped(const Tensor& w, int64_t rows) {
  const int64_t k = w.dim(-1);
  const bool whole_blocks = !is_quantized(w.dtype()) || k % block_size(w.dtype()) == 0;
  return rows <= kMaxFusedRows && w.dim(-2) > 0 && k > 0 && whole_blocks;
}

// One weight matrix of a decode product: its n stored rows and where its results go.
struct WeightRows {
  const void* data;
  int64_t n;
  float* out;
  int64_t ldo;
};

// Calls part(matrix, begin, end) for the rows [begin, end) of each matrix that
// fall in the rows [j0, j1) of the concatenation.
template <typename Fn>
void for_each_part(const WeightRows* w, int count, int64_t j0, int64_t j1, Fn&& part) {
  int64_t first = 0;  // the concatenation's index of matrix s's first row
  for (int s = 0; s < count && first < j1; first += w[s].n, ++s) {
    const int64_t begin = std::max(j0, first) - first, end = std::min(j1, first + w[s].n) - first;
    if (begin < end) part(w[s], begin, end);
  }
}

// out_s = a * w_s^T for every matrix s of one dtype and k, in one parallel loop over
// the concatenation of their rows: each weight row is streamed from memory once and
// converted in registers. Each thread streams its own contiguous share of the rows in
// runs of about an eighth of it, and takes the others' unread runs at the end, so that
// a core busy with other work does not hold the others up (parallel_streams).
void decode_products(DType type, const float* a, int64_t rows, int64_t k, const WeightRows* w,
                     int count) {
  int64_t total = 0;
  for (int s = 0; s < count; ++s) total += w[s].n;
  const int64_t grain =
      std::max<int64_t>(16, (total + 8 * num_threads() - 1) / (8 * num_threads()));
  const size_t row_bytes = bytes_for(type, k);
  if (rows == 1 && has_int8_activation_dot(type)) {
    // One token: its row quantised once for the integer dot product (row_dot.h).
    thread_local std::vector<std::byte> buffer;
    buffer.resize(int8_activation_bytes(k));
    quantize_activation_row(a, k, buffer.data());
    // The workers read this thread's buffer (naming it there would give their own).
    const std::byte* xq = buffer.data();
    parallel_streams(total, grain, [&](int64_t j0, int64_t j1) {
      for_each_part(w, count, j0, j1, [&](const WeightRows& m, int64_t begin, int64_t end) {
        int8_dot_rows(type, static_cast<const std::byte*>(m.data) + begin * row_bytes, row_bytes,
                      end - begin, xq, k, m.out + begin);
      });
    });
    return;
  }
  parallel_streams(total, grain, [&](int64_t j0, int64_t j1) {
    for_each_part(w, count, j0, j1, [&](const WeightRows& m, int64_t begin, int64_t end) {
      fused_dot_rows(type, static_cast<const std::byte*>(m.data) + begin * row_bytes, row_bytes,
                     end - begin, a, rows, k, m.out + begin, m.ldo);
    });
  });
}

}  // namespace

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
  if (transpose_b && !transpose_a && (batches == 1 || shared_b) && decode_shaped(b, rows)) {
    const WeightRows w{b.data(), n, cp, n};
    decode_products(b.dtype(), ap, rows, k, &w, 1);
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

std::vector<Tensor> linear_products(const Tensor& x, const std::vector<Tensor>& weights) {
  const int64_t rows = x.dim(0), k = x.dim(1);
  std::vector<Tensor> out;
  out.reserve(weights.size());
  bool together = weights.size() <= kMaxLinearProducts;
  for (const Tensor& w : weights)
    together = together && w.dtype() == weights[0].dtype() && decode_shaped(w, rows);
  if (!together) {
    for (const Tensor& w : weights)
      out.push_back(matmul(x.view({1, rows, k}), w.view({1, w.dim(0), k}), false, true)
                        .view({rows, w.dim(0)}));
    return out;
  }
  WeightRows w[kMaxLinearProducts];
  for (size_t s = 0; s < weights.size(); ++s) {
    out.push_back(Tensor::empty({rows, weights[s].dim(0)}, DType::kF32));
    w[s] = {weights[s].data(), weights[s].dim(0), out[s].typed_data<float>(), weights[s].dim(0)};
  }
  decode_products(weights[0].dtype(), x.typed_data<float>(), rows, k, w,
                  static_cast<int>(weights.size()));
  return out;
}

}  // namespace mmgen::kernels::cpu
