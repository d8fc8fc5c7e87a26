#!/usr/bin/env bash
# bench/store_scale.sh — the audit store at scale: what one CLI call costs on
# a store of N events, and how big the store and its index get.
#
# Usage: bench/store_scale.sh [--events N] [--dir D] [--keep] [--smoke] QUIPU_BIN
#
# Builds (or reuses, if D/store holds N events) a store with the event shape
# of bench/event_bench (src/cli/bench_events.h): 64 users act on 1000
# documents in 10 folders, one user and two targets per event, fed as NDJSON
# to `quipu emit --stdin --durability os`. Then times, each 3 times
# (median), with its peak RSS:
#   open      quipu types DIR                       (read-only open, catalog)
#   query     quipu query --target document.title=Document 42 --limit 100
#   prefix    quipu query --target-prefix document.title=Document 4 --limit 100
#   history   quipu history DIR user u7
#   entities  quipu entities DIR document --limit 100
#   emit      quipu emit DIR --json ONE_EVENT       (writer open, fdatasync, close)
#   prove     quipu prove DIR --log-id N/2
#   reopen    quipu emit after the index was copied back to its state before
#             the last 10 000 events: the catch-up a crash costs
# and prints one JSON line per measurement and a table. Defaults: 1 000 000
# events in $TMPDIR. --smoke: 2 000 events, one run each (CTest, label bench).
set -euo pipefail

events=1000000
dir=
keep=0
runs=3
quipu=
while [ $# -gt 0 ]; do
  case "$1" in
    --events) events=$2; shift ;;
    --dir) dir=$2; shift ;;
    --keep) keep=1 ;;
    --smoke) events=2000; runs=1 ;;
    -h|--help) sed -n '2,22p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) quipu=$1 ;;
  esac
  shift
done
[ -n "$quipu" ] || { echo "usage: $0 [--events N] [--dir D] [--keep] [--smoke] QUIPU_BIN" >&2; exit 2; }
python=/usr/bin/python3
if [ -z "$dir" ]; then
  dir=$(mktemp -d "${TMPDIR:-/tmp}/quipu-scale-XXXXXX")
  [ "$keep" = 1 ] || trap 'rm -rf "$dir"' EXIT
fi
store=$dir/store
mkdir -p "$dir"

generate() {  # NDJSON events [$1, $2)
  "$python" - "$1" "$2" <<'EOF'
import sys
first, end = int(sys.argv[1]), int(sys.argv[2])
content = "c" * 96
out = sys.stdout
for i in range(first, end):
    t = i % 64
    doc = (t * 7919 + i // 64) % 1000
    folder = doc % 10
    out.write('{"actor":{"type":"user","id":"u%d","fields":{"name":"User %d"}},'
              '"method":"document.update","url":"/api/documents/d%d","content":"%s",'
              '"targets":[{"type":"document","id":"d%d","fields":{"title":"Document %d"}},'
              '{"type":"folder","id":"f%d","fields":{"name":"Folder %d"}}]}\n'
              % (t, t, doc, content, doc, doc, folder, folder))
EOF
}

count_events() { "$quipu" query "$store" --json --limit 1 2>/dev/null | head -n1 |
  "$python" -c 'import json,sys; l=sys.stdin.readline(); print(json.loads(l)["log_id"] if l.strip() else 0)'; }

have=0
[ -d "$store" ] && have=$(count_events || echo 0)
if [ "$have" -lt "$events" ]; then
  rm -rf "$store"
  for t in user:name document:title folder:name; do
    "$quipu" define-type "$store" --json \
      "{\"name\":\"${t%%:*}\",\"fields\":[{\"name\":\"${t##*:}\",\"kind\":\"text\",\"indexed\":true}]}" >/dev/null
  done
  start=$(date +%s.%N)
  generate 0 "$events" | /usr/bin/time -f '%M' -o "$dir/build.rss" \
    "$quipu" emit "$store" --stdin --durability os >/dev/null
  end=$(date +%s.%N)
  "$python" - "$events" "$start" "$end" "$(cat "$dir/build.rss")" "$(du -sk "$store" | cut -f1)" \
    "$(du -sk "$store/index" | cut -f1)" <<'EOF'
import json, sys
n, start, end, rss, total_kb, index_kb = sys.argv[1:]
secs = float(end) - float(start)
print(json.dumps({"measure": "build", "events": int(n), "seconds": round(secs, 1),
                  "events_per_s": round(int(n) / secs), "peak_rss_mib": round(int(rss) / 1024, 1),
                  "store_mib": round(int(total_kb) / 1024, 1),
                  "index_mib": round(int(index_kb) / 1024, 1)}))
EOF
fi

# measure NAME CMD...: median wall seconds and peak RSS over $runs runs.
results=()
measure() {
  local name=$1; shift
  local times=() rss=()
  for _ in $(seq "$runs"); do
    /usr/bin/time -f '%e %M' -o "$dir/time.out" "$@" >/dev/null 2>"$dir/stderr.out" ||
      { echo "$name failed:" >&2; cat "$dir/stderr.out" >&2; exit 1; }
    read -r t m <"$dir/time.out"
    times+=("$t"); rss+=("$m")
  done
  local line
  line=$("$python" - "$name" "$events" "${times[*]}" "${rss[*]}" <<'EOF'
import json, statistics, sys
name, n, times, rss = sys.argv[1:]
t = [float(x) for x in times.split()]
m = [int(x) for x in rss.split()]
print(json.dumps({"measure": name, "events": int(n), "median_ms": round(statistics.median(t) * 1000),
                  "max_rss_mib": round(max(m) / 1024, 1)}))
EOF
)
  echo "$line"
  results+=("$line")
}

one='{"actor":{"type":"user","id":"u1"},"method":"document.read","targets":[{"type":"document","id":"d42"}]}'
measure open "$quipu" types "$store"
measure query "$quipu" query "$store" --target "document.title=Document 42" --limit 100
measure prefix "$quipu" query "$store" --target-prefix "document.title=Document 4" --limit 100
measure history "$quipu" history "$store" user u7
measure entities "$quipu" entities "$store" document --limit 100
measure emit "$quipu" emit "$store" --json "$one"
measure prove "$quipu" prove "$store" --log-id $((events / 2))

# A crash's catch-up: the index as it was 10 000 events ago, then one emit.
behind=$(( events < 10000 ? events / 2 : 10000 ))
rm -rf "$dir/index-old"
cp -a "$store/index" "$dir/index-old"
generate 0 "$behind" | "$quipu" emit "$store" --stdin --durability os >/dev/null
runs_saved=$runs; runs=1
rm -rf "$store/index"; cp -a "$dir/index-old" "$store/index"
measure "catch-up-$behind" "$quipu" emit "$store" --json "$one"
runs=$runs_saved
rm -rf "$dir/index-old"

printf '\n%-18s %10s %12s\n' measure median_ms max_rss_mib
for r in "${results[@]}"; do
  "$python" -c 'import json,sys; r=json.loads(sys.argv[1]); print("%-18s %10d %12.1f" % (r["measure"], r["median_ms"], r["max_rss_mib"]))' "$r"
done
