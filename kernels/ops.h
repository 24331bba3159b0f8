// The op set every model is written against. The device of the inputs picks the
// backend (kernels/cpu or kernels/cuda); all inputs of one op must share a device.
//
// Conventions
// - Activations are f32 unless an op says otherwise; outputs are new contiguous
//   tensors on the inputs' device.
// - Weights (the `weight` of linear/matmul/embedding) may be f32, f16, bf16 or a
//   GGUF block type; arithmetic always accumulates in f32.
// - Inputs may be non-contiguous views; ops make the copies they need.
// - Shapes follow PyTorch: NCHW images, [N, C, L] sequences for conv1d,
//   [batch, heads, seq, head_dim] for attention.
// - Shape or dtype mismatches throw mmgen::Error naming the op and the shapes.
#pragma once

#include <cstdint>
#include <vector>

#include "core/tensor.h"

namespace mmgen::kernels {

// ---- matrix products -------------------------------------------------------

// a: [..., M, K] (or [..., K, M] when transpose_a), b: [..., K, N] (or [..., N, K]
// when transpose_b). Batch dimensions broadcast (b is often 2-D). a is f32; b may
// be f32, f16, bf16 or quantised (quantised b must be 2-D with transpose_b).
Tensor matmul(const Tensor& a, const Tensor& b, bool transpose_a = false, bool transpose_b = false);

// x: [..., in], weight: [out, in] (any weight dtype), bias: [out] or undefined.
Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias = {});

// linear(x, weights[i], biases[i]) for every i (biases may be empty or hold undefined
// tensors), computed where the backend can in one pass over all the weights' rows:
// at decode time a layer's q/k/v (or gate/up) projections then cost one parallel
// loop instead of three (two). The weights share in_features; on the CPU they are
// fused when they also share a dtype, and computed one by one otherwise.
std::vector<Tensor> linear_many(const Tensor& x, const std::vector<Tensor>& weights,
                                const std::vector<Tensor>& biases = {});

// ---- convolutions ----------------------------------------------------------

struct Conv2dParams {
  int stride_h = 1, stride_w = 1;
  int pad_h = 0, pad_w = 0;
  int dilation_h = 1, dilation_w = 1;
  int groups = 1;
};
// x: [N, C, H, W], weight: [O, C / groups, kh, kw] (f32, f16 or bf16), bias: [O] or undefined.
Tensor conv2d(const Tensor& x, const Tensor& weight, const Tensor& bias = {},
              const Conv2dParams& params = {});

struct Conv1dParams {
  int stride = 1;
  int padding = 0;
  int dilation = 1;
  int groups = 1;
  int output_padding = 0;  // conv_transpose1d only
};
// x: [N, C, L], weight: [O, C / groups, k], bias: [O] or undefined.
Tensor conv1d(const Tensor& x, const Tensor& weight, const Tensor& bias = {},
              const Conv1dParams& params = {});
// What conv1d folds into the copies of x and y it makes anyway: a leaky ReLU of x (the
// activation HiFi-GAN puts before each of its convolutions) and a residual added to y.
struct Conv1dFusion {
  bool leaky_relu_input = false;
  float negative_slope = 0.01f;
  Tensor residual;  // f32 [N, O, L_out], or undefined
};
// conv1d(leaky_relu(x) or x, weight, bias, params) + residual, with the rounding of
// those ops one after the other.
Tensor conv1d(const Tensor& x, const Tensor& weight, const Tensor& bias, const Conv1dParams& params,
              const Conv1dFusion& fusion);

// ---- residual convolution stacks (HiFi-GAN's ResBlocks) ----------------------

// One convolution of a residual stack: stride 1 and "same" padding (dilation * (k - 1)
// / 2 for an odd k). weight: [C, C, k] (f32, f16 or bf16), bias: [C] or undefined.
struct StackConv {
  Tensor weight;
  Tensor bias;
  int dilation = 1;
};
// A residual unit: x + convs.back()(lrelu(... convs[0](lrelu(x)))); a stack applies its
// units one after the other (a HiFi-GAN ResBlock: units of two convolutions in type 1,
// of one in type 2).
using ResidualUnit = std::vector<StackConv>;
using ResidualStack = std::vector<ResidualUnit>;
// The mean over `stacks` of each stack applied to x [N, C, L], with leaky_relu(.,
// negative_slope) before every convolution: HiFi-GAN's multi-receptive-field fusion.
// It rounds as the conv1d calls (with their folds), adds and scale it stands for. On a
// CPU with AMX, when every weight is bf16, the stacks run stripe by stripe with their
// activations in cache instead (bf16 products, f32 sums): x is read and the result
// written once, not once per convolution.
Tensor residual_stacks_mean(const Tensor& x, const std::vector<ResidualStack>& stacks,
                            float negative_slope);

// Whether conv1d, conv_transpose1d and residual_stacks_mean multiply bf16 weights in
// bf16 on `device` (a CPU with AMX). Elsewhere they widen bf16 weights to f32 on every
// call: slower than f32 weights, for no gain in precision.
bool bf16_products_available(Device device);

// x: [N, C, L], weight: [C, O / groups, k] (PyTorch's ConvTranspose1d layout).
// Output length (L - 1) * stride - 2 * padding + dilation * (k - 1) + output_padding + 1.
Tensor conv_transpose1d(const Tensor& x, const Tensor& weight, const Tensor& bias = {},
                        const Conv1dParams& params = {});
// conv_transpose1d(leaky_relu(x) or x, ...) (HiFi-GAN's upsamplers), with the rounding
// of the two ops one after the other; fusion.residual must be undefined.
Tensor conv_transpose1d(const Tensor& x, const Tensor& weight, const Tensor& bias,
                        const Conv1dParams& params, const Conv1dFusion& fusion);

