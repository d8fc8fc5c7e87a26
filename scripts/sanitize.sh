#!/usr/bin/env bash
# Builds and tests quipu under a sanitizer.
#   sanitize.sh asan   ASan+UBSan in build-asan/, all tests except labels `package` and
#                      `cli` and the Python server clients (server_py_*)
#   sanitize.sh tsan   TSan in build-tsan/: the threading tests (names with Concurrent,
#                      GroupCommit, Thread or Timer) of every library layer's test binary.
#                      The CLI and kill-drill binaries have none and are not built.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh

case "${1:-}" in
  # The Python clients of tests/server (server_py_*) run in the main test step;
  # under ASan the server's code is covered by quipu_server_tests, whose HTTP
  # cases need no Python, and the CI budget does not hold both. Likewise the
  # `cli` tests, which start the instrumented binary once or more per case
  # (about 7 s a case, 70 % of this step's test time): they run in the main
  # step, and the library code under them is covered here by its own tests.
  asan) dir=build-asan sanitize=address,undefined ctest_args=(-LE 'package|cli' -E '^server_py_') ;;
  tsan) dir=build-tsan sanitize=thread ctest_args=() ;;
  *) echo "usage: $0 asan|tsan" >&2; exit 2 ;;
esac

export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
export TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1:suppressions=$PWD/scripts/tsan.supp"

generator=()
[[ -f $dir/CMakeCache.txt ]] || generator=(-G Ninja)
# -O1 keeps sanitizer builds fast; no -DNDEBUG so assertions stay on. ASan
# builds carry no debug info (reports name functions; UBSan's carry file and
# line anyway), TSan's line tables (-g1) for its race reports.
debug=-g1
[[ $1 == asan ]] && debug=-g0
cmake -S . -B "$dir" "${generator[@]}" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 $debug" \
  -DQUIPU_SANITIZE="$sanitize" -DQUIPU_BUILD_BENCH=OFF

if [[ $1 == tsan ]]; then
  binaries=()
  for t in tests/*/; do
    layer=$(basename "$t")
    [[ $layer == cli || $layer == killdrill || $layer == package ]] && continue
    compgen -G "$t*.cc" >/dev/null && binaries+=("quipu_${layer}_tests")
  done
  cmake --build "$dir" -j "$(nproc)" --target "${binaries[@]}"
  for b in "${binaries[@]}"; do
    echo "== $b (threading tests)"
    "$dir/$b" --gtest_filter='*Concurrent*:*GroupCommit*:*Thread*:*Timer*' --gtest_brief=1
  done
  exit 0
fi

cmake --build "$dir" -j "$(nproc)"
ctest --test-dir "$dir" --output-on-failure -j2 "${ctest_args[@]}"
