#!/usr/bin/env bash
# Builds the libFuzzer target fuzz/segment_fuzz.cc with clang (ASan + UBSan)
# in build-fuzz/ and runs it.
#   fuzz.sh [SECONDS] [libFuzzer flags...]   fuzz for SECONDS (default 60), starting
#                                            from fuzz/corpus/segment
#   fuzz.sh --replay FILE...                 run each input once (e.g. fuzz/crashers/*)
# Findings land in build-fuzz/artifacts/; keep the ones that matter in fuzz/crashers/.
# The quipu sources are compiled here, not by CMake: the main build uses GCC,
# and libFuzzer needs clang. Objects are rebuilt when their .cc or any header
# is newer, so repeated runs are incremental.
set -euo pipefail
cd "$(dirname "$0")/.."

CXX=${FUZZ_CXX:-clang++}
out=build-fuzz
flags=(-std=c++20 -O1 -g -fno-omit-frame-pointer -Iinclude -Isrc
  -fsanitize=address,undefined -fno-sanitize-recover=undefined)
# Coverage instrumentation for everything the fuzzer should explore.
cov=(-fsanitize=fuzzer-no-link)

mkdir -p "$out/obj" "$out/artifacts" "$out/corpus/segment"
newest_header=$(find include src -name '*.h' -printf '%T@ %p\n' | sort -n | tail -1 | cut -d' ' -f2-)

compile() {  # compile SRC OBJ [extra flags]: only when out of date
  local src=$1 obj=$2
  shift 2
  if [[ ! -f $obj || $src -nt $obj || $newest_header -nt $obj ]]; then
    echo "compiling $src"
    "$CXX" "${flags[@]}" "$@" -c "$src" -o "$obj"
  fi
}

objs=()
pids=()
for src in src/util/*.cc src/io/*.cc src/log/*.cc fuzz/segment_fuzz.cc; do
  # The fuzzer uses the real Env, not the fault-injecting one, and reads
  # segments only (no RocksDB, which the index's Env adapter needs).
  [[ $src == src/io/fault_env.cc || $src == src/io/rocksdb_* ]] && continue
  obj=$out/obj/$(echo "${src%.cc}" | tr / _).o
  compile "$src" "$obj" "${cov[@]}" &
  pids+=($!)
  objs+=("$obj")
  # At most two compilers at a time: the machine is shared.
  if ((${#pids[@]} >= 2)); then
    wait "${pids[0]}"
    pids=("${pids[@]:1}")
  fi
done
for pid in "${pids[@]}"; do wait "$pid"; done
"$CXX" "${flags[@]}" -fsanitize=fuzzer "${objs[@]}" -o "$out/segment_fuzz" -lpthread

export ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=1:detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
limits=(-rss_limit_mb=512 -malloc_limit_mb=256 -timeout=10)

if [[ ${1:-} == --replay ]]; then
  shift
  exec "$out/segment_fuzz" "${limits[@]}" "$@"
fi

seconds=${1:-60}
shift || true
# New inputs go to the scratch corpus (first directory); the committed seeds
# are only read.
exec "$out/segment_fuzz" "${limits[@]}" -max_total_time="$seconds" -max_len=16384 \
  -artifact_prefix="$out/artifacts/" -print_final_stats=1 \
  "$out/corpus/segment" fuzz/corpus/segment "$@"