// ---- normalisation ---------------------------------------------------------

// x: [N, C, *]; statistics over each group of C / groups channels and all of *.
// weight, bias: [C] or undefined.
Tensor group_norm(const Tensor& x, int groups, const Tensor& weight, const Tensor& bias,
                  float eps = 1e-5f);
// Over the last dimension; weight, bias: [last] or undefined.
Tensor layer_norm(const Tensor& x, const Tensor& weight, const Tensor& bias, float eps = 1e-5f);
// x / sqrt(mean(x^2) + eps) * weight over the last dimension; weight may be undefined.
Tensor rms_norm(const Tensor& x, const Tensor& weight, float eps = 1e-6f);
// Softmax over the last dimension.
Tensor softmax(const Tensor& x);

// ---- attention -------------------------------------------------------------

struct AttentionParams {
  // Additive mask broadcastable to [batch, heads_q, len_q, len_k] (f32; -inf masks),
  // or undefined.
  Tensor mask;
  // Query i may see keys j <= i + (len_k - len_q): the KV-cache alignment.
  bool causal = false;
  // Score scale; 0 means 1 / sqrt(head_dim).
  float scale = 0.0f;
};
// q: [B, Hq, Lq, D], k: [B, Hkv, Lk, D], v: [B, Hkv, Lk, Dv] with Hq a multiple of
// Hkv (grouped-query attention: query head h reads KV head h / (Hq / Hkv)).
// Returns [B, Hq, Lq, Dv]. A row whose keys are all masked gives zeros.
Tensor attention(const Tensor& q, const Tensor& k, const Tensor& v,
                 const AttentionParams& params = {});

// ---- activations (elementwise, f32) ----------------------------------------

Tensor gelu(const Tensor& x);        // exact: 0.5 x (1 + erf(x / sqrt 2))
Tensor gelu_tanh(const Tensor& x);   // tanh approximation (GPT-2's gelu_new)
Tensor quick_gelu(const Tensor& x);  // x * sigmoid(1.702 x) (CLIP)
Tensor silu(const Tensor& x);
Tensor relu(const Tensor& x);
Tensor leaky_relu(const Tensor& x, float negative_slope);
Tensor tanh(const Tensor& x);
Tensor sigmoid(const Tensor& x);
Tensor exp(const Tensor& x);

// ---- broadcasting arithmetic (f32; NumPy broadcasting rules) -----------------

Tensor add(const Tensor& a, const Tensor& b);
Tensor sub(const Tensor& a, const Tensor& b);
Tensor mul(const Tensor& a, const Tensor& b);
Tensor div(const Tensor& a, const Tensor& b);
Tensor scale(const Tensor& x, float factor);      // x * factor
Tensor add_scalar(const Tensor& x, float value);  // x + value
Tensor clamp(const Tensor& x, float lo, float hi);

// ---- positions and embeddings ----------------------------------------------

enum class RopeStyle {
  kRotateHalf,   // Hugging Face: pairs (i, i + d/2)
  kInterleaved,  // GGUF / original LLaMA: pairs (2i, 2i + 1)
};
struct RopeParams {
  float theta = 10000.0f;
  int rotary_dims = 0;  // rotate the first rotary_dims of each head; 0 = all
  RopeStyle style = RopeStyle::kRotateHalf;
  // Optional per-pair inverse frequencies [rotary_dims / 2] (f32, e.g. LLaMA 3
  // scaling); when defined they replace theta^(-2i/rotary_dims).
  Tensor inv_freq;
};
// x: [B, L, H, D], positions: [L] (i32 or i64). Returns the rotated x.
Tensor rope(const Tensor& x, const Tensor& positions, const RopeParams& params);

// weight: [V, D] (any weight dtype), ids: any shape of i32/i64. Returns f32 [*ids, D].
// An id outside [0, V) is an error.
Tensor embedding(const Tensor& weight, const Tensor& ids);

// Sinusoidal timestep embedding of diffusion models. timesteps: [N] f32.
// Returns [N, dim]: freq_i = exp(-ln(max_period) * i / (half - shift)),
// concatenated as [cos, sin] when cos_first (ldm / SD) else [sin, cos];
// an odd dim gets a zero last column.
Tensor timestep_embedding(const Tensor& timesteps, int dim, float max_period = 10000.0f,
                          bool cos_first = true, float shift = 0.0f);

// ---- layout ----------------------------------------------------------------

// x: [N, C, H, W] -> [N, C, H * factor, W * factor].
Tensor upsample_nearest2d(const Tensor& x, int factor);
// Concatenates along dim; all other dimensions must agree.
Tensor concat(const std::vector<Tensor>& tensors, int dim);
// Views of consecutive pieces of the given sizes along dim (they must sum to the dim).
std::vector<Tensor> split(const Tensor& x, const std::vector<int64_t>& sizes, int dim);
// A contiguous copy of a (possibly strided) tensor of any plain dtype on its device.
Tensor contiguous(const Tensor& x);
// permute(...) as a contiguous copy.
Tensor permute(const Tensor& x, const std::vector<int>& dims);
// Converts between f32, f16 and bf16 on the tensor's device (and any dtype to f32
// on the CPU, quantised included).
Tensor cast(const Tensor& x, DType dtype);

// ---- reductions ------------------------------------------------------------

// Index of the largest value along the last dimension: [..., n] -> i64 [...].
Tensor argmax(const Tensor& x);

}  // namespace mmgen::kernels
