// matmul on CUDA: cuBLAS SGEMM for f32 operands; f16 / bf16 / quantised weights
// are decoded to f32 in row blocks first (f32 accumulation throughout), except
// for decode-sized products, which read the weight directly (kernels/cuda/quant.cu).
#include <algorithm>

#include "core/error.h"
#include "kernels/cuda/blas.h"
#include "kernels/cuda/cuda_backend.h"
#include "kernels/cuda/cuda_context.h"
#include "kernels/cuda/cuda_internal.h"

namespace mmgen::kernels::cuda {

Tensor matmul(const Tensor& a_in, const Tensor& b_in, bool transpose_a, bool transpose_b) {
  MMGEN_CHECK(a_in.ndim() == 3 && b_in.ndim() == 3, "cuda matmul: expected 3-d operands, got ",
              a_in.str(), " and ", b_in.str());
  const Device device = a_in.device();
  MMGEN_CHECK(b_in.device() == device, "cuda matmul: operands on ", device.str(), " and ",
              b_in.device().str());
  DeviceGuard guard(device);
  const int64_t batch = a_in.dim(0);
  const int64_t m = transpose_a ? a_in.dim(2) : a_in.dim(1);
  const int64_t k = transpose_a ? a_in.dim(1) : a_in.dim(2);
  const int64_t b_batch = b_in.dim(0);
  const int64_t n = transpose_b ? b_in.dim(1) : b_in.dim(2);
  const int64_t b_k = transpose_b ? b_in.dim(2) : b_in.dim(1);
  MMGEN_CHECK(b_k == k && (b_batch == 1 || b_batch == batch), "cuda matmul: ", a_in.str(),
              (transpose_a ? " (transposed)" : ""), " and ", b_in.str(),
              (transpose_b ? " (transposed)" : ""), " do not multiply");

  Tensor out = Tensor::empty({batch, m, n}, DType::kF32, device);
  if (out.numel() == 0) return out;
  const Tensor a = to_f32(a_in, "matmul input");
  float* c = out.typed_data<float>();
  const DType weight_type = b_in.dtype();

  // C (columns [0, cols) of each output row, ldc n) = A * B for a f32 B with
  // leading dimension ld and batch stride b_stride (0: shared by the batch).
  const auto gemm = [&](const float* b_data, int64_t ld, int64_t b_stride, int64_t cols,
                        float* c_data) {
    const GemmOperand b_op{b_data, ld, b_stride, transpose_b};
    if (b_stride == 0 && !transpose_a) {
      // A shared B: the batch folds into the rows of one product.
      const GemmOperand a_op{a.typed_data<float>(), k, 0, false};
      gemm_f32(device, batch * m, cols, k, 1.0f, a_op, b_op, 0.0f, c_data, n, 0, 1);
      return;
    }
    const GemmOperand a_op{a.typed_data<float>(), transpose_a ? m : k, m * k, transpose_a};
    gemm_f32(device, m, cols, k, 1.0f, a_op, b_op, 0.0f, c_data, n, m * n, batch);
  };

  if (weight_type == DType::kF32) {
    const Tensor b = dense(b_in);
    gemm(b.typed_data<float>(), transpose_b ? k : n, b_batch == 1 ? 0 : k * n, n, c);
    return out;
  }

  const bool shared_weight_rows = b_batch == 1 && transpose_b;  // b is a [n, k] weight
  if (shared_weight_rows && !transpose_a && k > 0 && batch * m <= kMatvecMaxRows &&
      matvec_supports(weight_type)) {
    const Tensor b = dense(b_in);
    matvec(weight_type, b.data(), n, k, a.typed_data<float>(), batch * m, c);
    return out;
  }
  if (shared_weight_rows) {
    // Decode blocks of weight rows into a bounded scratch and fill the matching
    // output columns, so a large vocabulary never needs a full f32 copy.
    const Tensor b = dense(b_in);
    const int64_t rows_per_block =
        std::clamp<int64_t>(kScratchElements / std::max<int64_t>(k, 1), 1, n);
    Tensor scratch = Tensor::empty({rows_per_block, k}, DType::kF32, device);
    const auto* source = static_cast<const std::byte*>(b.data());
    for (int64_t n0 = 0; n0 < n; n0 += rows_per_block) {
      const int64_t rows = std::min(rows_per_block, n - n0);
      rows_to_f32(weight_type, source + bytes_for(weight_type, n0 * k), rows, k,
                  scratch.typed_data<float>());
      gemm(scratch.typed_data<float>(), k, 0, rows, c + n0);
    }
    return out;
  }
  const Tensor b = to_f32(b_in, "matmul weight");
  gemm(b.typed_data<float>(), transpose_b ? k : n, b_batch == 1 ? 0 : k * n, n, c);
  return out;
}

}  // namespace mmgen::kernels::cuda
