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

TileScope::TileScope() {
  static const TileConfig config = full_tiles();
  _tile_loadconfig(&config);
}

TileScope::~TileScope() { _tile_release(); }

#else

bool amx_bf16_available() { return false; }
TileScope::TileScope() = default;
TileScope::~TileScope() = default;

#endif

}  // namespace mmgen::kernels::cpu
