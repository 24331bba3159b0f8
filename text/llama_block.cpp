// The llama / Mistral / qwen2 transformer block: RMSNorm, rotary grouped-query
// attention, SwiGLU MLP, each with a residual connection.
#include "kernels/ops.h"
#include "text/llm_blocks.h"

namespace mmgen::text {

Tensor llama_block(const Tensor& x, const LlmLayerWeights& w, int64_t layer,
                   const BlockInputs& in) {
  const LlmConfig& c = in.config;
  const int64_t n = x.dim(0);
  const float eps = static_cast<float>(c.norm_eps);

  const Tensor h = kernels::rms_norm(x, w.attn_norm, eps);
  // rope wants [B, L, H, D].
  const Tensor q = kernels::linear(h, w.q, w.q_bias).view({1, n, c.num_heads, c.head_dim});
  const Tensor k = kernels::linear(h, w.k, w.k_bias).view({1, n, c.num_kv_heads, c.head_dim});
  const Tensor v = kernels::linear(h, w.v, w.v_bias).view({n, c.num_kv_heads, c.head_dim});
  const Tensor q_rot = kernels::rope(q, in.positions, in.rope).view({n, c.num_heads, c.head_dim});
  const Tensor k_rot =
      kernels::rope(k, in.positions, in.rope).view({n, c.num_kv_heads, c.head_dim});
  const Tensor attn = cached_attention(q_rot, k_rot, v, in.cache, layer);
  const Tensor x1 = kernels::add(x, kernels::linear(attn, w.o, w.o_bias));

  const Tensor h2 = kernels::rms_norm(x1, w.ffn_norm, eps);
  const Tensor gate = kernels::silu(kernels::linear(h2, w.gate, w.gate_bias));
  const Tensor up = kernels::linear(h2, w.up, w.up_bias);
  return kernels::add(x1, kernels::linear(kernels::mul(gate, up), w.down, w.down_bias));
}

}  // namespace mmgen::text
