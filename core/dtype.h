// Element types: plain numeric types and the GGUF quantised block types.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace mmgen {

enum class DType : uint8_t {
  // plain element types (one element per "block")
  kBool,
  kU8,
  kI8,
  kU16,
  kI16,
  kU32,
  kI32,
  kU64,
  kI64,
  kF8E4M3,
  kF8E5M2,
  kF16,
  kBF16,
  kF32,
  kF64,
  // GGUF block-quantised types: elements come in blocks of block_size()
  kQ4_0,
  kQ4_1,
  kQ5_0,
  kQ5_1,
  kQ8_0,
  kQ2_K,
  kQ3_K,
  kQ4_K,
  kQ5_K,
  kQ6_K,
  kQ8_K,
};

// Number of elements in one block (1 for plain types).
int64_t block_size(DType t);
// Bytes of one block (the element size for plain types).
size_t block_bytes(DType t);
// True for the block-quantised types.
bool is_quantized(DType t);
bool is_float(DType t);  // plain floating types, not quantised ones
// Bytes needed for n elements; n must be a multiple of block_size(t).
size_t bytes_for(DType t, int64_t n);

// Lower-case display name: "f32", "bf16", "q4_0", ...
std::string_view dtype_name(DType t);
std::optional<DType> dtype_from_name(std::string_view name);

// The C++ type behind each plain dtype, for templated kernels.
template <typename T>
constexpr DType dtype_of();
template <>
constexpr DType dtype_of<float>() { return DType::kF32; }
template <>
constexpr DType dtype_of<double>() { return DType::kF64; }
template <>
constexpr DType dtype_of<int32_t>() { return DType::kI32; }
template <>
constexpr DType dtype_of<int64_t>() { return DType::kI64; }
template <>
constexpr DType dtype_of<uint8_t>() { return DType::kU8; }
template <>
constexpr DType dtype_of<int8_t>() { return DType::kI8; }

}  // namespace mmgen
