// Intel AMX (Advanced Matrix Extensions): tile registers and bf16 tile products.
#pragma once

#include <cstdint>

// AMX kernels are compiled where the build targets AMX-TILE, AMX-BF16 and AVX512-BF16
// (for the f32 -> bf16 conversions) on Linux.
#if defined(__AMX_TILE__) && defined(__AMX_BF16__) && defined(__AVX512BF16__) && defined(__linux__)
#define MMGEN_HAVE_AMX 1
#else
#define MMGEN_HAVE_AMX 0
#endif

namespace mmgen::kernels::cpu {

// Whether bf16 tile products can run here: the build targets AMX (-march=native on a CPU
// that has it), the CPU reports AMX-TILE and AMX-BF16, and Linux granted this process
// the tile state (asked once, on the first call). MMGEN_AMX=0 answers false, for
// comparisons against the f32 kernels.
bool amx_bf16_available();

// The palette-1 configuration with every tile register as 16 rows of 64 bytes: 16 x 16
// f32 accumulators, or 16 rows of 32 bf16 (16 pairs) for the operands.
struct alignas(64) TileConfig {
  uint8_t palette = 1;
  uint8_t start_row = 0;
  uint8_t reserved[14] = {};
  uint16_t bytes_per_row[16] = {};
  uint8_t rows[16] = {};
};
static_assert(sizeof(TileConfig) == 64);

// Loads the 16 x 64-byte configuration for this thread on construction and releases the
// tile state on destruction (so idle threads do not carry 8 KiB of it across switches).
// Scopes nest: only the outermost one of a thread loads and releases.
// Runs `iterations` rounds of four independent 16 x 16 x 32 bf16 tile products on
// operands held in tile registers (what bounds a tile kernel: nothing is loaded) and
// returns the sum of the accumulators' first values (for the caller to keep). With
// amx_bf16_available() only; each round is 4 * 16 * 16 * 32 multiply-adds.
float tile_product_loop(int64_t iterations);

class TileScope {
 public:
  TileScope();
  ~TileScope();
  TileScope(const TileScope&) = delete;
  TileScope& operator=(const TileScope&) = delete;

 private:
  static thread_local int depth_;
};

}  // namespace mmgen::kernels::cpu
