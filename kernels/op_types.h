// Enumerations shared by the op dispatcher and the backends.
#pragma once

namespace mmgen::kernels {

enum class UnaryOp {
  kGelu,
  kGeluTanh,
  kQuickGelu,
  kSilu,
  kRelu,
  kLeakyRelu,  // alpha = negative slope
  kTanh,
  kSigmoid,
  kExp,
  kScale,      // x * alpha
  kAddScalar,  // x + alpha
  kClamp,      // min(max(x, alpha), beta)
};

enum class BinaryOp { kAdd, kSub, kMul, kDiv };

}  // namespace mmgen::kernels
