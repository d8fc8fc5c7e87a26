#!/usr/bin/env bash
# Formats all C++ sources with clang-format (.clang-format at the repo root).
#   format.sh           rewrite files in place
#   format.sh --check   only report; non-zero exit if any file needs formatting
set -euo pipefail
cd "$(dirname "$0")/.."

mode=(-i)
[[ ${1:-} == --check ]] && mode=(--dry-run -Werror)

find include src tests bench fuzz -type f \( -name '*.h' -o -name '*.cc' \) -print0 |
  xargs -0 -r clang-format --style=file "${mode[@]}"
