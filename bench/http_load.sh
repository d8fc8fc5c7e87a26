#!/usr/bin/env bash
# bench/http_load.sh — quipu serve under load, measured by wrk.
#
# Usage: bench/http_load.sh [--smoke] [--seconds N] [--threads N] QUIPU_BIN
#
# Starts `QUIPU_BIN serve` on 127.0.0.1:0 over a fresh store in $TMPDIR with
# one emit token, then runs wrk (bench/http_load.lua) against it:
#   GET  /healthz                  64 and 256 connections  (the HTTP floor)
#   POST /v1/events                64 and 256 connections  (one event, durable ack)
#   POST /v1/events:batch          4 and 16 connections    (1000-event NDJSON bodies)
# and, in the same run and directory, the disk's fdatasync latency (the
# write+fdatasync baseline of `quipu bench`). It prints one JSON line per
# run, a summary line with the ratio of durable events/s to healthz req/s
# at the same concurrency, and a table. About a minute; builds nothing.
#
# --smoke: 1 s per run, one concurrency each; exits 1 if a run had errors or
# no answers at all (registered in CTest, label bench). Exit 77: no wrk.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
seconds=5
wrk_threads=2
smoke=0
quipu=
while [ $# -gt 0 ]; do
  case "$1" in
    --smoke) smoke=1; seconds=1 ;;
    --seconds) seconds=$2; shift ;;
    --threads) wrk_threads=$2; shift ;;
    -h|--help) sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) echo "http_load.sh: unknown flag $1" >&2; exit 2 ;;
    *) quipu=$1 ;;
  esac
  shift
done
if [ -z "$quipu" ] || [ ! -x "$quipu" ]; then
  echo "usage: bench/http_load.sh [--smoke] [--seconds N] QUIPU_BIN" >&2
  exit 2
fi
if ! command -v wrk >/dev/null; then
  echo "http_load.sh: wrk is not installed (Debian: apt-get install wrk); skipped"
  exit 77
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/quipu-http-load.XXXXXX")
server_pid=
stop_server() {
  [ -n "$server_pid" ] || return 0
  kill -TERM "$server_pid" 2>/dev/null || true
  # SIGTERM finishes in-flight acks; give it 20 s, then SIGKILL.
  for _ in $(seq 200); do
    kill -0 "$server_pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL "$server_pid" 2>/dev/null || true
  wait "$server_pid" 2>/dev/null || true
  server_pid=
}
trap 'stop_server; rm -rf "$work"' EXIT
trap 'exit 130' INT TERM

token=$("$quipu" token create --config "$work/tokens.json" --grant emit --json |
        sed -n 's/.*"token":"\([^"]*\)".*/\1/p')
[ -n "$token" ] || { echo "http_load.sh: could not create a token" >&2; exit 1; }

# The fdatasync latency of this filesystem, measured before the load.
fsync_seconds=1
[ "$smoke" = 1 ] && fsync_seconds=0.2
fsync_line=$("$quipu" bench --durability always --seconds "$fsync_seconds" --baselines --json \
             --dir "$work/fsync" | grep '"config":"write+fdatasync"' | head -n 1)
rm -rf "$work/fsync"
fsync_p50_us=$(sed -n 's/.*"p50_us":\([0-9.]*\).*/\1/p' <<<"$fsync_line")
fsync_p99_us=$(sed -n 's/.*"p99_us":\([0-9.]*\).*/\1/p' <<<"$fsync_line")
fsync_per_s=$(sed -n 's/.*"appends_per_s":\([0-9.]*\).*/\1/p' <<<"$fsync_line")

"$quipu" serve "$work/store" --create --listen 127.0.0.1:0 --config "$work/tokens.json" \
  --durability group >"$work/stdout" 2>"$work/server.log" &
server_pid=$!
for _ in $(seq 200); do
  [ -s "$work/stdout" ] && break
  kill -0 "$server_pid" 2>/dev/null || break
  sleep 0.1
done
port=$(sed -n '1s/.*"listening":"[^"]*:\([0-9]*\)".*/\1/p' "$work/stdout")
if [ -z "$port" ]; then
  echo "http_load.sh: the server did not start; its log:" >&2
  tail -n 20 "$work/server.log" >&2
  exit 1
