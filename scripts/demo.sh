#!/usr/bin/env bash
# The main job on a fresh machine: build, then text-to-image. The model is the
# tiny Stable Diffusion 1.x checkpoint of the golden fixtures (random weights:
# the picture is structured noise) until a trained default model ships; pass
# another checkpoint with MMGEN_MODEL=path/to/sd-v1-5.safetensors.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
"$root/scripts/build.sh" >/dev/null
golden="${MMGEN_GOLDEN_DIR:-$root/../shared/golden}"
model="${MMGEN_MODEL:-$golden/sd1/sd1_tiny.safetensors}"
mkdir -p "$root/out"
"$root/build/mmgen" txt2img -m "$model" \
  -p "a red circle above a blue square on a yellow background" \
  -W "${MMGEN_WIDTH:-256}" -H "${MMGEN_HEIGHT:-256}" --steps 20 --seed 42 \
  -o "$root/out/txt2img.png"
