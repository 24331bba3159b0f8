#include "kernels/cuda/blas.h"

#include <algorithm>
#include <limits>

#include "core/error.h"
#include "kernels/cuda/cuda_context.h"

namespace mmgen::kernels::cuda {
namespace {

int as_int(int64_t v, const char* what) {
  MMGEN_CHECK(v >= 0 && v <= std::numeric_limits<int>::max(), "GEMM ", what, " ", v,
              " exceeds the cuBLAS int range");
  return static_cast<int>(v);
}

}  // namespace

void gemm_f32(Device device, int64_t m, int64_t n, int64_t k, float alpha, const GemmOperand& a,
              const GemmOperand& b, float beta, float* c, int64_t ldc, int64_t c_stride,
              int64_t batch) {
  if (m == 0 || n == 0 || batch == 0) return;
  if (k == 0 && beta == 0.0f) {
    // Nothing to accumulate: the product is zero. (cuBLAS would leave C untouched.)
    for (int64_t i = 0; i < batch; ++i) {
      check_cuda(cudaMemset2DAsync(c + i * c_stride, static_cast<size_t>(ldc) * sizeof(float), 0,
                                   static_cast<size_t>(n) * sizeof(float), static_cast<size_t>(m),
                                   stream()),
                 "cudaMemset2DAsync");
    }
    return;
  }
  // Row-major C = op(A) op(B) is column-major C^T = op(B)^T op(A)^T: the stored
  // row-major matrices read as column-major are already the transposes, so B goes
  // first with the same transpose flags.
  const cublasOperation_t op_b = b.transposed ? CUBLAS_OP_T : CUBLAS_OP_N;
  const cublasOperation_t op_a = a.transposed ? CUBLAS_OP_T : CUBLAS_OP_N;
  const int cm = as_int(n, "n");
  const int cn = as_int(m, "m");
  const int ck = as_int(k, "k");
  const int ldb = as_int(std::max<int64_t>(b.ld, 1), "ldb");
  const int lda = as_int(std::max<int64_t>(a.ld, 1), "lda");
  const int ldc_int = as_int(std::max<int64_t>(ldc, 1), "ldc");
  cublasHandle_t handle = cublas_handle(device);
  if (batch == 1) {
    check_cublas(cublasSgemm(handle, op_b, op_a, cm, cn, ck, &alpha, b.data, ldb, a.data, lda,
                             &beta, c, ldc_int),
                 "cublasSgemm");
    return;
  }
  check_cublas(cublasSgemmStridedBatched(handle, op_b, op_a, cm, cn, ck, &alpha, b.data, ldb,
                                         b.batch_stride, a.data, lda, a.batch_stride, &beta, c,
                                         ldc_int, c_stride, as_int(batch, "batch count")),
               "cublasSgemmStridedBatched");
}

}  // namespace mmgen::kernels::cuda
