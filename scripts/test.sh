#!/usr/bin/env bash
# The whole test suite: installs what it needs, builds (CUDA compiled when nvcc
# exists; [cuda] tests run only where a GPU is present), runs every CTest test,
# then rebuilds the core with AddressSanitizer + UndefinedBehaviorSanitizer and
# runs the core tests (file readers and their corruption tests) under them.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
jobs="$(nproc)"

# Without a GPU, compile CUDA for one architecture only (sm_90): it proves every
# .cu file compiles and links while keeping the build short.
if ! { command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; }; then
  export MMGEN_CUDA_ARCHITECTURES="${MMGEN_CUDA_ARCHITECTURES:-90}"
fi

echo "== build (Release) =="
MMGEN_BUILD_DIR="$root/build" "$root/scripts/build.sh"
echo "== tests =="
(cd "$root/build" && ctest --output-on-failure -j "$jobs" --timeout 900)

echo "== sanitizer build (ASan + UBSan, core) =="
cmake -S "$root" -B "$root/build-sanitize" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DMMGEN_SANITIZE=ON -DMMGEN_CUDA=OFF -DMMGEN_BUILD_BENCHMARKS=OFF
cmake --build "$root/build-sanitize" --target mmgen_core_tests -j "$jobs"
echo "== tests under sanitizers =="
(cd "$root/build-sanitize" && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
  ctest --output-on-failure -j "$jobs" -L core --timeout 900)
