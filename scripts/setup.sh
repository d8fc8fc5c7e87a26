#!/usr/bin/env bash
# Installs every Debian package needed to build, test and benchmark quipu.
# Idempotent and silent when everything is already installed.
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config git python3
  libgtest-dev libgmock-dev libbenchmark-dev libcli11-dev nlohmann-json3-dev
  libssl-dev librocksdb-dev libsqlite3-dev clang libclang-rt-14-dev clang-format
  # bench/event_bench's PostgreSQL baseline: libpq to build it; at run time the
  # server binaries of postgresql-15 too (optional: skipped without them).
  libpq-dev
  # quipu serve: Boost.Beast/Asio 1.81 (named: Debian's default boost is 1.74),
  # prometheus-cpp; its tests' real clients: curl, python3-requests, promtool
  # (package prometheus; only the binary is used), openssl, and wrk for bench/.
  libboost1.81-dev prometheus-cpp-dev curl python3-requests prometheus openssl wrk
  # bench/store_scale.sh: wall time and peak memory of each CLI call.
  time
  # Replication (src/etcd, src/replication): its tests start real etcd members
  # (the binaries only; the packaged service is never started).
  etcd-server etcd-client
  # zstd compresses the record batches a replicated writer sends to etcd.
  libzstd-dev
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q '^install ok installed$' ||
    missing+=("$p")
done
[[ ${#missing[@]} -eq 0 ]] && exit 0

sudo=()
[[ $(id -u) -ne 0 ]] && sudo=(sudo)
echo "setup.sh: installing ${missing[*]}"
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
