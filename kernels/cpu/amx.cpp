#include "kernels/cpu/amx.h"

#include <cstdlib>
#include <string_view>

#if MMGEN_HAVE_AMX
#include <cpuid.h>
#include <immintrin.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif

namespace mmgen::kernels::cpu {

#if MMGEN_HAVE_AMX

namespace {

bool cpu_reports_amx_bf16() {
  unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
  if (!__get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx)) return false;
  constexpr unsigned kAmxBf16 = 1u << 22, kAmxTile = 1u << 24;
  return (edx & kAmxBf16) && (edx & kAmxTile);
}

// Linux keeps the 8 KiB tile state out of a process's signal frames until it asks.
bool os_grants_tile_state() {
  constexpr long kArchReqXcompPerm = 0x1023;
  constexpr long kXfeatureXtiledata = 18;
  return syscall(SYS_arch_prctl, kArchReqXcompPerm, kXfeatureXtiledata) == 0;
}

TileConfig full_tiles() {
  TileConfig config;
  for (int t = 0; t < 8; ++t) {
    config.bytes_per_row[t] = 64;
    config.rows[t] = 16;
  }
  return config;
}

}  // namespace

bool amx_bf16_available() {
  static const bool available = [] {
    const char* env = std::getenv("MMGEN_AMX");
    if (env != nullptr && std::string_view(env) == "0") return false;
    return cpu_reports_amx_bf16() && os_grants_tile_state();
  }();
  return available;
}

thread_local int TileScope::depth_ = 0;

TileScope::TileScope() {
  static const TileConfig config = full_tiles();
  if (depth_++ == 0) _tile_loadconfig(&config);
}

TileScope::~TileScope() {
  if (--depth_ == 0) _tile_release();
}

float tile_product_loop(int64_t iterations) {
  const TileScope tiles;
  alignas(64) static uint16_t operand[16 * 32];
  for (uint16_t& v : operand) v = 0x3f80;  // 1.0
  alignas(64) float first[4][16 * 16];
  _tile_zero(0);
  _tile_zero(1);
  _tile_zero(2);
  _tile_zero(3);
  _tile_loadd(4, operand, 64);
  _tile_loadd(5, operand, 64);
  _tile_loadd(6, operand, 64);
  _tile_loadd(7, operand, 64);
  for (int64_t i = 0; i < iterations; ++i) {
    _tile_dpbf16ps(0, 4, 6);
    _tile_dpbf16ps(1, 4, 7);
    _tile_dpbf16ps(2, 5, 6);
    _tile_dpbf16ps(3, 5, 7);
  }
  _tile_stored(0, first[0], 64);
  _tile_stored(1, first[1], 64);
  _tile_stored(2, first[2], 64);
  _tile_stored(3, first[3], 64);
  return first[0][0] + first[1][0] + first[2][0] + first[3][0];
}

#else

bool amx_bf16_available() { return false; }
thread_local int TileScope::depth_ = 0;
TileScope::TileScope() = default;
TileScope::~TileScope() = default;
float tile_product_loop(int64_t) { return 0.0f; }

#endif

}  // namespace mmgen::kernels::cpu
