// Scaled dot-product attention on the CPU: per (batch, head, block of queries),
// scores by GEMM, mask, softmax, then a second GEMM with V.
#include <algorithm>
#include <limits>
#include <vector>

#include "kernels/cpu/cpu_backend.h"
#include "kernels/cpu/gemm.h"
#include "kernels/cpu/parallel.h"
#include "kernels/cpu/vector_math.h"

namespace mmgen::kernels::cpu {
namespace {

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

constexpr float kNegInf = -std::numeric_limits<float>::infinity();

// Multiply-adds of a decode step's attention below which it runs on one thread: 64 Ki
// take ~15 us, a pool round trip ~1.5 us. (A 12-head llama layer reaches it past 43
// cached tokens; run serially, its attention idled the other cores for a tenth of a step.)
constexpr int64_t kSerialAttentionMacs = int64_t{1} << 16;

struct AttentionShape {
  int64_t batch, heads, len_q, dim, kv_heads, len_k, dim_v;
  int64_t mask_batch, mask_heads;
  // Element strides of K and V over batch, head and position (the last dim is dense):
  // the KV cache hands in token-major views without a copy.
  int64_t k_batch, k_head, k_row, v_batch, v_head, v_row;
  bool causal;
  float scale;
};

// One block of `rows` queries of head h in batch b. K^T and V come packed (many
// query rows: the packing is shared by all blocks of the head) or as plain rows.
void attend_block(const AttentionShape& s, const float* q, const float* k, const float* v,
                  const float* mask, float* out, int64_t b, int64_t h, int64_t i0, int64_t rows,
                  const PackedMatrix* keys_t, const PackedMatrix* values) {
  const int64_t kv = h / (s.heads / s.kv_heads);
  const int64_t pair = b * s.heads + h;
  float* o = out + (pair * s.len_q + i0) * s.dim_v;
  // Keys past the last visible one of this block are masked for every row.
  const int64_t offset = s.len_k - s.len_q;
  const int64_t keys = s.causal ? std::clamp<int64_t>(i0 + rows + offset, 0, s.len_k) : s.len_k;
  if (keys == 0) {
    std::fill(o, o + rows * s.dim_v, 0.0f);
    return;
  }
  thread_local std::vector<float> scaled_q, scores;
  // Scaling q instead of the scores saves a pass over rows x keys.
  scaled_q.resize(static_cast<size_t>(rows * s.dim));
  const float* qi = q + (pair * s.len_q + i0) * s.dim;
  for (int64_t i = 0; i < rows * s.dim; ++i) scaled_q[i] = qi[i] * s.scale;
  scores.resize(static_cast<size_t>(rows * keys));
  const float* kh = k + b * s.k_batch + kv * s.k_head;
  const float* vh = v + b * s.v_batch + kv * s.v_head;
  if (keys_t) {
    gemm(rows, keys, s.dim, scaled_q.data(), s.dim, false, *keys_t, scores.data(), keys);
  } else {
    gemm(rows, keys, s.dim, scaled_q.data(), s.dim, false,
         MatrixOperand{kh, DType::kF32, s.k_row, true}, scores.data(), keys);
  }
  const float* mask_rows =
      mask ? mask + (((s.mask_batch == 1 ? 0 : b) * s.mask_heads + (s.mask_heads == 1 ? 0 : h)) *
                         s.len_q +
                     i0) *
                        s.len_k
           : nullptr;
  for (int64_t r = 0; r < rows; ++r) {
    float* row = scores.data() + r * keys;
    if (mask_rows) {
      const float* m = mask_rows + r * s.len_k;
      for (int64_t j = 0; j < keys; ++j) row[j] += m[j];
    }
    if (s.causal) {
      const int64_t visible = std::clamp<int64_t>(i0 + r + offset + 1, 0, keys);
      std::fill(row + visible, row + keys, kNegInf);
    }
    softmax_row_inplace(row, keys);
  }
  if (values) {
    gemm(rows, s.dim_v, keys, scores.data(), keys, false, *values, o, s.dim_v);
  } else {
    gemm(rows, s.dim_v, keys, scores.data(), keys, false,
         MatrixOperand{vh, DType::kF32, s.v_row, false}, o, s.dim_v);
  }
}

}  // namespace

Tensor attention(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& mask, bool causal,
                 float scale) {
  AttentionShape s{};
  s.batch = q.dim(0);
  s.heads = q.dim(1);
  s.len_q = q.dim(2);
  s.dim = q.dim(3);
  s.kv_heads = k.dim(1);
  s.len_k = k.dim(2);
  s.dim_v = v.dim(3);
  s.mask_batch = mask.defined() ? mask.dim(0) : 1;
  s.mask_heads = mask.defined() ? mask.dim(1) : 1;
  s.k_batch = k.stride(0);
  s.k_head = k.stride(1);
  s.k_row = k.stride(2);
  s.v_batch = v.stride(0);
  s.v_head = v.stride(1);
  s.v_row = v.stride(2);
  s.causal = causal;
  s.scale = scale;
  Tensor out = Tensor::empty({s.batch, s.heads, s.len_q, s.dim_v}, DType::kF32);
  if (out.numel() == 0) return out;
  const float* qp = q.typed_data<float>();
  const float* kp = k.typed_data<float>();
  const float* vp = v.typed_data<float>();
  const float* mp = mask.defined() ? mask.typed_data<float>() : nullptr;
  float* op = out.typed_data<float>();
  const int64_t group = s.heads / s.kv_heads;

  // Query blocks: whole GEMM row tiles, about 70 rows, more against few keys (a
  // block's scores stay around 256 KiB), fewer when there are few heads to share out.
  const int64_t tile_rows = gemm_tile_rows();
  const int64_t want = 4 * static_cast<int64_t>(num_threads());
  int64_t panels = std::max<int64_t>(1, 72 / tile_rows);
  panels = std::clamp<int64_t>(65536 / std::max<int64_t>(1, s.len_k) / tile_rows, panels,
                               512 / tile_rows);
  while (panels > 1 && s.batch * s.heads * ceil_div(s.len_q, panels * tile_rows) < want)
    panels = (panels + 1) / 2;
  const int64_t block = std::min(s.len_q, panels * tile_rows);
  const int64_t blocks = ceil_div(s.len_q, block);

  if (block <= 16) {
    // Few queries (decoding): dot products straight from K and V, parallel over heads.
    auto task = [&](int64_t t) {
      const int64_t pair = t / blocks, i0 = (t % blocks) * block;
      attend_block(s, qp, kp, vp, mp, op, pair / s.heads, pair % s.heads, i0,
                   std::min(block, s.len_q - i0), nullptr, nullptr);
    };
    // Below kSerialAttentionMacs, waking the pool costs more than it saves.
    const int64_t macs = s.batch * s.heads * s.len_q * s.len_k * (s.dim + s.dim_v);
    if (macs <= kSerialAttentionMacs) {
      for (int64_t t = 0; t < s.batch * s.heads * blocks; ++t) task(t);
    } else {
      parallel_tasks(s.batch * s.heads * blocks, task);
    }
    return out;
  }
  // Many queries: pack K^T and V of each KV head once for all its query blocks.
  PackedMatrix keys_t, values;
  for (int64_t b = 0; b < s.batch; ++b) {
    for (int64_t kv = 0; kv < s.kv_heads; ++kv) {
      const float* kh = kp + b * s.k_batch + kv * s.k_head;
      const float* vh = vp + b * s.v_batch + kv * s.v_head;
      keys_t.pack(s.dim, s.len_k, MatrixOperand{kh, DType::kF32, s.k_row, true});
      values.pack(s.len_k, s.dim_v, MatrixOperand{vh, DType::kF32, s.v_row, false});
      parallel_tasks(group * blocks, [&](int64_t task) {
        const int64_t h = kv * group + task / blocks, i0 = (task % blocks) * block;
        attend_block(s, qp, kp, vp, mp, op, b, h, i0, std::min(block, s.len_q - i0), &keys_t,
                     &values);
      });
    }
  }
  return out;
}

}  // namespace mmgen::kernels::cpu
