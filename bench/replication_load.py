#!/usr/bin/python3
"""bench/replication_load.py — a replicated quipu group on etcd under load,
against a raw etcd transaction loop on the same cluster, in one run.

Usage: /usr/bin/python3 bench/replication_load.py [--smoke] [--seconds N] QUIPU_BIN

Starts 3 etcd members and 3 `quipu serve --etcd` nodes on 127.0.0.1 (the
test harness of tests/server/replicalib.py, without its proxies), then
measures, each for N seconds (default 5):
  raw_txn        a loop of etcd transactions shaped as the writer's commit
                 (compare head, put a batch key, put head), each value the
                 bytes of one 1000-event batch, one in flight at a time;
  raw_txn_zstd   the same with the bytes the writer sends for such a batch
                 (its records compressed: replication/batch.h);
  batch_cC       POST /v1/events:batch, 1000 events per request, C
                 connections (wrk, bench/http_load.lua), answered 200 once
                 committed by the group and durable on the writer;
  event_c1       POST /v1/events, one connection: the latency of one event;
  raw_put        etcd puts of one event's bytes, one at a time: etcd's own
                 latency beside it.
Prints one JSON line per run, a summary with the ratio of replicated durable
events/s to the raw loop's (1000 events per transaction), and a table.
--smoke: 1 s per run; exits 1 when a run failed. Exit 77: no etcd or wrk."""

import base64
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(SOURCE, "tests", "server"))


def parse_args(argv):
    seconds, smoke, quipu = 5.0, False, None
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg == "--smoke":
            smoke, seconds = True, 1.0
        elif arg == "--seconds":
            i += 1
            seconds = float(argv[i])
        elif arg in ("-h", "--help"):
            print(__doc__)
            sys.exit(0)
        else:
            quipu = arg
        i += 1
    if not quipu or not os.access(quipu, os.X_OK):
        print("usage: bench/replication_load.py [--smoke] [--seconds N] QUIPU_BIN",
              file=sys.stderr)
        sys.exit(2)
    return seconds, smoke, os.path.abspath(quipu)


SECONDS, SMOKE, QUIPU = parse_args(sys.argv[1:])
os.environ["QUIPU_BIN"] = QUIPU

import requests  # noqa: E402  (Debian's python3-requests)

import replicalib  # noqa: E402
import serverlib  # noqa: E402

if not replicalib.etcd_available() or shutil.which("wrk") is None:
    print("replication_load.py: needs /usr/bin/etcd and wrk (scripts/setup.sh); skipped")
    sys.exit(77)


def b64(data):
    return base64.b64encode(data).decode()


def percentile(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * p))] if values else 0.0


def raw_txn_loop(endpoint, value_bytes, seconds):
    """Transactions shaped as a commit: compare head, put batch + head."""
    session = requests.Session()
    value = b64(b"\x5a" * value_bytes)
    head_key = b64(b"/bench/raw/head")
    n, latencies = 0, []
    start = time.monotonic()
    while time.monotonic() - start < seconds:
        compare = ([{"key": head_key, "target": "CREATE", "result": "EQUAL",
                     "createRevision": "0"}] if n == 0 else
                   [{"key": head_key, "target": "VALUE", "result": "EQUAL",
                     "value": b64(str(n - 1).encode())}])
        body = {"compare": compare, "success": [
            {"requestPut": {"key": b64(b"/bench/raw/batch/%020d" % n), "value": value}},
            {"requestPut": {"key": head_key, "value": b64(str(n).encode())}}]}
        t = time.monotonic()
        answer = session.post(endpoint + "/v3/kv/txn", json=body, timeout=30)
        latencies.append(time.monotonic() - t)
        if not answer.ok or not answer.json().get("succeeded"):
            raise RuntimeError("raw txn failed: " + answer.text[:300])
        n += 1
    elapsed = time.monotonic() - start
    session.post(endpoint + "/v3/kv/deleterange",
                 json={"key": b64(b"/bench/raw/"), "range_end": b64(b"/bench/raw0")}, timeout=30)
    return {"run": "raw_txn", "value_bytes": value_bytes, "txn_per_s": n / elapsed,
            "events_per_s": 1000 * n / elapsed, "p50_ms": 1000 * percentile(latencies, 0.5),
            "p99_ms": 1000 * percentile(latencies, 0.99)}


def raw_put_loop(endpoint, value_bytes, seconds):
    session = requests.Session()
    value = b64(b"\x5a" * value_bytes)
    n, latencies = 0, []
    start = time.monotonic()
    while time.monotonic() - start < seconds:
        t = time.monotonic()
        answer = session.post(endpoint + "/v3/kv/put",
                              json={"key": b64(b"/bench/put/%d" % (n % 100)), "value": value},
                              timeout=30)
        latencies.append(time.monotonic() - t)
        if not answer.ok:
            raise RuntimeError("raw put failed: " + answer.text[:300])
        n += 1
    elapsed = time.monotonic() - start
    return {"run": "raw_put", "value_bytes": value_bytes, "req_per_s": n / elapsed,
            "p50_ms": 1000 * percentile(latencies, 0.5),
            "p99_ms": 1000 * percentile(latencies, 0.99)}


def wrk(label, mode, connections, url, token, seconds):
    env = dict(os.environ, QUIPU_WRK_MODE=mode, QUIPU_TOKEN=token, QUIPU_LABEL=label,
               QUIPU_BATCH_LINES="1000")
    out = subprocess.run(["wrk", "-t1", f"-c{connections}", f"-d{max(1, int(seconds))}s",
                          "--timeout", "30s", "--latency", "-s",
                          os.path.join(HERE, "http_load.lua"), url],
                         env=env, capture_output=True, text=True, timeout=seconds + 90)
    match = re.search(r"^RESULT (.*)$", out.stdout, re.M)
    if out.returncode != 0 or not match:
        raise RuntimeError(f"wrk failed for {label}:\n{out.stdout}\n{out.stderr}")
    result = json.loads(match.group(1))
    result["connections"] = connections
    return result


