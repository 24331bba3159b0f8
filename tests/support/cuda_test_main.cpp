// Main of the [cuda] tests: without a CUDA device they are reported to CTest as
// skipped (exit code 77) with a clear line, never as passed.
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>
#include <cstdio>

#include "core/device.h"

int main(int argc, char** argv) {
  if (!mmgen::cuda_available()) {
    std::printf("SKIPPED: no CUDA device on this machine; the [cuda] tests did not run\n");
    return 77;
  }
  return Catch::Session().run(argc, argv);
}
