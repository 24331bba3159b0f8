// The arithmetic a model's heavy products run in.
#pragma once

#include <string>
#include <string_view>

namespace mmgen {

enum class Precision {
  kF32,   // f32 weights and inputs: the reference implementations' arithmetic
  kBF16,  // bf16 weights (and, where the CPU multiplies bf16, inputs); f32 sums
};

// "f32" or "bf16"; throws Error naming `what` (e.g. "--precision") and the text otherwise.
Precision parse_precision(std::string_view text, std::string_view what = "precision");
std::string precision_name(Precision precision);

}  // namespace mmgen
