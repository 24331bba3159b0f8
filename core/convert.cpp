#include "core/convert.h"

#include <cstring>

#include "core/element_access.h"
#include "core/error.h"
#include "core/half.h"

namespace mmgen {
namespace {

double load(DType t, const void* p, int64_t i) {
  double value;
  if (!load_element(t, p, i, &value)) fail("cannot read ", dtype_name(t), " elements one by one");
  return value;
}

void store(DType t, void* p, int64_t i, double v) {
  if (!store_element(t, p, i, v)) fail("conversion to ", dtype_name(t), " is not supported");
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
