#!/usr/bin/env bash
# The main job on a fresh machine: build, inspect a Stable Diffusion checkpoint,
# and measure the kernels against this machine's peak FMA rate and bandwidth.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
"$root/scripts/build.sh" >/dev/null
golden="${MMGEN_GOLDEN_DIR:-$root/../shared/golden}"
"$root/build/mmgen" inspect --no-metadata "$golden/sd1/sd1_tiny.safetensors" | head -n 40
"$root/build/benchmarks/kernel_bench" --quick
