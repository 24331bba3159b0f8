#!/usr/bin/env bash
# Installs every Debian package mmgen needs to build, test and run (pocketsphinx
# only for the default voice's intelligibility test). Idempotent and
# non-interactive: packages already present are left alone, so the build and test
# commands call it every time.
set -euo pipefail

PACKAGES=(
  build-essential cmake ninja-build ccache pkg-config git
  libeigen3-dev nlohmann-json3-dev libcli11-dev zlib1g-dev libpcre2-dev libpng-dev
  libespeak-ng-dev espeak-ng-data libsamplerate0-dev
  libjpeg62-turbo-dev libwebp-dev
  libavformat-dev libavcodec-dev libswscale-dev libswresample-dev libavutil-dev ffmpeg
  catch2
  pocketsphinx pocketsphinx-en-us
)
# npm fetches the face models (scripts/fetch_face_models.sh); a Node.js install that
# brings its own npm needs no Debian package.
command -v npm >/dev/null 2>&1 || PACKAGES+=(npm)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if ((${#missing[@]})); then
  echo "mmgen setup: installing ${missing[*]}" >&2
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

"$(dirname "${BASH_SOURCE[0]}")/fetch_face_models.sh"
