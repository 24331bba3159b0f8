#include "core/convert.h"

#include <cstring>
#include <limits>

#include "core/error.h"
#include "core/half.h"

namespace mmgen {
namespace {

// Reads element i of a plain dtype as double (exact for every type but u64/i64
// beyond 2^53, which only integer-to-integer copies below avoid).
double load(DType t, const void* p, int64_t i) {
  switch (t) {
    case DType::kBool:
      return static_cast<const uint8_t*>(p)[i] ? 1.0 : 0.0;
    case DType::kU8:
      return static_cast<const uint8_t*>(p)[i];
    case DType::kI8:
      return static_cast<const int8_t*>(p)[i];
    case DType::kU16:
      return static_cast<const uint16_t*>(p)[i];
    case DType::kI16:
      return static_cast<const int16_t*>(p)[i];
    case DType::kU32:
      return static_cast<const uint32_t*>(p)[i];
    case DType::kI32:
      return static_cast<const int32_t*>(p)[i];
    case DType::kU64:
      return static_cast<double>(static_cast<const uint64_t*>(p)[i]);
    case DType::kI64:
      return static_cast<double>(static_cast<const int64_t*>(p)[i]);
    case DType::kF8E4M3:
      return f8e4m3_to_f32(static_cast<const uint8_t*>(p)[i]);
    case DType::kF8E5M2:
      return f8e5m2_to_f32(static_cast<const uint8_t*>(p)[i]);
    case DType::kF16:
      return f16_to_f32(static_cast<const uint16_t*>(p)[i]);
    case DType::kBF16:
      return bf16_to_f32(static_cast<const uint16_t*>(p)[i]);
    case DType::kF32:
      return static_cast<const float*>(p)[i];
    case DType::kF64:
      return static_cast<const double*>(p)[i];
    default:
      fail("cannot read ", dtype_name(t), " elements one by one");
  }
}

template <typename T>
T saturate(double v) {
  if (v != v) return T(0);
  if (v <= static_cast<double>(std::numeric_limits<T>::lowest())) return std::numeric_limits<T>::lowest();
  if (v >= static_cast<double>(std::numeric_limits<T>::max())) return std::numeric_limits<T>::max();
  return static_cast<T>(v);
}

void store(DType t, void* p, int64_t i, double v) {
  switch (t) {
    case DType::kBool:
      static_cast<uint8_t*>(p)[i] = v != 0.0;
      return;
    case DType::kU8:
      static_cast<uint8_t*>(p)[i] = saturate<uint8_t>(v);
      return;
    case DType::kI8:
      static_cast<int8_t*>(p)[i] = saturate<int8_t>(v);
      return;
    case DType::kU16:
      static_cast<uint16_t*>(p)[i] = saturate<uint16_t>(v);
      return;
    case DType::kI16:
      static_cast<int16_t*>(p)[i] = saturate<int16_t>(v);
      return;
    case DType::kU32:
      static_cast<uint32_t*>(p)[i] = saturate<uint32_t>(v);
      return;
    case DType::kI32:
      static_cast<int32_t*>(p)[i] = saturate<int32_t>(v);
      return;
    case DType::kU64:
      static_cast<uint64_t*>(p)[i] = saturate<uint64_t>(v);
      return;
    case DType::kI64:
      static_cast<int64_t*>(p)[i] = saturate<int64_t>(v);
      return;
    case DType::kF16:
      static_cast<uint16_t*>(p)[i] = f32_to_f16(static_cast<float>(v));
      return;
    case DType::kBF16:
      static_cast<uint16_t*>(p)[i] = f32_to_bf16(static_cast<float>(v));
      return;
    case DType::kF32:
      static_cast<float*>(p)[i] = static_cast<float>(v);
      return;
    case DType::kF64:
      static_cast<double*>(p)[i] = v;
      return;
    default:
      fail("conversion to ", dtype_name(t), " is not supported");
  }
}

}  // namespace

void convert_elements(DType src_type, const void* src, DType dst_type, void* dst, int64_t n) {
  if (src_type == dst_type) {
    std::memcpy(dst, src, bytes_for(src_type, n));
    return;
  }
  if (is_quantized(src_type)) {
    MMGEN_CHECK(dst_type == DType::kF32, "a ", dtype_name(src_type),
                " tensor converts only to f32, not ", dtype_name(dst_type));
    dequantize_row(src_type, src, static_cast<float*>(dst), n);
    return;
  }
  if (is_quantized(dst_type)) {
    MMGEN_CHECK(src_type == DType::kF32, "only f32 quantises to ", dtype_name(dst_type));
    quantize_row(dst_type, static_cast<const float*>(src), dst, n);
    return;
  }
  if (src_type == DType::kF32 && dst_type == DType::kF16) {
    const auto* s = static_cast<const float*>(src);
    auto* d = static_cast<uint16_t*>(dst);
    for (int64_t i = 0; i < n; ++i) d[i] = f32_to_f16(s[i]);
    return;
  }
  if (src_type == DType::kF16 && dst_type == DType::kF32) {
    const auto* s = static_cast<const uint16_t*>(src);
    auto* d = static_cast<float*>(dst);
    for (int64_t i = 0; i < n; ++i) d[i] = f16_to_f32(s[i]);
    return;
  }
  if (src_type == DType::kBF16 && dst_type == DType::kF32) {
    const auto* s = static_cast<const uint16_t*>(src);
    auto* d = static_cast<float*>(dst);
    for (int64_t i = 0; i < n; ++i) d[i] = bf16_to_f32(s[i]);
    return;
  }
  for (int64_t i = 0; i < n; ++i) store(dst_type, dst, i, load(src_type, src, i));
}

}  // namespace mmgen
