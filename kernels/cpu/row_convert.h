// Conversion of contiguous runs of weight elements to f32 for the CPU kernels.
#pragma once

#include <cstddef>
#include <cstdint>

#include "core/dtype.h"

namespace mmgen::kernels::cpu {

// Converts n contiguous elements of `type` (f32, f16, bf16, any plain dtype, or a
// whole number of quantised blocks) at src into f32 at dst.
void to_f32(DType type, const void* src, float* dst, int64_t n);

// Converts n f32 values to f16 / bf16 (round to nearest even).
void f32_to_f16_run(const float* src, uint16_t* dst, int64_t n);
void f32_to_bf16_run(const float* src, uint16_t* dst, int64_t n);

// Address of element `index` in a contiguous buffer of `type` (index must start a
// block for quantised types).
inline const std::byte* element_address(DType type, const void* base, int64_t index) {
  return static_cast<const std::byte*>(base) + bytes_for(type, index);
}

}  // namespace mmgen::kernels::cpu
