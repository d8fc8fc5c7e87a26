#!/usr/bin/python3
"""What an operator relies on: /readyz, /metrics in a format promtool
accepts with the metric names of the spec, and TLS with a self-signed
certificate (https works, plain http on the same port does not)."""

import os
import re
import shutil
import signal
import socket
import subprocess
import time

import requests

import serverlib
from serverlib import curl, make_event

METRICS = (
    "quipu_http_requests_total", "quipu_http_request_duration_seconds",
    "quipu_events_appended_total", "quipu_events_durable_total", "quipu_log_syncs_total",
    "quipu_durable_lag_records", "quipu_pending_acks", "quipu_http_request_bytes_total",
    "quipu_http_response_bytes_total", "quipu_disk_free_bytes", "quipu_token_reloads_total",
    "quipu_connections_open",
)


def metric_value(text, name, labels=""):
    """The sum of the samples of `name` whose label set contains `labels`."""
    total, found = 0.0, False
    for line in text.splitlines():
        m = re.match(r"^(\w+)(\{[^}]*\})? (\S+)", line)
        if m and m.group(1) == name and labels in (m.group(2) or ""):
            total += float(m.group(3))
            found = True
    return total if found else None


class MetricsTest(serverlib.ServerTest):

    def test_readyz(self):
        r = self.get("/readyz")
        self.assertEqual((r.status_code, r.json()["ready"]), (200, True))

    def test_metrics_pass_promtool_and_name_the_spec_metrics(self):
        for i in range(3):
            self.emit(make_event(f"m{i}"))
        self.post("/v1/query", {}, self.admin)
        r = self.get("/metrics", self.admin)
        self.assertEqual(r.status_code, 200, r.text)
        self.assertTrue(r.headers["Content-Type"].startswith("text/plain"), r.headers)
        self.assertIn("version=0.0.4", r.headers["Content-Type"])
        path = os.path.join(self.dir, "metrics.txt")
        with open(path, "wb") as f:
            f.write(r.content)
        if shutil.which("promtool"):
            with open(path, "rb") as f:
                done = subprocess.run(["promtool", "check", "metrics"], stdin=f,
                                      capture_output=True, text=True, timeout=60)
            self.assertEqual(done.returncode, 0, done.stdout + done.stderr)
        else:
            print("promtool not installed: format check skipped")
        types = dict(re.findall(r"(?m)^# TYPE (\w+) (\w+)$", r.text))
        for name in METRICS:
            with self.subTest(metric=name):
                self.assertIn(name, types)
        self.assertEqual(types.get("quipu_http_request_duration_seconds"), "histogram")
        self.assertGreaterEqual(metric_value(r.text, "quipu_events_appended_total"), 3)
        self.assertGreaterEqual(metric_value(r.text, "quipu_events_durable_total"), 3)
        self.assertGreaterEqual(metric_value(r.text, "quipu_log_syncs_total"), 1)
        self.assertGreaterEqual(metric_value(r.text, "quipu_http_requests_total",
                                             'status="200"'), 4)
        self.assertGreater(metric_value(r.text, "quipu_disk_free_bytes"), 0)
        self.assertGreaterEqual(metric_value(r.text, "quipu_connections_open"), 1)

    def test_request_counter_counts_refusals(self):
        self.post("/v1/query", {})  # 401
        text = self.get("/metrics", self.admin).text
        self.assertGreaterEqual(metric_value(text, "quipu_http_requests_total", 'status="401"'), 1)

    def test_metrics_need_admin(self):
        emitter = serverlib.create_token(self.config, "emit,query")
        self.server.stop()
        self.server.start()
        self.assert_error(self.get("/metrics", emitter), 403)
        self.assert_error(self.get("/metrics"), 401)


