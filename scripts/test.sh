#!/usr/bin/env bash
# The test command: builds quipu in build/ and runs every CTest test
# (unit, concurrency, bench smoke, package). Non-zero exit on any failure.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/build.sh "$@"
ctest --test-dir build --output-on-failure -j2