def metric(node, token, name):
    text = requests.get(node.url("/metrics"), headers=serverlib.auth(token), timeout=10).text
    match = re.search(r"^" + re.escape(name) + r" ([0-9.e+]+)$", text, re.M)
    return float(match.group(1)) if match else 0.0


def wait_applied(nodes, token, timeout=60):
    """Until every node applied the writer's head (the next run starts
    with no backlog)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        infos = [requests.get(n.url("/v1/cluster"), headers=serverlib.auth(token), timeout=5).json()
                 for n in nodes]
        head = max(i["head"] for i in infos)
        if all(i["applied"] == head for i in infos):
            return
        time.sleep(0.2)


def find_writer(nodes, token, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for node in nodes:
            try:
                info = requests.get(node.url("/v1/cluster"), headers=serverlib.auth(token),
                                    timeout=5).json()
            except requests.RequestException:
                continue
            if info.get("role") == "writer":
                return node
        time.sleep(0.1)
    raise RuntimeError("no writer within %d s" % timeout)


def main():
    work = tempfile.mkdtemp(prefix="quipu-replication-load-")
    etcd, nodes, results = None, [], []
    try:
        etcd = replicalib.EtcdCluster(3, dir=os.path.join(work, "etcd"))
        etcd.start()
        config = os.path.join(work, "tokens.json")
        token = serverlib.create_token(config, "emit,query,admin", name="bench")
        peer = os.path.join(work, "peer.token")
        with open(os.open(peer, os.O_WRONLY | os.O_CREAT, 0o600), "w") as f:
            f.write(token + "\n")
        for i, port in enumerate(replicalib.free_ports(3)):
            nodes.append(replicalib.QuipuNode(f"n{i + 1}", etcd.endpoints(), "bench", config, peer,
                                              port, os.path.join(work, f"s{i + 1}")))
            nodes[-1].start()
        writer = find_writer(nodes, token)
        # One warm-up run gives the bytes of a 1000-event batch: as records
        # in the log (the batch uncompressed) and as committed to etcd.
        before_bytes = metric(writer, token, "quipu_replica_batch_bytes_committed_total")
        before_head = metric(writer, token, "quipu_replica_head_lsn")
        wrk("warmup", "batch", 1, writer.url("/v1/events:batch"), token, 1)
        time.sleep(0.5)
        events = metric(writer, token, "quipu_replica_head_lsn") - before_head
        committed = metric(writer, token, "quipu_replica_batch_bytes_committed_total")
        sent_bytes = int(1000 * (committed - before_bytes) / max(events, 1))
        log_bytes = sum(os.path.getsize(os.path.join(writer.store_dir, f))
                        for f in os.listdir(writer.store_dir) if f.endswith(".qlog"))
        batch_bytes = int(1000 * log_bytes / max(events, 1))  # frames: 8 bytes a record
        record_bytes = max(1, batch_bytes // 1000)

        leader = etcd.endpoint(etcd.leader_index() or 0)
        results.append(raw_txn_loop(leader, batch_bytes, SECONDS))
        zstd = raw_txn_loop(leader, sent_bytes, SECONDS)
        zstd["run"] = "raw_txn_zstd"
        results.append(zstd)
        for c in ((4,) if SMOKE else (4, 16)):
            results.append(wrk(f"batch_c{c}", "batch", c, writer.url("/v1/events:batch"), token,
                               SECONDS))
        wait_applied(nodes, token)
        results.append(wrk("event_c1", "event", 1, writer.url("/v1/events"), token, SECONDS))
        results.append(raw_put_loop(leader, record_bytes, SECONDS))
        commits = metric(writer, token, "quipu_replica_batches_committed_total")
        commit_seconds = metric(writer, token, "quipu_replica_commit_seconds_total")
    finally:
        for node in nodes:
            node.stop()
        if etcd is not None:
            etcd.stop()
        shutil.rmtree(work, ignore_errors=True)

    for r in results:
        print(json.dumps(r))
    raw = next(r for r in results if r["run"] == "raw_txn")
    raw_zstd = next(r for r in results if r["run"] == "raw_txn_zstd")
    best = max(r["events_per_s"] for r in results if r["run"].startswith("batch_"))
    summary = {"summary": "replication_load", "batch_bytes": batch_bytes,
               "sent_bytes": sent_bytes, "raw_events_per_s": round(raw["events_per_s"]),
               "replicated_events_per_s": round(best),
               "ratio": round(best / raw["events_per_s"], 3) if raw["events_per_s"] else None,
               "ratio_to_sent_bytes": round(best / raw_zstd["events_per_s"], 3),
               "mean_commit_ms": round(1000 * commit_seconds / commits, 2) if commits else None}
    print(json.dumps(summary))
    print()
    print("| run | conns | events/s | p50 ms | p99 ms |")
    print("|---|--:|--:|--:|--:|")
    for r in results:
        rate = r.get("events_per_s", r.get("req_per_s", 0))
        print(f"| {r['run']} | {r.get('connections', 1)} | {rate:,.0f} | {r['p50_ms']:.2f} | "
              f"{r['p99_ms']:.2f} |")
    failed = any(r.get("errors", 0) or r.get("non_2xx", 0) for r in results)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
