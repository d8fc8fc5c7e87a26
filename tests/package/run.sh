#!/usr/bin/env bash
# Package test: installs the quipu build into a scratch prefix, then builds and
# runs tests/package/main.cc twice: via find_package(quipu) and via pkg-config.
# Usage: run.sh <build-dir> <source-dir>
set -euo pipefail
build=$1 src=$2
cmake=${CMAKE:-cmake} cxx=${CXX:-g++}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

"$cmake" --install "$build" --prefix "$tmp/prefix" >/dev/null

echo "== find_package(quipu)"
"$cmake" -S "$src/tests/package" -B "$tmp/consumer" -DCMAKE_PREFIX_PATH="$tmp/prefix" \
  -DCMAKE_CXX_COMPILER="$cxx" >/dev/null
"$cmake" --build "$tmp/consumer"
"$tmp/consumer/consumer"

echo "== pkg-config quipu"
pc=$(find "$tmp/prefix" -name quipu.pc)  # normally <prefix>/lib/pkgconfig/quipu.pc
PKG_CONFIG_PATH=$(dirname "$pc")
export PKG_CONFIG_PATH
# shellcheck disable=SC2046  # word splitting of pkg-config output is intended
"$cxx" -std=c++20 "$src/tests/package/main.cc" -o "$tmp/pc-consumer" \
  $(pkg-config --cflags --libs quipu)
"$tmp/pc-consumer"
echo "package_consumer: OK"
