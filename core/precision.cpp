#include "core/precision.h"

#include "core/error.h"

namespace mmgen {

Precision parse_precision(std::string_view text, std::string_view what) {
  if (text == "f32") return Precision::kF32;
  if (text == "bf16") return Precision::kBF16;
  fail(what, ": unknown precision '", text, "': expected f32 or bf16");
}

std::string precision_name(Precision precision) {
  return precision == Precision::kBF16 ? "bf16" : "f32";
}

}  // namespace mmgen
