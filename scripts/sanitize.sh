#!/usr/bin/env bash
# Builds and tests quipu under a sanitizer.
#   sanitize.sh asan   ASan+UBSan in build-asan/, all tests except label `package`
#   sanitize.sh tsan   TSan in build-tsan/, tests labelled `concurrency`
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh

case "${1:-}" in
  asan) dir=build-asan sanitize=address,undefined ctest_args=(-LE package) ;;
  tsan) dir=build-tsan sanitize=thread ctest_args=(-L concurrency) ;;
  *) echo "usage: $0 asan|tsan" >&2; exit 2 ;;
esac

export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
export TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1

generator=()
[[ -f $dir/CMakeCache.txt ]] || generator=(-G Ninja)
# -O1 keeps sanitizer builds fast; no -DNDEBUG so assertions stay on.
cmake -S . -B "$dir" "${generator[@]}" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g" \
  -DQUIPU_SANITIZE="$sanitize" -DQUIPU_BUILD_BENCH=OFF
cmake --build "$dir" -j "$(nproc)"
ctest --test-dir "$dir" --output-on-failure -j2 "${ctest_args[@]}"
