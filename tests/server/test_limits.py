#!/usr/bin/python3
"""Per-token limits: with --max-queries-per-token 1, a token whose export is
still streaming gets 429 for another query, another token does not, and the
token is served again once its export ends."""

import json
import time

import serverlib
from serverlib import NDJSON, create_token, make_event, ndjson

# Enough rows that an export the client does not read fills the socket
# buffers and stays open on the server.
BATCHES, PER_BATCH = 20, 1000


class QueryCapTest(serverlib.ServerTest):
    SERVER_ARGS = ("--max-queries-per-token", "1")

    def test_second_concurrent_query_is_429(self):
        reader = create_token(self.config, "query")
        self.server.stop()
        self.server.start()
        filler = "x" * 1000
        for b in range(BATCHES):
            events = [make_event(f"{b}-{i}", content=filler) for i in range(PER_BATCH)]
            r = self.post("/v1/events:batch", ndjson(events), self.admin, content_type=NDJSON,
                          timeout=60)
            self.assertEqual(r.status_code, 200, r.text[:300])
        export = self.post("/v1/export", {}, reader, stream=True, timeout=30)
        self.addCleanup(export.close)
        self.assertEqual(export.status_code, 200)
        first = next(export.iter_lines())
        self.assertEqual(json.loads(first)["log_id"], 1)
        time.sleep(0.5)  # the server is now blocked writing to us
        r = self.post("/v1/query", {"limit": 1}, reader)
        self.assert_error(r, 429)
        self.assert_error(self.post("/v1/count", {}, reader), 429)
        # The cap is per token.
        self.assertEqual(self.post("/v1/query", {"limit": 1}, self.admin).status_code, 200)
        export.close()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            r = self.post("/v1/query", {"limit": 1}, reader)
            if r.status_code == 200:
                break
            time.sleep(0.2)
        self.assertEqual(r.status_code, 200, r.text)
        self.assertEqual(self.count(), BATCHES * PER_BATCH)


if __name__ == "__main__":
    serverlib.main()
