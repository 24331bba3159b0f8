#!/usr/bin/env bash
# Configures and builds mmgen into build/ (Release). Installs the Debian packages
# first. Extra arguments go to CMake's configure step, e.g. -DMMGEN_CUDA=OFF.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
"$root/scripts/setup.sh"

build_dir="${MMGEN_BUILD_DIR:-$root/build}"
cuda_args=()
if [ -z "${MMGEN_CUDA_ARCHITECTURES:-}" ] && command -v nvidia-smi >/dev/null 2>&1 &&
   nvidia-smi -L >/dev/null 2>&1; then
  MMGEN_CUDA_ARCHITECTURES=native  # build only for the GPU that is here
fi
[ -n "${MMGEN_CUDA_ARCHITECTURES:-}" ] &&
  cuda_args+=("-DMMGEN_CUDA_ARCHITECTURES=$MMGEN_CUDA_ARCHITECTURES")

cmake -S "$root" -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=Release "${cuda_args[@]}" "$@"
cmake --build "$build_dir" -j "$(nproc)"
