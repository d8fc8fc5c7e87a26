#!/usr/bin/python3
"""Limits that keep one client from holding the rest: with
--max-queries-per-token 1 a token whose export is still streaming gets 429
for another query (another token does not, and the token is served again
once its export ends); --max-pending turns writers away with 503 and
Retry-After; --max-connections refuses the connection over the cap."""

import collections
import os
import socket
import threading
import time

import requests

import serverlib
from serverlib import NDJSON, create_token, make_event, ndjson

# Enough rows (about 11 MB) that an export the client does not read fills
# the socket buffers and stays open on the server: the client's receive
# buffer is kept small, the server's send buffer grows to 4 MiB at most.
BATCHES, PER_BATCH = 10, 1000


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
        export = self.open_export(reader)
        time.sleep(0.5)  # the server is now blocked writing to us
        r = self.post("/v1/query", {"limit": 1}, reader)
        self.assert_error(r, 429)
        self.assert_error(self.post("/v1/count", {}, reader), 429)
        # The cap is per token.
        self.assertEqual(self.post("/v1/query", {"limit": 1}, self.admin).status_code, 200)
        export.close()  # the server's next write fails and the export ends
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            r = self.post("/v1/query", {"limit": 1}, reader)
            if r.status_code == 200:
                break
            time.sleep(0.2)
        self.assertEqual(r.status_code, 200, r.text)
        self.assertEqual(self.count(), BATCHES * PER_BATCH)

    def open_export(self, token):
        """A raw export that reads only its first line. A small SO_RCVBUF set
        before connecting keeps Linux from growing the receive buffer (up to
        tcp_rmem's maximum, often 32 MiB), which would swallow the export."""
        sock = socket.socket()
        self.addCleanup(sock.close)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 32768)
        sock.settimeout(30)
        sock.connect(("127.0.0.1", self.server.port))
        sock.sendall((f"POST /v1/export HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n"
                      "Content-Type: application/json\r\nContent-Length: 2\r\n\r\n{}").encode())
        data = b""
        while b'"log_id":1,' not in data:
            chunk = sock.recv(4096)
            self.assertTrue(chunk, "the export ended before its first row")
            data += chunk
        self.assertTrue(data.startswith(b"HTTP/1.1 200"), data[:200])
        return sock


class BackpressureTest(serverlib.ServerTest):
    SERVER_ARGS = ("--max-pending", "1", "--durability", "always", "--max-connections", "8")

    def test_writers_over_max_pending_get_503_and_retry_after(self):
        answers = collections.Counter()
        acked = []
        bad = []

        def writer(w):
            with requests.Session() as session:
                for i in range(15):
                    r = session.post(self.server.url("/v1/events"), json=make_event(f"{w}-{i}"),
                                     headers=serverlib.auth(self.admin), timeout=10)
                    answers[r.status_code] += 1
                    if r.status_code == 200:
                        acked.append(f"/t/{w}-{i}")
                    elif r.status_code == 503:
                        if r.headers.get("Retry-After") != "1" or "error" not in r.json():
                            bad.append((r.headers, r.text))
                    else:
                        bad.append((r.status_code, r.text))

        threads = [threading.Thread(target=writer, args=(w,)) for w in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        self.assertEqual(bad, [])
        self.assertEqual(sorted(h["url"] for h in self.query_all()), sorted(acked))
        print(f"answers: {dict(answers)}")
        if not answers[503]:
            self.skipTest("the disk synced too fast for one pending ack to be exceeded")

    def test_connection_over_the_cap_is_refused(self):
        held = []
        for _ in range(8):
            sock = socket.create_connection(("127.0.0.1", self.server.port), timeout=5)
            self.addCleanup(sock.close)
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            self.assertEqual(serverlib.read_response(sock).status, 200)
            held.append(sock)
        extra = serverlib.raw_exchange(self.server.port,
                                       b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        if extra is not None:  # a refusal may also be a plain close
            self.assert_error(extra, 503)
        held.pop().close()
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            again = serverlib.raw_exchange(self.server.port,
                                           b"GET /healthz HTTP/1.1\r\nHost: x\r\n"
                                           b"Connection: close\r\n\r\n")
            if again is not None and again.status == 200:
                break
            time.sleep(0.1)
        self.assertEqual(again.status, 200)


class ListenTest(serverlib.ServerTest):

    def test_an_address_that_cannot_be_bound_creates_no_store(self):
        store = self.store + "-unbound"
        # 192.0.2.1 (TEST-NET-1) is on no interface of this machine.
        done = serverlib.run_quipu("serve", store, "--create", "--config", self.config,
                                   "--listen", "192.0.2.1:8080", check=False)
        self.assertEqual(done.returncode, 1, done.stderr)
        self.assertIn("listen on 192.0.2.1:8080", done.stderr)
        self.assertFalse(os.path.exists(store))


if __name__ == "__main__":
    serverlib.main()
