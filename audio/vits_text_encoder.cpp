#include "audio/vits_text_encoder.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "core/error.h"
#include "kernels/ops.h"

namespace mmgen::audio {

namespace ops = mmgen::kernels;

VitsTextEncoder VitsTextEncoder::load(const VitsWeights& weights, const VitsConfig& config) {
  VitsTextEncoder encoder;
  encoder.config_ = config;
  const int64_t hidden = config.hidden_channels;
  const int64_t head_dim = hidden / config.n_heads;
  const int64_t window = 2 * config.window_size + 1;
  encoder.emb_ = weights.tensor("enc_p.emb.weight", {config.n_vocab, hidden});
  for (int i = 0; i < config.n_layers; ++i) {
    const std::string attn = "enc_p.encoder.attn_layers." + std::to_string(i) + ".";
    const std::string ffn = "enc_p.encoder.ffn_layers." + std::to_string(i) + ".";
    Layer layer;
    layer.conv_q = weights.conv(attn + "conv_q", hidden, hidden, 1);
    layer.conv_k = weights.conv(attn + "conv_k", hidden, hidden, 1);
    layer.conv_v = weights.conv(attn + "conv_v", hidden, hidden, 1);
    layer.conv_o = weights.conv(attn + "conv_o", hidden, hidden, 1);
    if (config.window_size > 0) {
      layer.emb_rel_k = weights.tensor(attn + "emb_rel_k", {-1, window, head_dim});
      layer.emb_rel_v = weights.tensor(attn + "emb_rel_v", {-1, window, head_dim});
      for (const Tensor* rel : {&layer.emb_rel_k, &layer.emb_rel_v}) {
        MMGEN_CHECK(rel->dim(0) == 1 || rel->dim(0) == config.n_heads,
                    weights.file().path().string(), ": tensor '", weights.prefix(), attn,
                    "emb_rel_*' has ", rel->dim(0), " heads, expected 1 or ", config.n_heads);
      }
    }
    layer.norm_1 = weights.layer_norm("enc_p.encoder.norm_layers_1." + std::to_string(i), hidden);
    layer.norm_2 = weights.layer_norm("enc_p.encoder.norm_layers_2." + std::to_string(i), hidden);
    layer.ffn_1 = weights.conv(ffn + "conv_1", config.filter_channels, hidden, config.kernel_size);
    layer.ffn_2 = weights.conv(ffn + "conv_2", hidden, config.filter_channels, config.kernel_size);
    encoder.layers_.push_back(std::move(layer));
  }
  encoder.proj_ = weights.conv("enc_p.proj", 2 * config.inter_channels, hidden, 1);
  return encoder;
}

namespace {

// Relative logits [1, H, T, 2w + 1] (column r: key j = i + r - w) -> absolute
// scores [1, H, T, T], zero outside the window. Each row is padded with
// a = max(T - 1 - w, 0) zeros on both sides to K = 2a + 2w + 1 columns; then
// scores(i, j) sits at flat index i * (K - 1) + j + (a + w) of each head's
// [T, K] block, a strided view the contiguous copy gathers (the reference's
// pad-and-reshape, on any device).
Tensor relative_to_absolute(const Tensor& relative, int64_t length, int window) {
  const int64_t heads = relative.dim(1);
  const int64_t pad = std::max<int64_t>(length - 1 - window, 0);
  Tensor padded = relative;
  if (pad > 0) {
    const Tensor zeros = Tensor::zeros({1, heads, length, pad}, DType::kF32, relative.device());
    padded = ops::concat({zeros, relative, zeros}, 3);
  }
  const int64_t width = padded.dim(3);
  const Tensor skewed = Tensor::strided_view_of(
      padded.storage(), padded.byte_offset() + (pad + window) * sizeof(float),
      {1, heads, length, length}, {heads * length * width, length * width, width - 1, 1},
      DType::kF32);
  return ops::contiguous(skewed);
}

// Absolute weights [1, H, T, T] -> relative [1, H, T, 2w + 1] (column r: key
// j = i + r - w, zero where j falls outside the sequence). Rows padded with w
// zeros on both sides to K = T + 2w: column r of row i is at flat i * (K + 1) + r.
Tensor absolute_to_relative(const Tensor& absolute, int64_t length, int window) {
  const int64_t heads = absolute.dim(1);
  const Tensor zeros = Tensor::zeros({1, heads, length, window}, DType::kF32, absolute.device());
  const Tensor padded = ops::concat({zeros, absolute, zeros}, 3);
  const int64_t width = padded.dim(3);
  const Tensor skewed = Tensor::strided_view_of(
      padded.storage(), padded.byte_offset(), {1, heads, length, 2 * int64_t{window} + 1},
      {heads * length * width, length * width, width + 1, 1}, DType::kF32);
  return ops::contiguous(skewed);
}

}  // namespace

// Multi-head attention with relative position embeddings (attentions.MultiHeadAttention,
// heads shared or not): score(i, j) += q_i . emb_k[j - i + w] and
// out_i += sum_j p(i, j) emb_v[j - i + w] for |j - i| <= w. Written in ops only,
// so it runs where the weights are.
Tensor VitsTextEncoder::attention(const Layer& layer, const Tensor& x) const {
  const int64_t heads = config_.n_heads;
  const int64_t channels = x.dim(1);
  const int64_t length = x.dim(2);
  const int64_t head_dim = channels / heads;
  const float scale = 1.0f / std::sqrt(static_cast<float>(head_dim));
  // [1, C, T] -> [1, heads, T, head_dim]
  auto split_heads = [&](const Tensor& t) {
    return ops::permute(t.reshape({1, heads, head_dim, length}), {0, 1, 3, 2});
  };
  const Tensor q = ops::scale(split_heads(layer.conv_q(x)), scale);
  const Tensor k = split_heads(layer.conv_k(x));
  const Tensor v = split_heads(layer.conv_v(x));

  Tensor scores = ops::matmul(q, k, false, true);  // [1, heads, T, T]
  const int window = config_.window_size;
  if (window > 0) {
    // q . emb_k for every offset: [1, heads, T, 2w + 1] (shared embeddings broadcast).
    const Tensor relative = ops::matmul(q, layer.emb_rel_k.unsqueeze(0), false, true);
    scores = ops::add(scores, relative_to_absolute(relative, length, window));
  }
  const Tensor p = ops::softmax(scores);
  Tensor out = ops::matmul(p, v);  // [1, heads, T, head_dim]
  if (window > 0) {
    const Tensor weights = absolute_to_relative(p, length, window);
    out = ops::add(out, ops::matmul(weights, layer.emb_rel_v.unsqueeze(0)));
  }
  // [1, heads, T, head_dim] -> [1, C, T]
  const Tensor merged = ops::permute(out, {0, 1, 3, 2}).reshape({1, channels, length});
  return layer.conv_o(merged);
}

VitsTextEncoding VitsTextEncoder::forward(const Tensor& input_ids) const {
  MMGEN_CHECK(
      input_ids.defined() && (input_ids.dtype() == DType::kI64 || input_ids.dtype() == DType::kI32),
      "VITS text encoder: phoneme ids must be an i64 or i32 tensor");
  MMGEN_CHECK(input_ids.ndim() == 1 || (input_ids.ndim() == 2 && input_ids.dim(0) == 1),
              "VITS text encoder: phoneme ids must be [T] or [1, T], got ", input_ids.str());
  MMGEN_CHECK(input_ids.numel() >= 1, "VITS text encoder: the phoneme id sequence is empty");
  // The ids are few: checked on the host, then given to the embedding where it lives.
  const Tensor ids = input_ids.reshape({input_ids.numel()}).cpu();
  for (int64_t id : ids.to_i64_vector()) {
    MMGEN_CHECK(id >= 0 && id < config_.n_vocab, "VITS text encoder: phoneme id ", id,
                " is outside [0, ", config_.n_vocab, ")");
  }
  const int64_t length = ids.numel();
  // [T, hidden] * sqrt(hidden) -> [1, hidden, T]
  Tensor x = ops::scale(ops::embedding(emb_, ids.to(emb_.device())),
                        std::sqrt(static_cast<float>(config_.hidden_channels)));
  x = ops::permute(x, {1, 0}).reshape({1, config_.hidden_channels, length});
  // One unpadded sequence: every mask of the reference is all ones.
  for (const Layer& layer : layers_) {
    x = layer.norm_1(ops::add(x, attention(layer, x)));
    const Tensor y = layer.ffn_2(ops::relu(layer.ffn_1(x)));
    x = layer.norm_2(ops::add(x, y));
  }
  const Tensor stats = proj_(x);
  const auto halves = ops::split(stats, {config_.inter_channels, config_.inter_channels}, 1);
  return {x, ops::contiguous(halves[0]), ops::contiguous(halves[1])};
}

}  // namespace mmgen::audio
