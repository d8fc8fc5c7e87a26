#!/usr/bin/env bash
# Writes the seed corpus of fuzz/segment_fuzz.cc into fuzz/corpus/segment/:
# small logs made by `quipu ingest`, and damaged copies of them. Rerun it after
# a format change (the seeds must be what the current writer produces).
#   fuzz/make_corpus.sh [QUIPU_BINARY]     (default: build/quipu)
# Seed layout (see segment_fuzz.cc): a flags byte, then one segment; or flags
# 1, u16 LE length of the first segment, u16 LE base LSN of the second, both
# segments. Flag 2 asks the target to fix frame CRCs before writing.
set -euo pipefail
cd "$(dirname "$0")/.."
quipu=$(realpath "${1:-build/quipu}")
out=fuzz/corpus/segment
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

u16() {  # u16 VALUE: two bytes, little-endian
  printf "\\x$(printf %02x $(($1 & 255)))\\x$(printf %02x $(($1 >> 8)))"
}
one() {  # one NAME SEGMENT_FILE [FLAGS]
  { printf "\\x0${3:-0}"; cat "$2"; } >"$out/$1"
}
two() {  # two NAME FIRST_FILE SECOND_FILE [FLAGS]: the second's base LSN comes from its name
  local base
  base=$(basename "$3" .qlog)
  { printf "\\x0$((1 | ${4:-0}))"; u16 "$(stat -c %s "$2")"; u16 $((10#$base)); cat "$2" "$3"; } >"$out/$1"
}
poke() {  # poke FILE OFFSET BYTE_ESCAPE: overwrite one byte
  printf "$3" | dd of="$1" bs=1 seek="$2" conv=notrunc status=none
}
ingest() {  # ingest DIR SEGMENT_SIZE < lines
  "$quipu" ingest "$1" --durability os --segment-size "$2" >/dev/null
}

rm -rf "$out"
mkdir -p "$out"

# One segment: a few records, an empty one among them.
printf 'alpha\n\nbravo charlie\n{"k": 42}\n' | ingest "$tmp/small" 4096
seg=$tmp/small/00000000000000000001.qlog
one valid-small "$seg"

# A header and nothing else.
: | ingest "$tmp/empty" 4096
one valid-empty "$tmp/empty/00000000000000000001.qlog"

# Several small segments: the first two as a chain, and the last one alone.
seq 1 40 | sed 's/^/record-/' | ingest "$tmp/multi" 256
mapfile -t segs < <(ls "$tmp/multi"/*.qlog | sort)
two valid-two-segments "${segs[0]}" "${segs[1]}"
one valid-last-segment "${segs[-1]}"

# Damage: a torn tail, a flipped payload byte, a flipped length, an unborn
# (all-zero) header, a wrong magic, a gap in the chain.
size=$(stat -c %s "$seg")
head -c $((size - 3)) "$seg" >"$tmp/torn" && one torn-tail "$tmp/torn"
cp "$seg" "$tmp/flip" && poke "$tmp/flip" 42 '\xff' && one flipped-payload "$tmp/flip"
cp "$seg" "$tmp/len" && poke "$tmp/len" 39 '\x7f' && one huge-length "$tmp/len"
head -c 32 /dev/zero >"$tmp/zero" && one unborn-header "$tmp/zero"
cp "$seg" "$tmp/magic" && poke "$tmp/magic" 0 'X' && one wrong-magic "$tmp/magic"
two chain-gap "${segs[0]}" "${segs[2]}"
cp "${segs[0]}" "$tmp/sealed" && poke "$tmp/sealed" 50 '\x00' && two damaged-sealed "$tmp/sealed" "${segs[1]}"

# The same logs with CRCs fixed by the target: mutations there reach past the CRC.
one fixcrc-small "$seg" 2
two fixcrc-two-segments "${segs[0]}" "${segs[1]}" 2

ls -l "$out"
