-- bench/http_load.lua — the wrk side of bench/http_load.sh.
--
-- Environment:
--   QUIPU_WRK_MODE   get (default): plain GET of the URL given to wrk;
--                    event: POST one EVENT per request (durable ack);
--                    batch: POST QUIPU_BATCH_LINES events as NDJSON per request.
--   QUIPU_TOKEN      the bearer token (event, batch)
--   QUIPU_BATCH_LINES  events per batch (default 1000)
--   QUIPU_LABEL      names the run in the result line
--
-- When wrk is done this prints one line "RESULT {json}" with the figures the
-- shell script reports; wrk's own report goes to the same stdout.

local mode = os.getenv("QUIPU_WRK_MODE") or "get"
local token = os.getenv("QUIPU_TOKEN") or ""
local lines = tonumber(os.getenv("QUIPU_BATCH_LINES") or "1000")
local label = os.getenv("QUIPU_LABEL") or mode

-- Events differ only in their url; targets and actor repeat, so the store
-- pins existing versions as a steady workload does.
local function event(n)
  return string.format(
    '{"actor":{"type":"default_actor","id":"bench"},"method":"bench.write",' ..
    '"url":"/bench/%d","targets":[{"type":"default_target","id":"doc-%d"}],' ..
    '"content":"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"}', n, n % 1000)
end

if mode == "event" then
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
  wrk.headers["Authorization"] = "Bearer " .. token
  wrk.body = event(1)
elseif mode == "batch" then
  local parts = {}
  for i = 1, lines do
    parts[i] = event(i)
  end
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/x-ndjson"
  wrk.headers["Authorization"] = "Bearer " .. token
  wrk.body = table.concat(parts, "\n") .. "\n"
end

-- Per thread: how many events the server said it wrote (batch mode reads
-- the answers; the other modes count 2xx answers in done()).
written = 0
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

if mode == "batch" then
  function response(status, headers, body)
    if status == 200 then
      local w = body:match('"written":(%d+)')
      if w then written = written + tonumber(w) end
    end
  end
end

function done(summary, latency, requests)
  local seconds = summary.duration / 1e6
  local e = summary.errors
  local failed = e.status + e.connect + e.read + e.write + e.timeout
  local ok = summary.requests - e.status
  local events = 0
  if mode == "event" then
    events = ok
  elseif mode == "batch" then
    for _, thread in ipairs(threads) do
      events = events + thread:get("written")
    end
  end
  io.write(string.format(
    'RESULT {"run":"%s","mode":"%s","seconds":%.3f,"requests":%d,"errors":%d,' ..
    '"non_2xx":%d,"req_per_s":%.1f,"events_per_s":%.1f,"p50_ms":%.3f,"p99_ms":%.3f,' ..
    '"max_ms":%.3f}\n',
    label, mode, seconds, summary.requests, failed, e.status, summary.requests / seconds,
    events / seconds, latency:percentile(50) / 1e3, latency:percentile(99) / 1e3,
    latency.max / 1e3))
end
