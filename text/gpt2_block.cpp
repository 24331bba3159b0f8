// The GPT-2 transformer block: pre-LayerNorm, fused-qkv multi-head attention and a
// GELU (tanh approximation) MLP, each with a residual connection.
#include <cmath>

#include "kernels/ops.h"
#include "text/llm_blocks.h"

namespace mmgen::text {

Tensor gpt2_block(const Tensor& x, const LlmLayerWeights& w, int64_t layer, const BlockInputs& in) {
  const LlmConfig& c = in.config;
  const int64_t n = x.dim(0), e = c.hidden_size;
  const float eps = static_cast<float>(c.norm_eps);

  const Tensor h = kernels::layer_norm(x, w.attn_norm, w.attn_norm_bias, eps);
  const Tensor qkv = kernels::linear(h, w.qkv, w.qkv_bias);  // [n, 3E]: q | k | v
  const std::vector<Tensor> parts = kernels::split(qkv, {e, e, e}, 1);
  const Shape heads = {n, c.num_heads, c.head_dim};
  float scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(c.head_dim)));
  if (c.scale_attn_by_inverse_layer_idx) scale /= static_cast<float>(layer + 1);
  const Tensor attn = cached_attention(
      kernels::contiguous(parts[0]).view(heads), kernels::contiguous(parts[1]).view(heads),
      kernels::contiguous(parts[2]).view(heads), in.cache, layer, scale);
  const Tensor x1 = kernels::add(x, kernels::linear(attn, w.o, w.o_bias));

  const Tensor h2 = kernels::layer_norm(x1, w.ffn_norm, w.ffn_norm_bias, eps);
  const Tensor mlp = kernels::gelu_tanh(kernels::linear(h2, w.up, w.up_bias));
  return kernels::add(x1, kernels::linear(mlp, w.down, w.down_bias));
}

}  // namespace mmgen::text
