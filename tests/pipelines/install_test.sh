#!/bin/sh
# Installs the build into a temporary prefix and builds examples/embed/embed.c against the
# installed libmmgen twice, as a user's project would: through pkg-config and through
# CMake's find_package(mmgen). Each program renders an image with the tiny SD model.
# usage: install_test.sh BUILD_DIR SOURCE_DIR SD_CHECKPOINT
set -eu
build=$1 src=$2 model=$3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
prefix="$tmp/prefix"
cmake --install "$build" --prefix "$prefix" >/dev/null
pc=$(find "$prefix" -name mmgen.pc | head -n 1)
[ -n "$pc" ] || { echo "install: no mmgen.pc under $prefix"; exit 1; }
def="$prefix/share/mmgen/pipelines/text-to-image.json"
[ -f "$def" ] || { echo "install: no $def"; exit 1; }

render() {  # render PROGRAM OUTDIR
  "$1" "$def" "$2" "model=$model" prompt=x width=64 height=64 steps=1 seed=3
  [ -s "$2/image.png" ] || { echo "$1: no image written"; exit 1; }
}

# pkg-config
export PKG_CONFIG_PATH="$(dirname "$pc")"
libdir=$(pkg-config --variable=libdir mmgen)
cc "$src/examples/embed/embed.c" $(pkg-config --cflags --libs mmgen) -Wl,-rpath,"$libdir" \
  -o "$tmp/embed_pkgconfig"
render "$tmp/embed_pkgconfig" "$tmp/out_pkgconfig"

# find_package(mmgen)
mkdir -p "$tmp/consumer"
cat >"$tmp/consumer/CMakeLists.txt" <<CMAKE
cmake_minimum_required(VERSION 3.20)
project(consumer C)
find_package(mmgen REQUIRED)
add_executable(embed "$src/examples/embed/embed.c")
target_link_libraries(embed PRIVATE mmgen::mmgen)
CMAKE
cmake -S "$tmp/consumer" -B "$tmp/consumer/build" -DCMAKE_PREFIX_PATH="$prefix" \
  -DCMAKE_BUILD_RPATH="$libdir" >/dev/null
cmake --build "$tmp/consumer/build" >/dev/null
render "$tmp/consumer/build/embed" "$tmp/out_cmake"
echo "installed libmmgen: pkg-config and find_package consumers both rendered an image"
