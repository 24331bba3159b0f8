// Single-precision GEMM for the CPU backend: packed panels and a register-blocked
// micro-kernel, with B converted from f16, bf16 or a quantised type while packing.
#pragma once

#include <cstdint>
#include <memory>

#include "core/dtype.h"

namespace mmgen::kernels::cpu {

// A read-only row-major matrix of any weight dtype. Logical element (r, c) is
// stored at index r * ld + c, or at c * ld + r when `transposed`. Quantised data
// must be transposed (its blocks run along the logical rows' K axis).
struct MatrixOperand {
  const void* data = nullptr;
  DType dtype = DType::kF32;
  int64_t ld = 0;
  bool transposed = false;
};

// C[m, n] (row-major, leading dimension ldc) = A[m, k] * B[k, n], or C += A * B
// when `accumulate`. A is f32: element (i, p) at a[i * lda + p], or a[p * lda + i]
// when trans_a. Runs on the thread pool (serially when already inside a parallel loop).
void gemm(int64_t m, int64_t n, int64_t k, const float* a, int64_t lda, bool trans_a,
          const MatrixOperand& b, float* c, int64_t ldc, bool accumulate = false);

template <typename T>
class AlignedBuffer;
using AlignedFloats = AlignedBuffer<float>;

// B[k, n] converted and laid out in the kernel's panels once, for products with
// many different A (attention reuses K and V for every block of queries).
class PackedMatrix {
 public:
  // Packs (or repacks, reusing the memory) the logical k x n matrix `b`.
  void pack(int64_t k, int64_t n, const MatrixOperand& b);
  int64_t k() const { return k_; }
  int64_t n() const { return n_; }
  // The packed panel of K block kb and column panel jp.
  const float* panel(int64_t kb, int64_t jp) const;

 private:
  std::shared_ptr<AlignedFloats> storage_;
  const float* data_ = nullptr;
  int64_t k_ = 0, n_ = 0, block_stride_ = 0;
};

// C = A * B (or C += A * B) with B packed beforehand; k and n may be smaller than
// the packed matrix (the leading rows and columns are used).
void gemm(int64_t m, int64_t n, int64_t k, const float* a, int64_t lda, bool trans_a,
          const PackedMatrix& b, float* c, int64_t ldc, bool accumulate = false);

// The register tile of the kernel: C is computed in blocks of gemm_tile_rows() x
// gemm_tile_cols(); callers that can choose their shapes pick multiples of these.
int gemm_tile_rows();
int gemm_tile_cols();

}  // namespace mmgen::kernels::cpu
