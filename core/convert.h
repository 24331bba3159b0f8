// Element conversion between dtypes, including GGUF block (de)quantisation.
#pragma once

#include <cstdint>

#include "core/dtype.h"

namespace mmgen {

// Converts n contiguous elements of src_type into n elements of dst_type.
// Any plain dtype converts to any other (through double for integers, float for
// floats); a quantised source must go to f32, a quantised destination must come
// from f32 (quantisers exist for q4_0, q4_1, q5_0, q5_1 and q8_0).
void convert_elements(DType src_type, const void* src, DType dst_type, void* dst, int64_t n);

// Dequantises n elements (a whole number of blocks) of a quantised type to f32.
void dequantize_row(DType type, const void* src, float* dst, int64_t n);
// Quantises n f32 elements (a whole number of blocks) the way ggml's reference
// quantisers do (quantize_row_*_ref).
void quantize_row(DType type, const float* src, void* dst, int64_t n);

}  // namespace mmgen
