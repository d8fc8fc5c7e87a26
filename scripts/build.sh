#!/usr/bin/env bash
# Configures (Ninja, RelWithDebInfo) and builds quipu in build/ at the repo root.
# Extra arguments are passed to the CMake configure step, e.g. -DQUIPU_WERROR=ON.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh

generator=()
[[ -f build/CMakeCache.txt ]] || generator=(-G Ninja)  # keep an existing build's generator
# Line tables only (-g1): enough for perf and backtraces, and a quarter less
# compile time than full debug info (measured on the Beast server sources).
cmake -S . -B build "${generator[@]}" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O2 -g1 -DNDEBUG" "$@"
cmake --build build -j "$(nproc)"
