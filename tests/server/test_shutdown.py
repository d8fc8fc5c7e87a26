#!/usr/bin/python3
"""SIGTERM while clients write: the server stops accepting, finishes what it
had taken on, exits 0, and every event it acknowledged with 200 is in the
store exactly once (read back by the CLI from the closed store)."""

import collections
import json
import threading
import time

import requests

import serverlib
from serverlib import make_event, run_quipu

WRITERS = 6


def cli_rows(store):
    """Every row of a closed store, through `quipu query --json`."""
    rows, cursor = [], None
    while True:
        args = ["query", store, "--json", "--oldest-first", "--limit", "10000"]
        if cursor:
            args += ["--cursor", cursor]
        lines = run_quipu(*args).stdout.splitlines()
        rows += [json.loads(x) for x in lines[:-1]]
        cursor = json.loads(lines[-1])["next_cursor"]
        if not cursor:
            return rows


class ShutdownTest(serverlib.ServerTest):

    def test_sigterm_under_load_loses_no_acknowledged_event(self):
        acked = collections.defaultdict(list)  # url -> log_ids answered 200
        stop = threading.Event()
        errors = []

        def writer(w):
            with requests.Session() as session:
                write(w, session)

        def write(w, session):
            i = 0
            while not stop.is_set():
                tag = f"w{w}-{i}"
                i += 1
                try:
                    r = session.post(self.server.url("/v1/events"), json=make_event(tag),
                                     headers=serverlib.auth(self.admin), timeout=10)
                except requests.RequestException:
                    # Refused or cut off by the shutdown: this writer is done.
                    return
                if r.status_code == 200:
                    acked["/t/" + tag].append(r.json()["log_id"])
                elif r.status_code != 503:
                    errors.append((r.status_code, r.text))
                    return

        threads = [threading.Thread(target=writer, args=(w,)) for w in range(WRITERS)]
        for t in threads:
            t.start()
        time.sleep(1.5)
        self.assertTrue(acked, "no event was acknowledged before SIGTERM")
        code = self.server.stop(timeout=20)
        stop.set()
        for t in threads:
            t.join(15)
        self.assertEqual(code, 0, self.server.log_tail())
        self.assertEqual(errors, [])

        rows = cli_rows(self.store)
        by_url = collections.Counter(row["url"] for row in rows)
        log_ids = {row["url"]: row["log_id"] for row in rows}
        for url, ids in acked.items():
            self.assertEqual(len(ids), 1)
            self.assertEqual(by_url[url], 1, url)
            self.assertEqual(log_ids[url], ids[0], url)
        # Rows nobody saw acknowledged may exist (cut off mid-answer), once each.
        self.assertEqual(max(by_url.values()), 1)
        print(f"{len(acked)} acknowledged, {len(rows)} in the store")

    def test_sigterm_when_idle_exits_0_and_the_port_is_freed(self):
        self.emit(make_event("idle"))
        port = self.server.port
        self.assertEqual(self.server.stop(), 0)
        with self.assertRaises(requests.ConnectionError):
            requests.get(f"http://127.0.0.1:{port}/healthz", timeout=5)
        self.assertEqual(len(cli_rows(self.store)), 1)

    def test_sigint_also_stops_cleanly(self):
        self.emit(make_event("int"))
        self.server.signal(serverlib.signal.SIGINT)
        self.assertEqual(self.server.proc.wait(20), 0)
        self.server.proc = None


if __name__ == "__main__":
    serverlib.main()
