#!/usr/bin/env bash
# Builds quipu and runs its demo against ./quipu-data; arguments go to `quipu demo`.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! log=$(scripts/build.sh 2>&1); then  # quiet unless the build fails
  echo "$log" >&2
  exit 1
fi
exec build/quipu demo --dir ./quipu-data "$@"
