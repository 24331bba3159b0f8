// Attention over the KV cache, shared by every decoder architecture.
#include "core/error.h"
#include "kernels/ops.h"
#include "text/llm_blocks.h"

namespace mmgen::text {

Tensor cached_attention(const Tensor& q, const Tensor& k, const Tensor& v, KvCache& cache,
                        int64_t layer, float scale) {
  const int64_t n = q.dim(0), heads = q.dim(1), head_dim = q.dim(2);
  cache.write(layer, k, v);
  kernels::AttentionParams params;
  // Lq = n new queries against Lk = cached + n keys: the kernel's causal alignment
  // lets query i see keys j <= i + (Lk - Lq), i.e. the prefix and itself.
  params.causal = true;
  params.scale = scale;
  const Tensor q4 = q.view({1, n, heads, head_dim}).permute({0, 2, 1, 3});
  const Tensor out = kernels::attention(q4, cache.keys(layer, n), cache.values(layer, n), params);
  // [1, Hq, n, D] -> [n, Hq * D]
  return kernels::permute(out, {0, 2, 1, 3}).view({n, heads * head_dim});
}

}  // namespace mmgen::text
