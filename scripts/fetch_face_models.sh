#!/usr/bin/env bash
# Fetches the face models (tiny face detector, 68-point landmark nets) and the sample
# pictures from the npm package @vladmandic/face-api (MIT licence) into
# third_party/face-api/ (git-ignored): `npm pack` of a pinned version, then the
# model/ and demo/ files and the licence are extracted. Idempotent: does nothing
# when the pinned version is already there. docs/vision.md describes the files.
set -euo pipefail

VERSION="1.7.15"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DEST="${MMGEN_FACE_API_DIR:-$ROOT/third_party/face-api}"
STAMP="$DEST/VERSION"

if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$VERSION" ]; then
  exit 0
fi
if ! command -v npm >/dev/null 2>&1; then
  echo "fetch_face_models: npm is not installed (Debian package npm); face models not fetched" >&2
  exit 0
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
echo "fetch_face_models: npm pack @vladmandic/face-api@$VERSION" >&2
if ! (cd "$work" && npm pack --silent "@vladmandic/face-api@$VERSION" >/dev/null 2>"$work/npm.log"); then
  echo "fetch_face_models: npm pack failed (is the npm registry reachable?):" >&2
  cat "$work/npm.log" >&2
  exit 0  # the build goes on; the face tests name the missing folder
fi
tar -xzf "$work/vladmandic-face-api-$VERSION.tgz" -C "$work" \
  package/LICENSE package/package.json package/model package/demo

mkdir -p "$DEST/model" "$DEST/samples"
for name in tiny_face_detector_model face_landmark_68_model face_landmark_68_tiny_model; do
  cp "$work/package/model/$name-weights_manifest.json" "$work/package/model/$name.bin" "$DEST/model/"
done
cp "$work"/package/demo/sample*.jpg "$DEST/samples/"
cp "$work/package/LICENSE" "$DEST/LICENSE"
cp "$work/package/LICENSE" "$DEST/model/LICENSE"
cp "$work/package/package.json" "$DEST/package.json"
echo "$VERSION" > "$STAMP"
echo "fetch_face_models: face models in $DEST" >&2
