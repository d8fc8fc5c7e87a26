#!/usr/bin/python3
"""A server with a retention policy applies it at start and every
--retain-every seconds: old segments go, the purge is logged, an inclusion
proof of a purged row answers 410 "purged", retained rows still prove, and
the store verifies after the server stops."""

import json
import time

import serverlib
from serverlib import make_event, run_quipu

SEGMENT = 64 << 10


class RetentionTest(serverlib.ServerTest):
    SERVER_ARGS = ("--segment-size", str(SEGMENT), "--retain-max-bytes", str(3 * SEGMENT),
                   "--retain-every", "1")

    def fill(self, count):
        body = "x" * 2000
        for start in range(0, count, 100):
            events = []
            for i in range(start, min(count, start + 100)):
                event = make_event(f"e{i}")
                event["content"] = body
                events.append(event)
            response = self.post("/v1/events:batch", serverlib.ndjson(events), self.admin,
                                 content_type="application/x-ndjson")
            self.assertEqual(response.status_code, 200, response.text)

    def wait_for_purge(self, timeout=15):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            response = self.get("/v1/proof/inclusion/1", self.admin)
            if response.status_code == 410:
                return response
            self.assertEqual(response.status_code, 200, response.text)
            time.sleep(0.2)
        self.fail("no purge within %s s; log: %s" % (timeout, self.server.log_tail()))

    def test_old_segments_go_and_their_rows_say_purged(self):
        self.fill(400)  # about 800 KiB: a dozen segments
        gone = self.wait_for_purge()
        self.assertEqual(gone.json()["error"]["code"], "purged", gone.text)
        last = json.loads(self.post("/v1/query", {"limit": 1, "order": "oldest_first"},
                                    self.admin).text)["hits"][0]["log_id"]
        self.assertGreater(last, 1)
        kept = self.get(f"/v1/proof/inclusion/{last}", self.admin)
        self.assertEqual(kept.status_code, 200, kept.text)
        self.assertEqual(self.get("/v1/proof/consistency?from=1", self.admin).status_code, 200)
        self.server.stop()
        log = self.server.log_tail(100000)
        self.assertIn('"event":"retain"', log)
        run_quipu("verify", self.store)


if __name__ == "__main__":
    serverlib.main()
