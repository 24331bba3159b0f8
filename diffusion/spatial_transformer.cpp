#include "diffusion/spatial_transformer.h"

#include "core/error.h"
#include "kernels/ops.h"

namespace mmgen::diffusion {

namespace ops = mmgen::kernels;

namespace {

// [N, L, heads * d] -> [N, heads, L, d]
Tensor split_heads(const Tensor& x, int heads) {
  const int64_t n = x.dim(0), length = x.dim(1), width = x.dim(2);
  return ops::permute(x.view({n, length, heads, width / heads}), {0, 2, 1, 3});
}

LayerNorm load_layer_norm(const WeightReader& r, const std::string& name, int64_t channels) {
  LayerNorm norm;
  norm.weight = r.vec(name + ".weight", channels);
  norm.bias = r.vec(name + ".bias", channels);
  return norm;
}

CrossAttention load_attention(const WeightReader& r, const std::string& name, int64_t inner,
                              int64_t context_dim, int heads) {
  CrossAttention a;
  a.q_weight = r.get(name + "to_q.weight", {inner, inner});
  a.k_weight = r.get(name + "to_k.weight", {inner, context_dim});
  a.v_weight = r.get(name + "to_v.weight", {inner, context_dim});
  a.out_weight = r.get(name + "to_out.0.weight", {inner, inner});
  a.out_bias = r.vec(name + "to_out.0.bias", inner);
  a.heads = heads;
  return a;
}

// A proj_in / proj_out weight as a 2-D [out, in] matrix, whether stored as a 1x1
// kernel or a Linear weight.
Tensor load_projection(const WeightReader& r, const std::string& name, int64_t out, int64_t in,
                       bool linear) {
  if (linear) return r.get(name, {out, in});
  return r.get(name, {out, in, 1, 1}).reshape({out, in});
}

}  // namespace

Tensor LayerNorm::forward(const Tensor& x) const { return ops::layer_norm(x, weight, bias, eps); }

Tensor CrossAttention::forward(const Tensor& x, const Tensor& context) const {
  const int64_t n = x.dim(0), length = x.dim(1);
  const Tensor q = split_heads(ops::linear(x, q_weight), heads);
  const Tensor k = split_heads(ops::linear(context, k_weight), heads);
  const Tensor v = split_heads(ops::linear(context, v_weight), heads);
  const Tensor attended = ops::attention(q, k, v);  // [N, heads, L, d], scale d^-1/2
  const Tensor merged =
      ops::permute(attended, {0, 2, 1, 3}).view({n, length, attended.dim(1) * attended.dim(3)});
  return ops::linear(merged, out_weight, out_bias);
}

Tensor GegluFeedForward::forward(const Tensor& x) const {
  const Tensor projected = ops::linear(x, proj_weight, proj_bias);
  const int64_t inner = projected.dim(-1) / 2;
  const std::vector<Tensor> halves = ops::split(projected, {inner, inner}, projected.ndim() - 1);
  return ops::linear(ops::mul(halves[0], ops::gelu(halves[1])), out_weight, out_bias);
}

Tensor BasicTransformerBlock::forward(const Tensor& x, const Tensor& context) const {
  const Tensor normed1 = norm1.forward(x);
  Tensor h = ops::add(x, attn1.forward(normed1, normed1));
  h = ops::add(h, attn2.forward(norm2.forward(h), context));
  return ops::add(h, ff.forward(norm3.forward(h)));
}

Tensor SpatialTransformer::forward(const Tensor& x, const Tensor& context) const {
  const int64_t n = x.dim(0), c = x.dim(1), height = x.dim(2), width = x.dim(3);
  // [N, C, H, W] -> [N, H*W, C]: positions as rows, so the projections are linears.
  const Tensor rows = ops::permute(norm.forward(x).view({n, c, height * width}), {0, 2, 1});
  Tensor h = ops::linear(rows, proj_in_weight, proj_in_bias);
  for (const BasicTransformerBlock& block : blocks) h = block.forward(h, context);
  const Tensor projected = ops::linear(h, proj_out_weight, proj_out_bias);
  return ops::add(x, ops::permute(projected, {0, 2, 1}).view({n, c, height, width}));
}

SpatialTransformer load_spatial_transformer(const WeightReader& r, const std::string& name,
                                            int64_t channels, int64_t context_dim, int num_heads,
                                            int head_channels) {
  const std::string path = r.file().path().string();
  SpatialTransformer t;
  // SpatialTransformer's GroupNorm: 32 groups, eps 1e-6 (ldm Normalize).
  t.norm = load_group_norm(r, name + "norm", channels, 32, 1e-6f);
  const Shape& proj_shape = r.shape(name + "proj_in.weight");
  MMGEN_CHECK(proj_shape.size() == 2 || proj_shape.size() == 4, path, ": tensor '",
              r.full_name(name + "proj_in.weight"), "' has shape ", shape_str(proj_shape),
              ", expected a Linear [inner, ", channels, "] or a 1x1 kernel [inner, ", channels,
              ", 1, 1]");
  t.linear_projections = proj_shape.size() == 2;
  const int64_t inner = proj_shape[0];
  const int heads = head_channels > 0 ? static_cast<int>(inner / head_channels) : num_heads;
  MMGEN_CHECK(heads >= 1 && inner % heads == 0, path, ": UNet transformer '", r.full_name(name),
              "' has width ", inner, ", which does not split into ",
              head_channels > 0 ? "heads of " + std::to_string(head_channels) + " channels"
                                : std::to_string(num_heads) + " heads");
  t.proj_in_weight =
      load_projection(r, name + "proj_in.weight", inner, channels, t.linear_projections);
  t.proj_in_bias = r.vec(name + "proj_in.bias", inner);
  t.proj_out_weight =
      load_projection(r, name + "proj_out.weight", channels, inner, t.linear_projections);
  t.proj_out_bias = r.vec(name + "proj_out.bias", channels);

  const std::string stem = name + "transformer_blocks.";
  const int64_t depth = r.count_indexed(stem);
  MMGEN_CHECK(depth >= 1, path, ": no tensors '", r.full_name(stem), "<i>.*' (UNet transformer)");
  for (int64_t i = 0; i < depth; ++i) {
    const std::string block_name = stem + std::to_string(i) + ".";
    BasicTransformerBlock b;
    b.norm1 = load_layer_norm(r, block_name + "norm1", inner);
    b.norm2 = load_layer_norm(r, block_name + "norm2", inner);
    b.norm3 = load_layer_norm(r, block_name + "norm3", inner);
    b.attn1 = load_attention(r, block_name + "attn1.", inner, inner, heads);
    b.attn2 = load_attention(r, block_name + "attn2.", inner, context_dim, heads);
    const std::string ff = block_name + "ff.net.";
    const Shape& ff_shape = r.shape(ff + "0.proj.weight");
    MMGEN_CHECK(ff_shape.size() == 2 && ff_shape[0] % 2 == 0, path, ": tensor '",
                r.full_name(ff + "0.proj.weight"), "' has shape ", shape_str(ff_shape),
                ", expected a GEGLU projection [2 * ff_inner, ", inner, "]");
    const int64_t ff_inner = ff_shape[0] / 2;
    b.ff.proj_weight = r.get(ff + "0.proj.weight", {2 * ff_inner, inner});
    b.ff.proj_bias = r.vec(ff + "0.proj.bias", 2 * ff_inner);
    b.ff.out_weight = r.get(ff + "2.weight", {inner, ff_inner});
    b.ff.out_bias = r.vec(ff + "2.bias", inner);
    t.blocks.push_back(std::move(b));
  }
  return t;
}

}  // namespace mmgen::diffusion