fi
base="http://127.0.0.1:$port"

results=()
# run LABEL MODE CONNECTIONS PATH
run() {
  local label=$1 mode=$2 conns=$3 path=$4 out line
  out=$(QUIPU_WRK_MODE=$mode QUIPU_TOKEN=$token QUIPU_LABEL=$label QUIPU_BATCH_LINES=1000 \
        timeout $((seconds + 60)) wrk -t"$wrk_threads" -c"$conns" -d"${seconds}s" \
        --timeout 30s --latency -s "$here/http_load.lua" "$base$path" 2>&1) || {
    echo "http_load.sh: wrk failed for $label:" >&2
    echo "$out" >&2
    exit 1
  }
  line=$(sed -n 's/^RESULT //p' <<<"$out")
  line=${line%\}},\"connections\":$conns\}
  echo "$line"
  results+=("$line")
}

field() {  # field NAME JSON_LINE
  sed -n "s/.*\"$1\":\"\{0,1\}\([^,\"}]*\).*/\1/p" <<<"$2"
}

if [ "$smoke" = 1 ]; then
  run healthz_c64 get 64 /healthz
  run events_c64 event 64 /v1/events
  run batch_c4 batch 4 /v1/events:batch
else
  run healthz_c64 get 64 /healthz
  run healthz_c256 get 256 /healthz
  run events_c64 event 64 /v1/events
  run events_c256 event 256 /v1/events
  run batch_c4 batch 4 /v1/events:batch
  run batch_c16 batch 16 /v1/events:batch
fi
stop_server

ratio() {  # events/s of $1 over req/s of $2, from the results
  local e h
  e=$(for r in "${results[@]}"; do [ "$(field run "$r")" = "$1" ] && field events_per_s "$r"; done)
  h=$(for r in "${results[@]}"; do [ "$(field run "$r")" = "$2" ] && field req_per_s "$r"; done)
  [ -n "$e" ] && [ -n "$h" ] && awk -v e="$e" -v h="$h" 'BEGIN { printf "%.4f", (h > 0 ? e / h : 0) }'
}
r64=$(ratio events_c64 healthz_c64 || true)
r256=$(ratio events_c256 healthz_c256 || true)
echo "{\"summary\":\"http_load\",\"fsync_p50_us\":${fsync_p50_us:-null},\"fsync_p99_us\":${fsync_p99_us:-null},\"fsyncs_per_s\":${fsync_per_s:-null},\"events_over_healthz_c64\":${r64:-null},\"events_over_healthz_c256\":${r256:-null}}"

echo
printf '| %-13s | %5s | %10s | %10s | %9s | %9s | %6s |\n' run conns req/s events/s "p50 ms" "p99 ms" errors
echo '|:--------------|------:|-----------:|-----------:|----------:|----------:|-------:|'
failed=0
for r in "${results[@]}"; do
  events=$(field events_per_s "$r")
  [ "$(field mode "$r")" = get ] && events=-
  printf '| %-13s | %5s | %10.0f | %10s | %9.2f | %9.2f | %6s |\n' "$(field run "$r")" \
    "$(field connections "$r")" "$(field req_per_s "$r")" "${events%.*}" \
    "$(field p50_ms "$r")" "$(field p99_ms "$r")" "$(field errors "$r")"
  if [ "$(field errors "$r")" != 0 ] || [ "$(field requests "$r")" = 0 ]; then failed=1; fi
done
echo
echo "fdatasync on this filesystem: p50 ${fsync_p50_us:-?} us, p99 ${fsync_p99_us:-?} us" \
     "(${fsync_per_s%.*}/s back to back)"
[ -n "$r64" ] && echo "durable events/s / healthz req/s: $r64 at 64 connections${r256:+, $r256 at 256}"
if [ "$failed" = 1 ]; then
  echo "http_load.sh: some runs had errors or no answers (server log: last lines below)" >&2
  tail -n 5 "$work/server.log" >&2 || true
  [ "$smoke" = 1 ] && exit 1
fi
exit 0
