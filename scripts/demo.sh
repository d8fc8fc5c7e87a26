#!/usr/bin/env bash
# Builds quipu and runs its demo into a new ./quipu-data/<UTC time>/ each run;
# arguments go to `quipu demo`. Then serves a new audit store there over HTTP
# for a few seconds (`quipu serve`, docs/server.md) and talks to it with curl.
# `quipu demo` never removes anything (it refuses a directory that already
# holds records), so every run gets its own directory: delete old runs under
# ./quipu-data when you are done with them.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! log=$(scripts/build.sh 2>&1); then  # quiet unless the build fails
  echo "$log" >&2
  exit 1
fi
dir="./quipu-data/$(date -u +%Y%m%dT%H%M%SZ)"
build/quipu demo --dir "$dir" "$@"

# --- the same store, over HTTP ------------------------------------------------
serve="$dir/serve"
mkdir -p "$serve"
echo
echo "== quipu serve: an audit store over HTTP/JSON (docs/server.md) =="
token=$(build/quipu token create --config "$serve/tokens.json" --grant emit,query --name demo \
  --json | sed -n 's/.*"token":"\([^"]*\)".*/\1/p')
build/quipu serve "$serve/store" --create --config "$serve/tokens.json" \
  --listen 127.0.0.1:0 >"$serve/serve.out" 2>"$serve/requests.log" &
pid=$!
trap 'kill -TERM $pid 2>/dev/null || true' EXIT
for _ in $(seq 100); do  # the server prints {"listening":"HOST:PORT"} once it accepts
  address=$(sed -n 's/.*"listening":"\([^"]*\)".*/\1/p' "$serve/serve.out")
  [[ -n $address ]] && break
  sleep 0.1
done
[[ -n ${address:-} ]] || { echo "quipu serve did not start; see $serve/requests.log" >&2; exit 1; }
url="http://$address"
call() {  # METHOD PATH [BODY]: prints the request and the answer
  echo "\$ curl -X $1 $url$2${3:+ -d '$3'}"
  curl -sS -X "$1" -H "Authorization: Bearer $token" -H 'Content-Type: application/json' \
    ${3:+-d "$3"} "$url$2"
}
for who in alice bob alice; do
  call POST /v1/events "{\"actor\":{\"type\":\"default_actor\",\"id\":\"$who\"},\"method\":\"door.open\",\"targets\":[{\"type\":\"default_target\",\"id\":\"door-7\",\"fields\":{\"name\":\"Back door\"}}]}"
done
call POST /v1/count '{"actor":{"type":"default_actor","field":"id","value":"alice"}}'
call POST /v1/query '{"targets":[{"type":"default_target","field":"id","value":"door-7"}],"limit":1}'
call GET /v1/root
call GET /v1/proof/inclusion/2
kill -TERM "$pid"
wait "$pid"
trap - EXIT
echo "(server stopped by SIGTERM after syncing; its request log: $serve/requests.log)"
