// Reading and writing one element of any plain dtype through double, shared by
// the CPU conversions (core/convert.cpp) and the CUDA cast kernel so both round,
// saturate and treat NaN the same way.
#pragma once

#include <cstdint>

#include "core/dtype.h"
#include "core/half.h"

namespace mmgen {

// Element i as double (exact for every type but 64-bit integers beyond 2^53).
// Returns false for dtypes without single elements (the quantised blocks).
MMGEN_HD bool load_element(DType t, const void* p, int64_t i, double* value) {
  switch (t) {
    case DType::kBool:
      *value = static_cast<const uint8_t*>(p)[i] ? 1.0 : 0.0;
      return true;
    case DType::kU8:
      *value = static_cast<const uint8_t*>(p)[i];
      return true;
    case DType::kI8:
      *value = static_cast<const int8_t*>(p)[i];
      return true;
    case DType::kU16:
      *value = static_cast<const uint16_t*>(p)[i];
      return true;
    case DType::kI16:
      *value = static_cast<const int16_t*>(p)[i];
      return true;
    case DType::kU32:
      *value = static_cast<const uint32_t*>(p)[i];
      return true;
    case DType::kI32:
      *value = static_cast<const int32_t*>(p)[i];
      return true;
    case DType::kU64:
      *value = static_cast<double>(static_cast<const uint64_t*>(p)[i]);
      return true;
    case DType::kI64:
      *value = static_cast<double>(static_cast<const int64_t*>(p)[i]);
      return true;
    case DType::kF8E4M3:
      *value = f8e4m3_to_f32(static_cast<const uint8_t*>(p)[i]);
      return true;
    case DType::kF8E5M2:
      *value = f8e5m2_to_f32(static_cast<const uint8_t*>(p)[i]);
      return true;
    case DType::kF16:
      *value = f16_to_f32(static_cast<const uint16_t*>(p)[i]);
      return true;
    case DType::kBF16:
      *value = bf16_to_f32(static_cast<const uint16_t*>(p)[i]);
      return true;
    case DType::kF32:
      *value = static_cast<const float*>(p)[i];
      return true;
    case DType::kF64:
      *value = static_cast<const double*>(p)[i];
      return true;
    default:
      return false;
  }
}

// Integer stores saturate and send NaN to 0.
template <typename T>
MMGEN_HD void store_saturated(void* p, int64_t i, double v, T lo, T hi) {
  T r;
  if (v != v) {
    r = T(0);
  } else if (v <= static_cast<double>(lo)) {
    r = lo;
  } else if (v >= static_cast<double>(hi)) {
    r = hi;
  } else {
    r = static_cast<T>(v);
  }
  static_cast<T*>(p)[i] = r;
}

// Writes v as element i. Returns false for dtypes that cannot be written one
// element at a time (the quantised blocks and the FP8 formats).
MMGEN_HD bool store_element(DType t, void* p, int64_t i, double v) {
  switch (t) {
    case DType::kBool:
      static_cast<uint8_t*>(p)[i] = v != 0.0;
      return true;
    case DType::kU8:
      store_saturated<uint8_t>(p, i, v, 0, UINT8_MAX);
      return true;
    case DType::kI8:
      store_saturated<int8_t>(p, i, v, INT8_MIN, INT8_MAX);
      return true;
    case DType::kU16:
      store_saturated<uint16_t>(p, i, v, 0, UINT16_MAX);
      return true;
    case DType::kI16:
      store_saturated<int16_t>(p, i, v, INT16_MIN, INT16_MAX);
      return true;
    case DType::kU32:
      store_saturated<uint32_t>(p, i, v, 0, UINT32_MAX);
      return true;
    case DType::kI32:
      store_saturated<int32_t>(p, i, v, INT32_MIN, INT32_MAX);
      return true;
    case DType::kU64:
      store_saturated<uint64_t>(p, i, v, 0, UINT64_MAX);
      return true;
    case DType::kI64:
      store_saturated<int64_t>(p, i, v, INT64_MIN, INT64_MAX);
      return true;
    case DType::kF16:
      static_cast<uint16_t*>(p)[i] = f32_to_f16(static_cast<float>(v));
      return true;
    case DType::kBF16:
      static_cast<uint16_t*>(p)[i] = f32_to_bf16(static_cast<float>(v));
      return true;
    case DType::kF32:
      static_cast<float*>(p)[i] = static_cast<float>(v);
      return true;
    case DType::kF64:
      static_cast<double*>(p)[i] = v;
      return true;
    default:
      return false;
  }
}

}  // namespace mmgen
