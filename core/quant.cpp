// GGUF block (de)quantisation with ggml's block layouts (QK4_0 = QK8_0 = 32, QK_K = 256).
// Blocks are read byte by byte, so a block may start at any address.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/convert.h"
#include "core/error.h"
#include "core/half.h"

namespace mmgen {
namespace {

constexpr int kQK = 32;    // elements per block of the Q4/Q5/Q8 types
constexpr int kQKK = 256;  // elements per K-quant super-block

float load_f16(const uint8_t* p) {
  uint16_t h;
  std::memcpy(&h, p, 2);
  return f16_to_f32(h);
}

void store_f16(uint8_t* p, float value) {
  const uint16_t h = f32_to_f16(value);
  std::memcpy(p, &h, 2);
}

// (int)(value) with the reference's truncation, clamped first so that NaN or
// out-of-range input stays defined behaviour.
int truncate_clamped(float value, int lo, int hi) {
  if (!(value >= static_cast<float>(lo))) return lo;  // also NaN
  if (value >= static_cast<float>(hi)) return hi;
  return static_cast<int>(value);
}

// ---- Q4_0: f16 d, 16 bytes of nibbles; element j in the low nibble of qs[j],
// element j+16 in the high nibble; value = (q - 8) * d.
void dequantize_q4_0(const uint8_t* x, float* y, int64_t blocks) {
  for (int64_t i = 0; i < blocks; ++i, x += 18, y += kQK) {
    const float d = load_f16(x);
    const uint8_t* qs = x + 2;
    for (int j = 0; j < kQK / 2; ++j) {
      y[j] = static_cast<float>((qs[j] & 0x0f) - 8) * d;
      y[j + kQK / 2] = static_cast<float>((qs[j] >> 4) - 8) * d;
    }
  }
}

void quantize_q4_0(const float* x, uint8_t* y, int64_t blocks) {
  for (int64_t i = 0; i < blocks; ++i, x += kQK, y += 18) {
    float amax = 0.0f, max = 0.0f;  // the value of largest magnitude, with its sign
    for (int j = 0; j < kQK; ++j) {
      if (amax < std::fabs(x[j])) {
        amax = std::fabs(x[j]);
        max = x[j];
      }
    }
    const float d = max / -8;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    store_f16(y, d);
    for (int j = 0; j < kQK / 2; ++j) {
      const int q0 = std::min(15, truncate_clamped(x[j] * id + 8.5f, 0, 127));
      const int q1 = std::min(15, truncate_clamped(x[j + kQK / 2] * id + 8.5f, 0, 127));
      y[2 + j] = static_cast<uint8_t>(q0 | (q1 << 4));
    }
  }
}

// ---- Q4_1: f16 d, f16 m, 16 bytes of nibbles; value = q * d + m.
void dequantize_q4_1(const uint8_t* x, float* y, int64_t blocks) {
  for (int64_t i = 0; i < blocks; ++i, x += 20, y += kQK) {
    const float d = load_f16(x);
    const float m = load_f16(x + 2);
    const uint8_t* qs = x + 4;
    for (int j = 0; j < kQK / 2; ++j) {
      y[j] = static_cast<float>(qs[j] & 0x0f) * d + m;
      y[j + kQK / 2] = static_cast<float>(qs[j] >> 4) * d + m;
    }
  }
}

void min_max(const float* x, int n, float* min, float* max) {
  *min = INFINITY;
  *max = -INFINITY;
  for (int j = 0; j < n; ++j) {
    if (x[j] < *min) *min = x[j];
    if (x[j] > *max) *max = x[j];
  }
}

void quantize_q4_1(const float* x, uint8_t* y, int64_t blocks) {
  for (int64_t i = 0; i < blocks; ++i, x += kQK, y += 20) {
    float min, max;
    min_max(x, kQK, &min, &max);
    const float d = (max - min) / 15;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    store_f16(y, d);
    store_f16(y + 2, min);
    for (int j = 0; j < kQK / 2; ++j) {
      const int q0 = std::min(15, truncate_clamped((x[j] - min) * id + 0.5f, 0, 127));
      const int q1 = std::min(15, truncate_clamped((x[j + kQK / 2] - min) * id + 0.5f, 0, 127));
      y[4 + j] = static_cast<uint8_t>(q0 | (q1 << 4));
    }
  }
}

// ---- Q5_0: f16 d, u32 qh (bit j = 5th bit of element j), 16 bytes of low nibbles;
// value = (q - 16) * d.
void dequantize_q5_0(const uint8_t* x, float* y, int64_t blocks) {
  for (int64_t i = 0; i < blocks; ++i, x += 22, y += kQK) {
    const float d = load_f16(x);
    uint32_t qh;
    std::memcpy(&qh, x + 2, 4);
    const uint8_t* qs = x + 6;
    for (int j = 0; j < kQK / 2; ++j) {
      const int h0 = static_cast<int>((qh >> j) & 1u) << 4;
      const int h1 = static_cast<int>((qh >> (j + kQK / 2)) & 1u) << 4;
      y[j] = static_cast<float>(((qs[j] & 0x0f) | h0) - 16) * d;
      y[j + kQK / 2] = static_cast<float>(((qs[j] >> 4) | h1) - 16) * d;
    }
  }
}

void quantize_q5_0(const float* x, uint8_t* y, int64_t blocks) {
  for (int64_t i = 0; i < blocks; ++i, x += kQK, y += 22) {
    float amax = 0.0f, max = 0.0f;
    for (int j = 0; j < kQK; ++j) {
      if (amax < std::fabs(x[j])) {
        amax = std::fabs(x[j]);
        max = x[j];
      }
    }
    const float d = max / -16;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    store_f16(y, d);
    uint32_t qh = 0;
    for (int j = 0; j < kQK / 2; ++j) {
      const int q0 = std::min(31, truncate_clamped(x[j] * id + 16.5f, 0, 127));
      const int q1 = std::min(31, truncate_clamped(x[j + kQK / 2] * id + 16.5f, 0, 127));
      y[6 + j] = static_cast<uint8_t>((q0 & 0x0f) | ((q1 & 0x0f) << 4));
      qh |= static_cast<uint32_t>((q0 >> 4) & 1) << j;
      qh |= static_cast<uint32_t>((q1 >> 4) & 1) << (j + kQK / 2);
    }
    std::memcpy(y + 2, &qh, 4);
  }
}

// ---- Q5_1: f16 d, f16 m, u32 qh, 16 bytes of low nibbles; value = q * d + m.
void dequantize_q5_1(const uint8_t* x, float* y, int64_t blocks) {
  for (int64_t i = 0; i < blocks; ++i, x += 24, y += kQK) {
    const float d = load_f16(x);
    const float m = load_f16(x + 2);
    uint32_t qh;
    std::memcpy(&qh, x + 4, 4);
    const uint8_t* qs = x + 8;
    for (int j = 0; j < kQK / 2; ++j) {
      const int h0 = static_cast<int>((qh >> j) & 1u) << 4;
      const int h1 = static_cast<int>((qh >> (j + kQK / 2)) & 1u) << 4;
      y[j] = static_cast<float>((qs[j] & 0x0f) | h0) * d + m;
      y[j + kQK / 2] = static_cast<float>((qs[j] >> 4) | h1) * d + m;
    }
  }
}

void quantize_q5_1(const float* x, uint8_t* y, int64_t blocks) {
  for (int64_t i = 0; i < blocks; ++i, x += kQK, y += 24) {
    float min, max;
    min_max(x, kQK, &min, &max);
    const float d = (max - min) / 31;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    store_f16(y, d);
    store_f16(y + 2, min);
    uint32_t qh = 0;
    for (int j = 0; j < kQK / 2; ++j) {
      // The reference keeps the low 8 bits of the truncated value; it is 0..31 for finite input.
      const int q0 = truncate_clamped((x[j] - min) * id + 0.5f, 0, 255) & 0xff;
      const int q1 = truncate_clamped((x[j + kQK / 2] - min) * id + 0.5f, 0, 255) & 0xff;
      y[8 + j] = static_cast<uint8_t>((q0 & 0x0f) | ((q1 & 0x0f) << 4));
      qh |= static_cast<uint32_t>((q0 >> 4) & 1) << j;
      qh |= static_cast<uint32_t>((q1 >> 4) & 1) << (j + kQK / 2);
    }
    std::memcpy(y + 4, &qh, 4);
  }
}

// ---- Q8_0: f16 d, 32 int8 values; value = q * d.
void dequantize_q8_0(const uint8_t* x, float* y, int64_t blocks) {
  for (int64_t i = 0; i < blocks; ++i, x += 34, y += kQK) {
    const float d = load_f16(x);
    for (int j = 0; j < kQK; ++j) y[j] = static_cast<float>(static_cast<int8_t>(x[2 + j])) * d;
  }
}

void quantize_q8_0(const float* x, uint8_t* y, int64_t blocks) {
  for (int64_t i = 0; i < blocks; ++i, x += kQK, y += 34) {
    float amax = 0.0f;
    for (int j = 0; j < kQK; ++j) amax = std::max(amax, std::fabs(x[j]));
    const float d = amax / 127;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    store_f16(y, d);
    for (int j = 0; j < kQK; ++j) {
      const float r = std::round(x[j] * id);
      const int q = r != r ? 0 : static_cast<int>(std::clamp(r, -128.0f, 127.0f));
      y[2 + j] = static_cast<uint8_t>(static_cast<int8_t>(q));
    }
  }
}

// ---- Q2_K (84 bytes): scales[16] (low nibble scale, high nibble min), qs[64]
// (2-bit values), f16 d, f16 dmin. 16 groups of 16 elements.
void dequantize_q2_k(const uint8_t* x, float* y, int64_t blocks) {
  for (int64_t i = 0; i < blocks; ++i, x += 84) {
    const uint8_t* scales = x;
    const uint8_t* q = x + 16;
    const float d = load_f16(x + 80);
    const float dmin = load_f16(x + 82);
    int is = 0;
    for (int n = 0; n < kQKK; n += 128) {
      for (int shift = 0; shift < 8; shift += 2) {
        for (int half = 0; half < 2; ++half) {
          const uint8_t sc = scales[is++];
          const float dl = d * static_cast<float>(sc & 0x0f);
          const float ml = dmin * static_cast<float>(sc >> 4);
          for (int l = 0; l < 16; ++l)
            *y++ = dl * static_cast<float>((q[l + 16 * half] >> shift) & 3) - ml;
        }
      }
      q += 32;
    }
  }
}

// ---- Q3_K (110 bytes): hmask[32] (high bit), qs[64] (low 2 bits), scales[12]
// (sixteen 6-bit scales, offset by 32), f16 d. Value = d * (scale - 32) * (q - 4 * !high).
void unpack_q3_k_scales(const uint8_t* packed, int8_t* scales) {
  for (int j = 0; j < 16; ++j) {
    const int low = j < 8 ? packed[j] & 0x0f : packed[j - 8] >> 4;
    const int high = (packed[8 + j % 4] >> (2 * (j / 4))) & 3;
    scales[j] = static_cast<int8_t>((low | (high << 4)) - 32);
  }
}

void dequantize_q3_k(const uint8_t* x, float* y, int64_t blocks) {
  for (int64_t i = 0; i < blocks; ++i, x += 110) {
    const uint8_t* hmask = x;
    const uint8_t* q = x + 32;
    int8_t scales[16];
    unpack_q3_k_scales(x + 96, scales);
    const float d = load_f16(x + 108);
    int is = 0;
    uint8_t m = 1;
    for (int n = 0; n < kQKK; n += 128) {
      for (int shift = 0; shift < 8; shift += 2, m = static_cast<uint8_t>(m << 1)) {
        for (int half = 0; half < 2; ++half) {
          const float dl = d * static_cast<float>(scales[is++]);
          for (int l = 16 * half; l < 16 * half + 16; ++l) {
            const int value = ((q[l] >> shift) & 3) - ((hmask[l] & m) ? 0 : 4);
            *y++ = dl * static_cast<float>(value);
          }
        }
      }
      q += 32;
    }
  }
}

// 6-bit scale and min j of the 12 packed bytes of Q4_K / Q5_K.
void scale_min_k4(int j, const uint8_t* q, uint8_t* scale, uint8_t* min) {
  if (j < 4) {
    *scale = q[j] & 63;
    *min = q[j + 4] & 63;
  } else {
    *scale = static_cast<uint8_t>((q[j + 4] & 0x0f) | ((q[j - 4] >> 6) << 4));
    *min = static_cast<uint8_t>((q[j + 4] >> 4) | ((q[j] >> 6) << 4));
  }
}

// ---- Q4_K (144 bytes): f16 d, f16 dmin, scales[12], qs[128]; 8 groups of 32.
void dequantize_q4_k(const uint8_t* x, float* y, int64_t blocks) {
  for (int64_t i = 0; i < blocks; ++i, x += 144) {
    const float d = load_f16(x);
    const float dmin = load_f16(x + 2);
    const uint8_t* scales = x + 4;
    const uint8_t* q = x + 16;
    for (int j = 0, is = 0; j < kQKK; j += 64, is += 2, q += 32) {
      uint8_t sc, mn;
      scale_min_k4(is, scales, &sc, &mn);
      const float d1 = d * sc, m1 = dmin * mn;
      scale_min_k4(is + 1, scales, &sc, &mn);
      const float d2 = d * sc, m2 = dmin * mn;
      for (int l = 0; l < 32; ++l) *y++ = d1 * static_cast<float>(q[l] & 0x0f) - m1;
      for (int l = 0; l < 32; ++l) *y++ = d2 * static_cast<float>(q[l] >> 4) - m2;
    }
  }
}

// ---- Q5_K (176 bytes): f16 d, f16 dmin, scales[12], qh[32], qs[128].
void dequantize_q5_k(const uint8_t* x, float* y, int64_t blocks) {
  for (int64_t i = 0; i < blocks; ++i, x += 176) {
    const float d = load_f16(x);
    const float dmin = load_f16(x + 2);
    const uint8_t* scales = x + 4;
    const uint8_t* qh = x + 16;
    const uint8_t* ql = x + 48;
    uint8_t u1 = 1, u2 = 2;
    for (int j = 0, is = 0; j < kQKK; j += 64, is += 2, ql += 32) {
      uint8_t sc, mn;
      scale_min_k4(is, scales, &sc, &mn);
      const float d1 = d * sc, m1 = dmin * mn;
      scale_min_k4(is + 1, scales, &sc, &mn);
      const float d2 = d * sc, m2 = dmin * mn;
      for (int l = 0; l < 32; ++l)
        *y++ = d1 * static_cast<float>((ql[l] & 0x0f) + ((qh[l] & u1) ? 16 : 0)) - m1;
      for (int l = 0; l < 32; ++l)
        *y++ = d2 * static_cast<float>((ql[l] >> 4) + ((qh[l] & u2) ? 16 : 0)) - m2;
      u1 = static_cast<uint8_t>(u1 << 2);
      u2 = static_cast<uint8_t>(u2 << 2);
    }
  }
}

// ---- Q6_K (210 bytes): ql[128] (low 4 bits), qh[64] (high 2 bits), int8 scales[16],
// f16 d; value = d * scale * (q - 32).
void dequantize_q6_k(const uint8_t* x, float* y, int64_t blocks) {
  for (int64_t i = 0; i < blocks; ++i, x += 210) {
    const uint8_t* ql = x;
    const uint8_t* qh = x + 128;
    const auto* sc = reinterpret_cast<const int8_t*>(x + 192);
    const float d = load_f16(x + 208);
    for (int n = 0; n < kQKK; n += 128, y += 128, ql += 64, qh += 32, sc += 8) {
      for (int l = 0; l < 32; ++l) {
        const int is = l / 16;
        const int q1 = ((ql[l] & 0x0f) | (((qh[l] >> 0) & 3) << 4)) - 32;
        const int q2 = ((ql[l + 32] & 0x0f) | (((qh[l] >> 2) & 3) << 4)) - 32;
        const int q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
        const int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
        y[l] = d * static_cast<float>(sc[is]) * static_cast<float>(q1);
        y[l + 32] = d * static_cast<float>(sc[is + 2]) * static_cast<float>(q2);
        y[l + 64] = d * static_cast<float>(sc[is + 4]) * static_cast<float>(q3);
        y[l + 96] = d * static_cast<float>(sc[is + 6]) * static_cast<float>(q4);
      }
    }
  }
}

// ---- Q8_K (292 bytes): f32 d, int8 qs[256], int16 bsums[16] (sums, unused here).
void dequantize_q8_k(const uint8_t* x, float* y, int64_t blocks) {
  for (int64_t i = 0; i < blocks; ++i, x += 292, y += kQKK) {
    float d;
    std::memcpy(&d, x, 4);
    for (int j = 0; j < kQKK; ++j) y[j] = d * static_cast<float>(static_cast<int8_t>(x[4 + j]));
  }
}

int64_t whole_blocks(DType type, int64_t n, const char* what) {
  MMGEN_CHECK(is_quantized(type), what, ": ", dtype_name(type), " is not a quantised type");
  MMGEN_CHECK(n >= 0 && n % block_size(type) == 0, what, ": ", n, " elements are not whole ",
              dtype_name(type), " blocks of ", block_size(type));
  return n / block_size(type);
}

}  // namespace

void dequantize_row(DType type, const void* src, float* dst, int64_t n) {
  const int64_t blocks = whole_blocks(type, n, "dequantize");
  const auto* x = static_cast<const uint8_t*>(src);
  switch (type) {
    case DType::kQ4_0:
      return dequantize_q4_0(x, dst, blocks);
    case DType::kQ4_1:
      return dequantize_q4_1(x, dst, blocks);
    case DType::kQ5_0:
      return dequantize_q5_0(x, dst, blocks);
    case DType::kQ5_1:
      return dequantize_q5_1(x, dst, blocks);
    case DType::kQ8_0:
      return dequantize_q8_0(x, dst, blocks);
    case DType::kQ2_K:
      return dequantize_q2_k(x, dst, blocks);
    case DType::kQ3_K:
      return dequantize_q3_k(x, dst, blocks);
    case DType::kQ4_K:
      return dequantize_q4_k(x, dst, blocks);
    case DType::kQ5_K:
      return dequantize_q5_k(x, dst, blocks);
    case DType::kQ6_K:
      return dequantize_q6_k(x, dst, blocks);
    case DType::kQ8_K:
      return dequantize_q8_k(x, dst, blocks);
    default:
      fail("dequantize: no dequantiser for ", dtype_name(type));
  }
}

void quantize_row(DType type, const float* src, void* dst, int64_t n) {
  const int64_t blocks = whole_blocks(type, n, "quantize");
  auto* y = static_cast<uint8_t*>(dst);
  switch (type) {
    case DType::kQ4_0:
      return quantize_q4_0(src, y, blocks);
    case DType::kQ4_1:
      return quantize_q4_1(src, y, blocks);
    case DType::kQ5_0:
      return quantize_q5_0(src, y, blocks);
    case DType::kQ5_1:
      return quantize_q5_1(src, y, blocks);
    case DType::kQ8_0:
      return quantize_q8_0(src, y, blocks);
    default:
      fail("quantize: no quantiser for ", dtype_name(type),
           " (q4_0, q4_1, q5_0, q5_1 and q8_0 have one)");
  }
}

}  // namespace mmgen