class TlsTest(serverlib.ServerTest):

    def setUp(self):
        super().setUp()
        self.cert = os.path.join(self.dir, "cert.pem")
        self.key = os.path.join(self.dir, "key.pem")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                        "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1",
                        "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                        "-keyout", self.key, "-out", self.cert],
                       check=True, capture_output=True, timeout=60)
        self.tls = self.start_server("--tls-cert", self.cert, "--tls-key", self.key,
                                     "--read-timeout", "2", store=self.store + "-tls")

    def test_https_works_and_plain_http_does_not(self):
        self.assertTrue(self.tls.tls)
        rc, status, body = curl("--cacert", self.cert, self.tls.url("/healthz"))
        self.assertEqual((rc, status), (0, 200), body)
        rc, status, body = curl("-X", "POST", "--cacert", self.cert,
                                "-H", f"Authorization: Bearer {self.admin}",
                                "-H", "Content-Type: application/json",
                                "--data-binary", '{"actor":{"type":"default_actor","id":"t"}}',
                                self.tls.url("/v1/events"))
        self.assertEqual((rc, status), (0, 200), body)
        rc, status, _ = curl(f"http://127.0.0.1:{self.tls.port}/healthz")
        self.assertTrue(rc != 0 or status != 200, "plain http was answered")
        # Without the CA the certificate is not trusted.
        rc, _, _ = curl(self.tls.url("/healthz"))
        self.assertNotEqual(rc, 0)
        r = requests.get(self.tls.url("/v1/count"), verify=self.cert, timeout=10,
                         headers=serverlib.auth(self.admin))
        self.assertEqual(r.status_code, 405)
        r = requests.post(self.tls.url("/v1/count"), verify=self.cert, timeout=10, json={},
                          headers=serverlib.auth(self.admin))
        self.assertEqual(r.json(), {"count": 1})
        rc, status, _ = curl("--cacert", self.cert, self.tls.url("/healthz"))
        self.assertEqual((rc, status), (0, 200))

    def test_a_silent_client_does_not_hold_the_handshake(self):
        silent = socket.create_connection(("127.0.0.1", self.tls.port), timeout=10)
        self.addCleanup(silent.close)
        start = time.monotonic()
        rc, status, _ = curl("--cacert", self.cert, self.tls.url("/healthz"))
        self.assertEqual((rc, status), (0, 200))
        try:
            self.assertEqual(silent.recv(100), b"")
        except ConnectionResetError:
            pass
        self.assertLess(time.monotonic() - start, 2 + 3)

    def test_tls_server_refuses_to_start_with_a_missing_key(self):
        server = serverlib.Server(self.store + "-bad", self.config,
                                  ("--tls-cert", self.cert, "--tls-key", self.key + ".missing"),
                                  log_dir=self.dir)
        self.addCleanup(server.stop)
        with self.assertRaises(serverlib.ServerError):
            server.start(timeout=10)



class ReplicationRoutesTest(serverlib.ServerTest):
    """The routes of a replicated group on a single node: /v1/cluster says it
    is single, and /v1/replication/records hands out committed records as
    batches (docs/replication.md) and refuses what it cannot answer."""

    def test_cluster_on_a_single_node(self):
        r = self.get("/v1/cluster", self.admin)
        self.assertEqual(r.status_code, 200, r.text)
        self.assertEqual(r.json(), {"group": None, "role": "single"})

    def test_records_come_as_batches_with_the_root_at_their_end(self):
        for i in range(3):
            self.emit(make_event(f"r{i}"))
        root = self.get("/v1/root", self.admin).json()
        size = root["tree_size"]
        r = self.get(f"/v1/replication/records?from=1&to={size}", self.admin)
        self.assertEqual(r.status_code, 200, r.text)
        self.assertEqual(r.headers["Content-Type"], "application/octet-stream")
        self.assertEqual(r.headers["Quipu-Tree-Size"], str(size))
        self.assertEqual(r.headers["Quipu-Tree-Root"], root["root"])
        body, records = r.content, 0
        while body:
            length = int.from_bytes(body[:4], "little")
            batch = body[4:4 + length]
            self.assertEqual(len(batch), length)
            self.assertIn(batch[:4], (b"QPB1", b"QPBZ"))
            self.assertEqual(int.from_bytes(batch[4:12], "little"), records + 1)
            records += int.from_bytes(batch[12:16], "little")
            body = body[4 + length:]
        self.assertEqual(records, size)

    def test_records_refuse_bad_ranges_and_scoped_tokens(self):
        self.emit(make_event("one"))
        for query in ("", "?from=1", "?from=0&to=1", "?from=3&to=2", "?from=x&to=2",
                      "?from=1&to=-1"):
            with self.subTest(query=query):
                self.assert_error(self.get("/v1/replication/records" + query, self.admin), 400)
        r = self.get("/v1/replication/records?from=100&to=200", self.admin)
        self.assert_error(r, 404)
        scoped = serverlib.create_token(self.config, "admin", scope="tenant=acme")
        self.server.signal(signal.SIGHUP)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            r = self.get("/v1/replication/records?from=1&to=1", scoped)
            if r.status_code != 401:
                break
            time.sleep(0.1)
        self.assert_error(r, 403)


if __name__ == "__main__":
    serverlib.main()
