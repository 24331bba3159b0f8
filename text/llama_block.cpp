// The llama / Mistral / qwen2 transformer block: RMSNorm, rotary grouped-query
// attention, SwiGLU MLP, each with a residual connection.
#include <vector>

#include "kernels/ops.h"
#include "text/llm_blocks.h"

namespace mmgen::text {

Tensor llama_block(const Tensor& x, const LlmLayerWeights& w, int64_t layer,
                   const BlockInputs& in) {
  const LlmConfig& c = in.config;
  const int64_t n = x.dim(0);
  const float eps = static_cast<float>(c.norm_eps);

  const Tensor h = kernels::rms_norm(x, w.attn_norm, eps);
  // q, k and v in one pass over their weights (one parallel loop when decoding).
  const std::vector<Tensor> qkv =
      kernels::linear_many(h, {w.q, w.k, w.v}, {w.q_bias, w.k_bias, w.v_bias});
  // rope wants [B, L, H, D].
  const Tensor q = qkv[0].view({1, n, c.num_heads, c.head_dim});
  const Tensor k = qkv[1].view({1, n, c.num_kv_heads, c.head_dim});
  const Tensor v = qkv[2].view({n, c.num_kv_heads, c.head_dim});
  const Tensor q_rot = kernels::rope(q, in.positions, in.rope).view({n, c.num_heads, c.head_dim});
  const Tensor k_rot =
      kernels::rope(k, in.positions, in.rope).view({n, c.num_kv_heads, c.head_dim});
  const Tensor attn = cached_attention(q_rot, k_rot, v, in.cache, layer);
  const Tensor x1 = kernels::add(x, kernels::linear(attn, w.o, w.o_bias));

  const Tensor h2 = kernels::rms_norm(x1, w.ffn_norm, eps);
  const std::vector<Tensor> gate_up =
      kernels::linear_many(h2, {w.gate, w.up}, {w.gate_bias, w.up_bias});
  const Tensor gate = kernels::silu(gate_up[0]);
  return kernels::add(x1, kernels::linear(kernels::mul(gate, gate_up[1]), w.down, w.down_bias));
}

}  // namespace mmgen::text
