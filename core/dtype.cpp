#include "core/dtype.h"

#include <array>

#include "core/error.h"

namespace mmgen {
namespace {

struct DTypeInfo {
  DType type;
  std::string_view name;
  int64_t block_size;
  size_t block_bytes;
};

// Block layouts follow ggml: QK4_0 = QK8_0 = 32 elements, QK_K = 256.
constexpr std::array kInfo = {
    DTypeInfo{DType::kBool, "bool", 1, 1},       DTypeInfo{DType::kU8, "u8", 1, 1},
    DTypeInfo{DType::kI8, "i8", 1, 1},           DTypeInfo{DType::kU16, "u16", 1, 2},
    DTypeInfo{DType::kI16, "i16", 1, 2},         DTypeInfo{DType::kU32, "u32", 1, 4},
    DTypeInfo{DType::kI32, "i32", 1, 4},         DTypeInfo{DType::kU64, "u64", 1, 8},
    DTypeInfo{DType::kI64, "i64", 1, 8},         DTypeInfo{DType::kF8E4M3, "f8_e4m3", 1, 1},
    DTypeInfo{DType::kF8E5M2, "f8_e5m2", 1, 1},  DTypeInfo{DType::kF16, "f16", 1, 2},
    DTypeInfo{DType::kBF16, "bf16", 1, 2},       DTypeInfo{DType::kF32, "f32", 1, 4},
    DTypeInfo{DType::kF64, "f64", 1, 8},         DTypeInfo{DType::kQ4_0, "q4_0", 32, 18},
    DTypeInfo{DType::kQ4_1, "q4_1", 32, 20},     DTypeInfo{DType::kQ5_0, "q5_0", 32, 22},
    DTypeInfo{DType::kQ5_1, "q5_1", 32, 24},     DTypeInfo{DType::kQ8_0, "q8_0", 32, 34},
    DTypeInfo{DType::kQ2_K, "q2_k", 256, 84},    DTypeInfo{DType::kQ3_K, "q3_k", 256, 110},
    DTypeInfo{DType::kQ4_K, "q4_k", 256, 144},   DTypeInfo{DType::kQ5_K, "q5_k", 256, 176},
    DTypeInfo{DType::kQ6_K, "q6_k", 256, 210},   DTypeInfo{DType::kQ8_K, "q8_k", 256, 292},
};

const DTypeInfo& info(DType t) {
  auto index = static_cast<size_t>(t);
  MMGEN_CHECK(index < kInfo.size() && kInfo[index].type == t, "invalid dtype value ", index);
  return kInfo[index];
}

}  // namespace

int64_t block_size(DType t) { return info(t).block_size; }
size_t block_bytes(DType t) { return info(t).block_bytes; }
bool is_quantized(DType t) { return info(t).block_size > 1; }
bool is_float(DType t) {
  switch (t) {
    case DType::kF8E4M3:
    case DType::kF8E5M2:
    case DType::kF16:
    case DType::kBF16:
    case DType::kF32:
    case DType::kF64:
      return true;
    default:
      return false;
  }
}

size_t bytes_for(DType t, int64_t n) {
  const auto& i = info(t);
  MMGEN_CHECK(n >= 0 && n % i.block_size == 0, n, " elements of ", i.name,
              " are not a whole number of blocks of ", i.block_size);
  return static_cast<size_t>(n / i.block_size) * i.block_bytes;
}

std::string_view dtype_name(DType t) { return info(t).name; }

std::optional<DType> dtype_from_name(std::string_view name) {
  for (const auto& i : kInfo)
    if (i.name == name) return i.type;
  return std::nullopt;
}

}  // namespace mmgen
