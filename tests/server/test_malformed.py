#!/usr/bin/python3
"""Malformed and hostile requests each get their answer (or a closed
connection) and the server keeps serving: every test ends by checking
/healthz, and that nothing was written."""

import json
import socket
import threading
import time

import requests

import serverlib
from serverlib import JSON, NDJSON, make_event, ndjson, raw_exchange

MAX_BODY = 4096
READ_TIMEOUT = 2
IDLE_TIMEOUT = 3


class MalformedTest(serverlib.ServerTest):
    SERVER_ARGS = ("--max-body", str(MAX_BODY), "--max-batch", "5",
                   "--read-timeout", str(READ_TIMEOUT), "--idle-timeout", str(IDLE_TIMEOUT))

    def setUp(self):
        super().setUp()
        # An entity a confused router could reach through a path trick.
        self.emit(make_event("base", targets=[("default_target", "x")]))

    def tearDown(self):
        # Whatever a test sent, the server still answers and wrote nothing.
        self.assert_healthy()
        self.assertEqual(self.count(), 1)

    def raw(self, head, body=b"", **kwargs):
        """A raw request; `head` without the final blank line."""
        return raw_exchange(self.server.port, head.encode() + b"\r\n\r\n" + body, **kwargs)

    def raw_post(self, path, body, content_type=JSON, extra=""):
        head = (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                f"Authorization: Bearer {self.admin}\r\nContent-Type: {content_type}\r\n"
                f"Content-Length: {len(body)}\r\nConnection: close{extra}")
        return self.raw(head, body)

    def test_bad_json(self):
        for body in (b"{", b"{\"actor\":", b"[]", b"null", b"{} {}", b"\x00", b"",
                     b'{"actor":{"type":"default_actor","id":"a"},"method":"m","method":"n"}'):
            with self.subTest(body=body):
                r = self.post("/v1/events", body, self.admin, content_type=JSON)
                self.assert_error(r, 400, "invalid_argument")
        self.assert_error(self.post("/v1/query", b"{nope", self.admin, content_type=JSON), 400,
                          "invalid_argument")

    def test_invalid_utf8(self):
        for raw in (b"\xff", b"\xc3\x28", b"\xed\xa0\x80", b"\xe2\x82"):
            with self.subTest(raw=raw):
                body = b'{"actor":{"type":"default_actor","id":"x' + raw + b'"}}'
                r = self.post("/v1/events", body, self.admin, content_type=JSON)
                self.assert_error(r, 400, "invalid_argument")

    def test_wrong_content_type_is_415(self):
        event = json.dumps(make_event("ct")).encode()
        for content_type in ("text/plain", "application/x-www-form-urlencoded", NDJSON,
                             "application/jsonx"):
            with self.subTest(content_type=content_type):
                r = self.post("/v1/events", event, self.admin, content_type=content_type)
                self.assert_error(r, 415)
        r = self.post("/v1/events", event, self.admin)  # no Content-Type at all
        self.assert_error(r, 415)
        r = self.post("/v1/events:batch", event + b"\n", self.admin, content_type=JSON)
        self.assert_error(r, 415)
        r = self.post("/v1/query", b"{}", self.admin, content_type="text/json")
        self.assert_error(r, 415)

    def test_oversized_body_is_413(self):
        big = json.dumps(make_event("big", content="x" * (2 * MAX_BODY))).encode()
        response = self.raw_post("/v1/events", big)
        self.assertIsNotNone(response, "closed without an answer")
        self.assert_error(response, 413)
        # Announced too large, never sent: answered from Content-Length alone.
        head = (f"POST /v1/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {self.admin}\r\n"
                f"Content-Type: {JSON}\r\nContent-Length: {100 * MAX_BODY}")
        self.assert_error(self.raw(head, timeout=5), 413)

    def test_oversized_chunked_body_is_413(self):
        chunk = b"x" * 1024
        body = b"".join(b"400\r\n" + chunk + b"\r\n" for _ in range(2 * MAX_BODY // 1024))
        head = (f"POST /v1/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {self.admin}\r\n"
                f"Content-Type: {JSON}\r\nTransfer-Encoding: chunked")
        self.assert_error(self.raw(head, body + b"0\r\n\r\n"), 413)

    def test_batch_over_max_batch_is_413(self):
        r = self.post("/v1/events:batch", ndjson([make_event(f"m{i}") for i in range(6)]),
                      self.admin, content_type=NDJSON)
        self.assert_error(r, 413)

    def test_oversized_headers_are_431(self):
        r = self.get("/healthz", headers={"X-Filler": "a" * 20000})
        self.assert_error(r, 431)
        many = {f"X-H{i}": "b" * 100 for i in range(200)}
        self.assert_error(self.get("/v1/types", self.admin, headers=many), 431)

    def test_truncated_chunked_body(self):
        head = (f"POST /v1/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {self.admin}\r\n"
                f"Content-Type: {JSON}\r\nTransfer-Encoding: chunked")
        event = json.dumps(make_event("trunc")).encode()
        partial = f"{len(event):x}\r\n".encode() + event[:len(event) // 2]
        response = self.raw(head, partial, half_close=True, timeout=READ_TIMEOUT + 5)
        if response is not None:  # closing without an answer is right too
            self.assert_error(response, 400)
        # A chunk size that is not hex.
        response = self.raw(head, b"zz\r\n" + event + b"\r\n0\r\n\r\n", timeout=5)
        if response is not None:
            self.assert_error(response, 400)
        # Content-Length promising more than is sent before the client leaves.
        h2 = head.replace("Transfer-Encoding: chunked", f"Content-Length: {len(event) + 10}")
        response = self.raw(h2, event, half_close=True, timeout=READ_TIMEOUT + 5)
        if response is not None:
            self.assert_error(response, 400)

    def test_path_tricks_in_type(self):
        for path in ("/v1/entities/..", "/v1/entities/%2E%2E", "/v1/entities/%2e%2e/types",
                     "/v1/entities/default_target%2Fx/history", "/v1/entities/a%2Fb",
                     "/v1/entities/default_target%00", "/v1/entities/%00",
                     "/v1/entities/%zz", "/v1/entities/" + "a" * 5000,
                     "/v1/entities//history", "/v1/entities/default_target/x/history/..",
                     "/v1/entities/default_target/x%2Fhistory",
                     "/v1/entities/default_target/x/history%00"):
            with self.subTest(path=path[:80]):
                head = (f"GET {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {self.admin}"
                        "\r\nConnection: close")
                response = self.raw(head)
                self.assertIsNotNone(response)
                self.assertIn(response.status, (400, 404), response.body[:200])
                self.assert_error(response, response.status)
        # Dot segments a server may resolve: then only to the route they name.
        for path in ("/v1/entities/../types", "/v1/./types", "/v1/entities/x/../../types"):
            with self.subTest(path=path):
                head = (f"GET {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {self.admin}"
                        "\r\nConnection: close")
                response = self.raw(head)
                self.assertIn(response.status, (200, 400, 404), response.body[:200])
                if response.status == 200:
                    self.assertIn("types", response.json())
        head = ("GET /v1/entities/" + "a" * 20000 + " HTTP/1.1\r\nHost: x\r\n"
                f"Authorization: Bearer {self.admin}\r\nConnection: close")
        response = self.raw(head)
        if response is not None:
            self.assertIn(response.status, (400, 404, 414, 431))
        self.assert_healthy()

    def test_unknown_route_and_wrong_method(self):
        for path in ("/v1/nope", "/v2/events", "/v1/events/extra", "/", "/v1"):
            with self.subTest(path=path):
                self.assert_error(self.get(path, self.admin), 404)
        for method, path, allowed in (("PUT", "/v1/events", "POST"),
                                      ("GET", "/v1/query", "POST"),
                                      ("DELETE", "/v1/types", "GET"),
                                      ("POST", "/v1/root", "GET"),
                                      ("PATCH", "/metrics", "GET")):
            with self.subTest(method=method, path=path):
                r = self.call(method, path, self.admin)
                self.assert_error(r, 405)
                self.assertIn(allowed, r.headers.get("Allow", ""))

    def test_slowloris_is_cut_off_while_others_are_served(self):
        request = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " + b"z" * 60
        sock = socket.create_connection(("127.0.0.1", self.server.port), timeout=5)
        self.addCleanup(sock.close)
        start = time.monotonic()
        closed_after = None
        served = []
        for i, byte in enumerate(request):
            try:
                sock.sendall(bytes([byte]))
            except (BrokenPipeError, ConnectionResetError):
                closed_after = time.monotonic() - start
                break
            if i % 2 == 0:  # meanwhile, another client is served promptly
                t0 = time.monotonic()
                served.append((requests.get(self.server.url("/healthz"), timeout=5).status_code,
                               time.monotonic() - t0))
            sock.settimeout(max(0.0, 1.0 - (time.monotonic() - start) % 1.0))
            try:
                data = sock.recv(4096)
                if data == b"" or data.startswith(b"HTTP/1.1 408"):
                    closed_after = time.monotonic() - start
                    break
            except socket.timeout:
                pass
            except ConnectionResetError:
                closed_after = time.monotonic() - start
                break
            if time.monotonic() - start > READ_TIMEOUT + 8:
                break
        print(f"slowloris cut off after {closed_after} s", flush=True)
        self.assertIsNotNone(closed_after, "a one-byte-per-second client was never cut off")
        self.assertLess(closed_after, READ_TIMEOUT + 3)
        self.assertTrue(served and all(code == 200 and dt < 2 for code, dt in served), served)

    def test_idle_keep_alive_connection_is_closed(self):
        sock = socket.create_connection(("127.0.0.1", self.server.port), timeout=5)
        self.addCleanup(sock.close)
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        self.assertEqual(serverlib.read_response(sock).status, 200)
        start = time.monotonic()
        sock.settimeout(IDLE_TIMEOUT + 5)
        try:
            self.assertEqual(sock.recv(1), b"")
        except ConnectionResetError:
            pass
        self.assertLess(time.monotonic() - start, IDLE_TIMEOUT + 3)

    def test_many_bad_connections_at_once(self):
        def hostile(i):
            try:
                with socket.create_connection(("127.0.0.1", self.server.port), timeout=5) as s:
                    s.sendall([b"\x16\x03\x01\x00\xa5garbage", b"GET / HTTP/9.9\r\n\r\n",
                               b"POST /v1/events HTTP/1.1\r\nContent-Length: -1\r\n\r\n",
                               b"\r\n\r\n\r\n"][i % 4])
                    s.recv(100)
            except OSError:
                pass

        threads = [threading.Thread(target=hostile, args=(i,)) for i in range(40)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(10)
        self.assert_healthy()


if __name__ == "__main__":
    serverlib.main()
