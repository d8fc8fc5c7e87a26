#!/usr/bin/env bash
# Builds quipu and runs its demo into a new ./quipu-data/<UTC time>/ each run;
# arguments go to `quipu demo`. `quipu demo` never removes anything (it refuses
# a directory that already holds records), so every run gets its own
# directory: delete old runs under ./quipu-data when you are done with them.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! log=$(scripts/build.sh 2>&1); then  # quiet unless the build fails
  echo "$log" >&2
  exit 1
fi
exec build/quipu demo --dir "./quipu-data/$(date -u +%Y%m%dT%H%M%SZ)" "$@"
