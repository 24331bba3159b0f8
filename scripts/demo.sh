#!/usr/bin/env bash
# The main job on a fresh machine: build, then text-to-image with the default model,
# shapes-sd (models/shapes-sd: the project's own small Stable Diffusion 1.x model of
# flat-shape scenes, 64x64). Pass a full-size checkpoint with
# MMGEN_MODEL=path/to/v1-5-pruned-emaonly.safetensors (and MMGEN_WIDTH/MMGEN_HEIGHT=512).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
"$root/scripts/build.sh" >/dev/null
size=()
[[ -n "${MMGEN_WIDTH:-}" ]] && size+=(-W "$MMGEN_WIDTH")
[[ -n "${MMGEN_HEIGHT:-}" ]] && size+=(-H "$MMGEN_HEIGHT")
mkdir -p "$root/out"
"$root/build/mmgen" txt2img -m "${MMGEN_MODEL:-shapes-sd}" \
  -p "${MMGEN_PROMPT:-a red circle above a blue square on a yellow background}" \
  "${size[@]}" --seed 42 \
  -o "$root/out/txt2img.png"
