// Device decoders of the GGUF block types. Each decodes one 32-element chunk of
// a row (a whole block for the 32-element types, one eighth of a 256-element
// super-block for the K types) with the same f32 operations, in the same order,
// as the CPU dequantiser, so both backends produce identical weights.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "core/dtype.h"
#include "core/half.h"

namespace mmgen::kernels::cuda::quant {

constexpr int kChunk = 32;

__device__ __forceinline__ float half_at(const uint8_t* p) {
  return f16_to_f32(static_cast<uint16_t>(p[0] | (p[1] << 8)));
}
__device__ __forceinline__ uint32_t u32_at(const uint8_t* p) {
  return static_cast<uint32_t>(p[0]) | (static_cast<uint32_t>(p[1]) << 8) |
         (static_cast<uint32_t>(p[2]) << 16) | (static_cast<uint32_t>(p[3]) << 24);
}
// Explicit rounding keeps nvcc from fusing into FMAs the CPU code does not use.
__device__ __forceinline__ float mul(float a, float b) { return __fmul_rn(a, b); }
__device__ __forceinline__ float add(float a, float b) { return __fadd_rn(a, b); }
__device__ __forceinline__ float sub(float a, float b) { return __fsub_rn(a, b); }

// 6-bit scale and min of sub-block j of a Q4_K / Q5_K super-block.
__device__ __forceinline__ void scale_min_k4(int j, const uint8_t* s, int& scale, int& min) {
  if (j < 4) {
    scale = s[j] & 63;
    min = s[j + 4] & 63;
  } else {
    scale = (s[j + 4] & 0xF) | ((s[j - 4] >> 6) << 4);
    min = (s[j + 4] >> 4) | ((s[j] >> 6) << 4);
  }
}

struct Q4_0 {
  static constexpr DType kType = DType::kQ4_0;
  static constexpr int kElems = 32, kBytes = 18;
  __device__ static void chunk(const uint8_t* row, int64_t c, float* y) {
    const uint8_t* b = row + c * kBytes;
    const float d = half_at(b);
    const uint8_t* qs = b + 2;
    for (int j = 0; j < 16; ++j) {
      y[j] = mul(static_cast<float>((qs[j] & 0xF) - 8), d);
      y[j + 16] = mul(static_cast<float>((qs[j] >> 4) - 8), d);
    }
  }
};

struct Q4_1 {
  static constexpr DType kType = DType::kQ4_1;
  static constexpr int kElems = 32, kBytes = 20;
  __device__ static void chunk(const uint8_t* row, int64_t c, float* y) {
    const uint8_t* b = row + c * kBytes;
    const float d = half_at(b);
    const float m = half_at(b + 2);
    const uint8_t* qs = b + 4;
    for (int j = 0; j < 16; ++j) {
      y[j] = add(mul(static_cast<float>(qs[j] & 0xF), d), m);
      y[j + 16] = add(mul(static_cast<float>(qs[j] >> 4), d), m);
    }
  }
};

struct Q5_0 {
  static constexpr DType kType = DType::kQ5_0;
  static constexpr int kElems = 32, kBytes = 22;
  __device__ static void chunk(const uint8_t* row, int64_t c, float* y) {
    const uint8_t* b = row + c * kBytes;
    const float d = half_at(b);
    const uint32_t qh = u32_at(b + 2);
    const uint8_t* qs = b + 6;
    for (int j = 0; j < 16; ++j) {
      const int lo = (qs[j] & 0xF) | (((qh >> j) & 1u) << 4);
      const int hi = (qs[j] >> 4) | (((qh >> (j + 16)) & 1u) << 4);
      y[j] = mul(static_cast<float>(lo - 16), d);
      y[j + 16] = mul(static_cast<float>(hi - 16), d);
    }
  }
};

struct Q5_1 {
  static constexpr DType kType = DType::kQ5_1;
  static constexpr int kElems = 32, kBytes = 24;
  __device__ static void chunk(const uint8_t* row, int64_t c, float* y) {
    const uint8_t* b = row + c * kBytes;
    const float d = half_at(b);
    const float m = half_at(b + 2);
    const uint32_t qh = u32_at(b + 4);
    const uint8_t* qs = b + 8;
    for (int j = 0; j < 16; ++j) {
      const int lo = (qs[j] & 0xF) | (((qh >> j) & 1u) << 4);
      const int hi = (qs[j] >> 4) | (((qh >> (j + 16)) & 1u) << 4);
      y[j] = add(mul(static_cast<float>(lo), d), m);
      y[j + 16] = add(mul(static_cast<float>(hi), d), m);
    }
  }
};

struct Q8_0 {
  static constexpr DType kType = DType::kQ8_0;
  static constexpr int kElems = 32, kBytes = 34;
  __device__ static void chunk(const uint8_t* row, int64_t c, float* y) {
    const uint8_t* b = row + c * kBytes;
    const float d = half_at(b);
    const auto* qs = reinterpret_cast<const int8_t*>(b + 2);
    for (int j = 0; j < 32; ++j) y[j] = mul(static_cast<float>(qs[j]), d);
  }
};

// Super-block types: chunk c is sub-block c % 8 of super-block c / 8, covering
// elements e0 .. e0 + 31 of the super-block.
struct Q2_K {
  static constexpr DType kType = DType::kQ2_K;
  static constexpr int kElems = 256, kBytes = 84;
  __device__ static void chunk(const uint8_t* row, int64_t c, float* y) {
    const uint8_t* b = row + (c >> 3) * kBytes;
    const int e0 = static_cast<int>(c & 7) * 32;
    const uint8_t* scales = b;
    const uint8_t* qs = b + 16;
    const float d = half_at(b + 80);
    const float dmin = half_at(b + 82);
    const int half = e0 >> 7;
    const int shift = 2 * ((e0 & 127) >> 5);
    for (int l = 0; l < 32; ++l) {
      const int sc = scales[(e0 + l) >> 4];
      const float dl = mul(d, static_cast<float>(sc & 0xF));
      const float ml = mul(dmin, static_cast<float>(sc >> 4));
      const int q = (qs[half * 32 + l] >> shift) & 3;
      y[l] = sub(mul(dl, static_cast<float>(q)), ml);
    }
  }
};

struct Q3_K {
  static constexpr DType kType = DType::kQ3_K;
  static constexpr int kElems = 256, kBytes = 110;
  __device__ static int scale(const uint8_t* s, int j) {
    const int low = j < 8 ? (s[j] & 0xF) : (s[j - 8] >> 4);
    const int high = (s[8 + (j & 3)] >> (2 * (j >> 2))) & 3;
    return (low | (high << 4)) - 32;
  }
  __device__ static void chunk(const uint8_t* row, int64_t c, float* y) {
    const uint8_t* b = row + (c >> 3) * kBytes;
    const int e0 = static_cast<int>(c & 7) * 32;
    const uint8_t* hmask = b;
    const uint8_t* qs = b + 32;
    const uint8_t* scales = b + 96;
    const float d = half_at(b + 108);
    const int half = e0 >> 7;
    const int j = (e0 & 127) >> 5;
    const int shift = 2 * j;
    const int bit = 1 << (half * 4 + j);
    for (int l = 0; l < 32; ++l) {
      const float dl = mul(d, static_cast<float>(scale(scales, (e0 + l) >> 4)));
      const int q = ((qs[half * 32 + l] >> shift) & 3) - ((hmask[l] & bit) ? 0 : 4);
      y[l] = mul(dl, static_cast<float>(q));
    }
  }
};

struct Q4_K {
  static constexpr DType kType = DType::kQ4_K;
  static constexpr int kElems = 256, kBytes = 144;
  __device__ static void chunk(const uint8_t* row, int64_t c, float* y) {
    const uint8_t* b = row + (c >> 3) * kBytes;
    const int sb = static_cast<int>(c & 7);
    const float d = half_at(b);
    const float dmin = half_at(b + 2);
    int sc = 0, m = 0;
    scale_min_k4(sb, b + 4, sc, m);
    const float d1 = mul(d, static_cast<float>(sc));
    const float m1 = mul(dmin, static_cast<float>(m));
    const uint8_t* qs = b + 16 + (sb >> 1) * 32;
    const int shift = (sb & 1) * 4;
    for (int l = 0; l < 32; ++l)
      y[l] = sub(mul(d1, static_cast<float>((qs[l] >> shift) & 0xF)), m1);
  }
};

struct Q5_K {
  static constexpr DType kType = DType::kQ5_K;
  static constexpr int kElems = 256, kBytes = 176;
  __device__ static void chunk(const uint8_t* row, int64_t c, float* y) {
    const uint8_t* b = row + (c >> 3) * kBytes;
    const int sb = static_cast<int>(c & 7);
    const float d = half_at(b);
    const float dmin = half_at(b + 2);
    int sc = 0, m = 0;
    scale_min_k4(sb, b + 4, sc, m);
    const float d1 = mul(d, static_cast<float>(sc));
    const float m1 = mul(dmin, static_cast<float>(m));
    const uint8_t* qh = b + 16;
    const uint8_t* qs = b + 48 + (sb >> 1) * 32;
    const int shift = (sb & 1) * 4;
    for (int l = 0; l < 32; ++l) {
      const int q = ((qs[l] >> shift) & 0xF) + (((qh[l] >> sb) & 1) ? 16 : 0);
      y[l] = sub(mul(d1, static_cast<float>(q)), m1);
    }
  }
};

struct Q6_K {
  static constexpr DType kType = DType::kQ6_K;
  static constexpr int kElems = 256, kBytes = 210;
  __device__ static void chunk(const uint8_t* row, int64_t c, float* y) {
    const uint8_t* b = row + (c >> 3) * kBytes;
    const int e0 = static_cast<int>(c & 7) * 32;
    const int half = e0 >> 7;
    const int quarter = (e0 & 127) >> 5;
    const uint8_t* ql = b + half * 64 + (quarter & 1) * 32;
    const uint8_t* qh = b + 128 + half * 32;
    const auto* scales = reinterpret_cast<const int8_t*>(b + 192);
    const float d = half_at(b + 208);
    const int low_shift = quarter >= 2 ? 4 : 0;
    const int high_shift = 2 * quarter;
    for (int l = 0; l < 32; ++l) {
      const int q = (((ql[l] >> low_shift) & 0xF) | (((qh[l] >> high_shift) & 3) << 4)) - 32;
      const float dl = mul(d, static_cast<float>(scales[(e0 + l) >> 4]));
      y[l] = mul(dl, static_cast<float>(q));
    }
  }
};

struct Q8_K {
  static constexpr DType kType = DType::kQ8_K;
  static constexpr int kElems = 256, kBytes = 292;
  __device__ static void chunk(const uint8_t* row, int64_t c, float* y) {
    const uint8_t* b = row + (c >> 3) * kBytes;
    const int e0 = static_cast<int>(c & 7) * 32;
    const float d = __uint_as_float(u32_at(b));
    const auto* qs = reinterpret_cast<const int8_t*>(b + 4);
    for (int l = 0; l < 32; ++l) y[l] = mul(d, static_cast<float>(qs[e0 + l]));
  }
};

// Calls f(Decoder{}) for a quantised dtype; false for any other dtype.
template <typename F>
bool dispatch(DType type, F&& f) {
  switch (type) {
    case DType::kQ4_0:
      f(Q4_0{});
      return true;
    case DType::kQ4_1:
      f(Q4_1{});
      return true;
    case DType::kQ5_0:
      f(Q5_0{});
      return true;
    case DType::kQ5_1:
      f(Q5_1{});
      return true;
    case DType::kQ8_0:
      f(Q8_0{});
      return true;
    case DType::kQ2_K:
      f(Q2_K{});
      return true;
    case DType::kQ3_K:
      f(Q3_K{});
      return true;
    case DType::kQ4_K:
      f(Q4_K{});
      return true;
    case DType::kQ5_K:
      f(Q5_K{});
      return true;
    case DType::kQ6_K:
      f(Q6_K{});
      return true;
    case DType::kQ8_K:
      f(Q8_K{});
      return true;
    default:
      return false;
  }
}

}  // namespace mmgen::kernels::cuda::quant
