// The VITS text encoder (models.TextEncoder, attentions.Encoder): phoneme
// embeddings scaled by sqrt(hidden), transformer layers with windowed
// relative-position multi-head attention and a conv FFN (post-norm), then a
// 1x1 projection to the prior's mean and log-std.
#pragma once

#include <vector>

#include "audio/vits_config.h"
#include "audio/vits_modules.h"

namespace mmgen::audio {

struct VitsTextEncoding {
  Tensor x;       // encoder output [1, hidden, T]
  Tensor m_p;     // prior mean [1, inter, T]
  Tensor logs_p;  // prior log-std [1, inter, T]
};

class VitsTextEncoder {
 public:
  // Tensors under "enc_p." of `weights`.
  static VitsTextEncoder load(const VitsWeights& weights, const VitsConfig& config);

  // ids: i64 (or i32) [1, T] or [T], T >= 1, each in [0, n_vocab).
  VitsTextEncoding forward(const Tensor& ids) const;

 private:
  struct Layer {
    VitsConv conv_q, conv_k, conv_v, conv_o;
    Tensor emb_rel_k, emb_rel_v;  // [1 or heads, 2 * window + 1, head_dim]
    VitsLayerNorm norm_1, norm_2;
    VitsConv ffn_1, ffn_2;
  };
  Tensor attention(const Layer& layer, const Tensor& x) const;

  VitsConfig config_;
  Tensor emb_;  // [n_vocab, hidden]
  std::vector<Layer> layers_;
  VitsConv proj_;
};

}  // namespace mmgen::audio
