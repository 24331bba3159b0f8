// Attention on CUDA as two cuBLAS batched GEMMs around a masked softmax kernel.
// Grouped-query attention needs no copies: the Hq / Hkv query heads that share a
// KV head are consecutive in q, so per (batch, KV head) they form one
// [group * Lq, D] matrix multiplied by that head's K^T and then V.
#include <algorithm>
#include <cstdint>

#include "core/error.h"
#include "kernels/cuda/blas.h"
#include "kernels/cuda/cuda_backend.h"
#include "kernels/cuda/cuda_internal.h"
#include "kernels/cuda/cuda_utils.cuh"

namespace mmgen::kernels::cuda {
namespace {

struct AttentionShape {
  int64_t q_len = 0, k_len = 0;
  int64_t kv_heads = 0, group = 0;  // group = Hq / Hkv
  int64_t mask_batch = 0, mask_heads = 0;
  bool causal = false;
};

// One block per score row. Row r of the chunk belongs to item (batch * Hkv +
// kv head) first_item + r / (group * Lq), query head kv_head * group + g and
// query position i. Keys beyond the causal limit or masked to -inf get zero
// weight; a row with no visible key becomes all zeros.
__global__ void attention_softmax_kernel(float* scores, int64_t first_item, AttentionShape s,
                                         const float* mask) {
  const int64_t r = blockIdx.x;
  float* row = scores + r * s.k_len;
  const int64_t rows_per_item = s.group * s.q_len;
  const int64_t item = first_item + r / rows_per_item;
  const int64_t within = r % rows_per_item;
  const int64_t i = within % s.q_len;
  const int64_t batch = item / s.kv_heads;
  const int64_t q_head = (item % s.kv_heads) * s.group + within / s.q_len;
  const float* mask_row = nullptr;
  if (mask) {
    const int64_t mb = s.mask_batch == 1 ? 0 : batch;
    const int64_t mh = s.mask_heads == 1 ? 0 : q_head;
    mask_row = mask + ((mb * s.mask_heads + mh) * s.q_len + i) * s.k_len;
  }
  const int64_t last_key = s.causal ? i + s.k_len - s.q_len : s.k_len - 1;
  const auto value = [&](int64_t j) {
    if (j > last_key) return -INFINITY;
    return mask_row ? row[j] + mask_row[j] : row[j];
  };

  float local_max = -INFINITY;
  for (int64_t j = threadIdx.x; j < s.k_len; j += blockDim.x)
    local_max = fmaxf(local_max, value(j));
  const float max = block_max(local_max);
  if (max == -INFINITY) {
    for (int64_t j = threadIdx.x; j < s.k_len; j += blockDim.x) row[j] = 0.0f;
    return;
  }
  float sum = 0.0f;
  for (int64_t j = threadIdx.x; j < s.k_len; j += blockDim.x) sum += expf(value(j) - max);
  const float inv_sum = 1.0f / block_sum(sum);
  // Each thread rewrites only the entries it read itself, so in-place is safe.
  for (int64_t j = threadIdx.x; j < s.k_len; j += blockDim.x)
    row[j] = expf(value(j) - max) * inv_sum;
}

}  // namespace

Tensor attention(const Tensor& q_in, const Tensor& k_in, const Tensor& v_in, const Tensor& mask_in,
                 bool causal, float scale) {
  MMGEN_CHECK(q_in.ndim() == 4 && k_in.ndim() == 4 && v_in.ndim() == 4,
              "cuda attention: q, k, v must be 4-d, got ", q_in.str(), ", ", k_in.str(), ", ",
              v_in.str());
  const Device device = q_in.device();
  MMGEN_CHECK(k_in.device() == device && v_in.device() == device &&
                  (!mask_in.defined() || mask_in.device() == device),
              "cuda attention: inputs on different devices");
  DeviceGuard guard(device);
  const Tensor q = to_f32(q_in, "attention q");
  // K and V may be strided views (a KV cache's token-major rows): cuBLAS reads them in
  // place when each row is dense and the (batch, head) items are evenly spaced.
  const auto gemm_ready = [](const Tensor& t) {
    return t.dtype() == DType::kF32 && t.ndim() == 4 && (t.stride(3) == 1 || t.dim(3) == 1) &&
           t.stride(2) >= t.dim(3) && t.stride(1) >= 0 &&
           (t.dim(0) == 1 || t.stride(0) == t.dim(1) * t.stride(1));
  };
  const Tensor k = gemm_ready(k_in) ? k_in : to_f32(k_in, "attention k");
  const Tensor v = gemm_ready(v_in) ? v_in : to_f32(v_in, "attention v");
  const int64_t batch = q.dim(0), q_heads = q.dim(1), q_len = q.dim(2), head_dim = q.dim(3);
  const int64_t kv_heads = k.dim(1), k_len = k.dim(2), v_dim = v.dim(3);
  MMGEN_CHECK(k.dim(0) == batch && v.dim(0) == batch && v.dim(1) == kv_heads && v.dim(2) == k_len &&
                  k.dim(3) == head_dim && kv_heads > 0 && q_heads % kv_heads == 0,
              "cuda attention: q ", q.str(), ", k ", k.str(), ", v ", v.str(), " do not match");
  Tensor out = Tensor::empty({batch, q_heads, q_len, v_dim}, DType::kF32, device);
  if (out.numel() == 0) return out;
  if (k_len == 0) {  // no keys at all: every row is fully masked
    zero_device(out.data(), out.nbytes());
    return out;
  }

  AttentionShape s;
  s.q_len = q_len;
  s.k_len = k_len;
  s.kv_heads = kv_heads;
  s.group = q_heads / kv_heads;
  s.causal = causal;
  Tensor mask;
  if (mask_in.defined()) {
    mask = to_f32(mask_in, "attention mask");
    MMGEN_CHECK(mask.ndim() == 4 && (mask.dim(0) == 1 || mask.dim(0) == batch) &&
                    (mask.dim(1) == 1 || mask.dim(1) == q_heads) && mask.dim(2) == q_len &&
                    mask.dim(3) == k_len,
                "cuda attention: mask ", mask.str(), " is not [", batch, " or 1, ", q_heads,
                " or 1, ", q_len, ", ", k_len, "]");
    s.mask_batch = mask.dim(0);
    s.mask_heads = mask.dim(1);
  }

  const int64_t items = batch * kv_heads;
  const int64_t rows_per_item = s.group * q_len;
  const int64_t scores_per_item = rows_per_item * k_len;
  const int64_t chunk_items =
      std::clamp<int64_t>(kScratchElements / std::max<int64_t>(scores_per_item, 1), 1, items);
  Tensor scores = Tensor::empty({chunk_items * scores_per_item}, DType::kF32, device);
  const float* qp = q.typed_data<float>();
  const float* kp = static_cast<const float*>(k.data());
  const float* vp = static_cast<const float*>(v.data());
  // Distance between consecutive (batch, KV head) items and between rows of one item.
  const int64_t k_item = k.stride(1), k_row = k.stride(2);
  const int64_t v_item = v.stride(1), v_row = v.stride(2);
  float* sp = scores.typed_data<float>();
  const unsigned threads =
      static_cast<unsigned>(std::clamp<int64_t>((k_len + 31) / 32 * 32, 32, 1024));
  for (int64_t first = 0; first < items; first += chunk_items) {
    const int64_t count = std::min(chunk_items, items - first);
    // scores = scale * Q K^T
    gemm_f32(device, rows_per_item, k_len, head_dim, scale,
             {qp + first * rows_per_item * head_dim, head_dim, rows_per_item * head_dim, false},
             {kp + first * k_item, k_row, k_item, true}, 0.0f, sp, k_len, scores_per_item, count);
    const int64_t rows = count * rows_per_item;
    MMGEN_CHECK(rows <= INT32_MAX, "cuda attention: ", rows, " score rows exceed the CUDA grid");
    attention_softmax_kernel<<<static_cast<unsigned>(rows), threads, 0, stream()>>>(
        sp, first, s, mask.defined() ? mask.typed_data<float>() : nullptr);
    check_launch("attention_softmax");
    // out = P V
    gemm_f32(device, rows_per_item, v_dim, k_len, 1.0f, {sp, k_len, scores_per_item, false},
             {vp + first * v_item, v_row, v_item, false}, 0.0f,
             out.typed_data<float>() + first * rows_per_item * v_dim, v_dim, rows_per_item * v_dim,
             count);
  }
  return out;
}

}  // namespace mmgen::kernels::cuda
