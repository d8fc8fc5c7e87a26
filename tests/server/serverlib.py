"""Runs the real `quipu serve` for the server's black-box tests.

The tests in this folder start the built binary (QUIPU_BIN) on 127.0.0.1:0,
learn the port from the one line it prints on stdout, talk to it over HTTP
(requests, raw sockets, curl) and stop it with SIGTERM, bounded by a timeout
and then SIGKILL. Each test gets a fresh directory under $TMPDIR, removed
afterwards, and a watchdog alarm so that no test can hang CTest.

Run with Debian's interpreter, which has python3-requests:
    QUIPU_BIN=build/quipu /usr/bin/python3 tests/server/test_routes.py
"""

import hashlib
import json
import os
import secrets
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import weakref

import requests

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_DIR = os.path.dirname(os.path.dirname(HERE))
QUIPU = os.environ.get("QUIPU_BIN") or os.path.join(SOURCE_DIR, "build", "quipu")

# CTest reports this exit code as "skipped" (SKIP_RETURN_CODE).
SKIP_EXIT = 77

# Every request a test makes is bounded by this many seconds.
HTTP_TIMEOUT = 10

# The route table of the spec: (method, path template, grant needed; None for
# the public routes). docs/openapi.json and the server's own table list the
# same routes; test_openapi.py holds the three to each other.
ROUTES = [
    ("POST", "/v1/events", "emit"),
    ("POST", "/v1/events:batch", "emit"),
    ("POST", "/v1/query", "query"),
    ("POST", "/v1/count", "query"),
    ("POST", "/v1/export", "query"),
    ("GET", "/v1/entities/{type}", "query"),
    ("GET", "/v1/entities/{type}/{id}/history", "query"),
    ("GET", "/v1/types", "query"),
    ("POST", "/v1/types", "admin"),
    ("POST", "/v1/columns", "admin"),
    ("GET", "/v1/root", "query"),
    ("GET", "/v1/proof/inclusion/{log_id}", "query"),
    ("GET", "/v1/proof/consistency", "query"),
    ("GET", "/v1/checkpoints", "query"),
    ("GET", "/healthz", None),
    ("GET", "/readyz", None),
    ("GET", "/metrics", "admin"),
    ("POST", "/v1/admin/checkpoint", "admin"),
    ("POST", "/v1/admin/verify", "admin"),
    ("GET", "/v1/openapi.json", None),
    ("GET", "/v1/cluster", "query"),
    ("GET", "/v1/replication/records", "admin"),
]

JSON = "application/json"
NDJSON = "application/x-ndjson"


def main():
    """unittest.main(), or exit SKIP_EXIT when the binary has no `serve` yet."""
    for verb in ("serve", "token"):
        probe = subprocess.run([QUIPU, verb, "--help"], capture_output=True, timeout=30)
        if probe.returncode != 0:
            print(f"skipped: {QUIPU} has no '{verb}' verb", flush=True)
            sys.exit(SKIP_EXIT)
    unittest.main(verbosity=2)


def run_quipu(*args, timeout=60, check=True, input=None):
    """Runs the CLI; returns the CompletedProcess (text)."""
    done = subprocess.run([QUIPU, *args], capture_output=True, text=True, timeout=timeout,
                          input=input)
    if check and done.returncode != 0:
        raise AssertionError(f"quipu {' '.join(args)} exited {done.returncode}: {done.stderr}")
    return done


# --- tokens ------------------------------------------------------------------

def create_token(config, grants, scope=None, expires=None, name=None):
    """`quipu token create`; returns the secret ("qpt_...")."""
    args = ["token", "create", "--config", config, "--grant", grants, "--json"]
    if scope:
        args += ["--scope", scope]
    if expires:
        args += ["--expires", expires]
    if name:
        args += ["--name", name]
    return json.loads(run_quipu(*args).stdout)["token"]


def add_token_entry(config, grants, expires=None, scope=None):
    """Writes an entry into the token file directly, in the documented format
    (docs/server.md). `quipu token create` refuses an expiry in the past, and
    the server must still refuse such an entry when it finds one."""
    secret = "qpt_" + secrets.token_hex(32)
    digest = hashlib.sha256(secret.encode()).hexdigest()
    entry = {"id": "t_" + digest[:8], "hash": "sha256:" + digest, "grants": grants.split(",")}
    if expires:
        entry["expires"] = expires
    if scope:
        column, value = scope.split("=", 1)
        entry["scope"] = {"column": column, "value": value}
    doc = {"tokens": []}
    if os.path.exists(config):
        with open(config) as f:
            doc = json.load(f)
    doc["tokens"].append(entry)
    with open(config, "w") as f:
        json.dump(doc, f)
    os.chmod(config, 0o600)
    return secret


def auth(token):
    return {"Authorization": f"Bearer {token}"} if token else {}


def rfc3339(unix_seconds):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(unix_seconds))


# --- events ------------------------------------------------------------------

def make_event(tag, actor="alice", targets=(("default_target", "doc-1"),), method="doc.update",
               columns=None, content=None):
    """An EVENT over the two built-in types; `tag` goes into url so a test can
    find the row again (queries return url, not the idempotency key)."""
    event = {
        "actor": {"type": "default_actor", "id": actor},
        "method": method,
        "url": "/t/" + tag,
        "targets": [{"type": t, "id": i} for t, i in targets],
    }
    if columns is not None:
        event["columns"] = columns
    if content is not None:
        event["content"] = content
    return event


def ndjson(events):
    return "".join(json.dumps(e) + "\n" for e in events).encode()


def sample_request(method, template):
    """A well-formed request for a route of ROUTES: (path, body, content type).
    It assumes the store holds row 1, written by actor "alice"."""
    path = (template.replace("{type}", "default_actor").replace("{id}", "alice")
            .replace("{log_id}", "1"))
    if template == "/v1/proof/consistency":
        path += "?from=1&to=1"
    if template == "/v1/replication/records":
        path += "?from=1&to=1"
    bodies = {
        "/v1/events": (json.dumps(make_event("sample")).encode(), JSON),
        "/v1/events:batch": (ndjson([make_event("sample-batch")]), NDJSON),
        "/v1/query": (b"{}", JSON),
        "/v1/count": (b"{}", JSON),
        "/v1/export": (b"{}", JSON),
        "/v1/types": (b'{"name":"widget","fields":[{"name":"label","kind":"text"}]}', JSON),
        "/v1/columns": (b'{"name":"region","kind":"text"}', JSON),
    }
    if method == "POST" and template in bodies:
        body, content_type = bodies[template]
        return path, body, content_type
    return path, None, None


# --- the server process ------------------------------------------------------

class ServerError(RuntimeError):
    pass


class Server:
    """One `quipu serve` process. start() may be called again after stop() or
    kill(): the same store, a new port."""

    def __init__(self, store, config, args=(), log_dir=None, create=True):
        self.store = store
        self.config = config
        self.args = list(args)
        self.create = create
        self.log_dir = log_dir or os.path.dirname(store)
        self.proc = None
        self.port = None
        self.tls = False
        self.starts = 0

    @property
    def log_path(self):
        return os.path.join(self.log_dir, f"serve-{self.starts}.log")

    def command(self):
        cmd = [QUIPU, "serve", self.store, "--listen", "127.0.0.1:0", "--config", self.config]
        if self.create:
            cmd.append("--create")
        return cmd + self.args

    def start(self, timeout=20):
        self.starts += 1
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(self.command(), stdin=subprocess.DEVNULL,
                                         stdout=subprocess.PIPE, stderr=log)
        line = _read_first_line(self.proc, timeout)
        try:
            info = json.loads(line)
            self.port = int(info["listening"].rsplit(":", 1)[1])
            self.tls = bool(info.get("tls"))
        except (ValueError, KeyError, IndexError) as e:
            self.kill()
            raise ServerError(f"quipu serve printed {line!r} ({e}); log:\n{self.log_tail()}")
        # Nothing more should come on stdout; drain it anyway so that a chatty
        # server cannot block on a full pipe.
        self._drainer = threading.Thread(target=_drain, args=(self.proc.stdout,), daemon=True)
        self._drainer.start()
        return self

    def _reap(self, proc):
        # The pipe ends with the process; close our side once it is drained.
        if getattr(self, "_drainer", None) is not None:
            self._drainer.join(5)
        if proc.stdout:
            proc.stdout.close()

    @property
    def base(self):
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}"

    def url(self, path):
        return self.base + path

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout=20):
        """SIGTERM, then SIGKILL after `timeout` s. Returns the exit code, or
        None when the server had to be killed."""
        if self.proc is None:
            return None
        proc, self.proc = self.proc, None
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        try:
            return proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            return None
        finally:
            self._reap(proc)

    def kill(self):
        if self.proc is None:
            return
        proc, self.proc = self.proc, None
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        self._reap(proc)

    def signal(self, signum):
        self.proc.send_signal(signum)

    def log_tail(self, limit=4000):
        try:
            with open(self.log_path, "rb") as f:
                return f.read()[-limit:].decode(errors="replace")
        except OSError:
            return ""


def _read_first_line(proc, timeout):
    fd = proc.stdout.fileno()
    deadline = time.monotonic() + timeout
    data = b""
    while b"\n" not in data:
        left = deadline - time.monotonic()
        if left <= 0:
            proc.kill()
            proc.wait()
            raise ServerError(f"quipu serve printed no address within {timeout} s")
        ready, _, _ = select.select([fd], [], [], min(left, 0.2))
        if ready:
            chunk = os.read(fd, 4096)
            if not chunk:
                code = proc.wait()
                raise ServerError(f"quipu serve exited {code} before listening")
            data += chunk
    return data.split(b"\n", 1)[0].decode()


def _drain(stream):
    try:
        while stream.read(4096):
            pass
    except (OSError, ValueError):
        pass


# --- raw HTTP ------------------------------------------------------------------

class RawResponse:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers  # lower-case names
        self.body = body

    def json(self):
        return json.loads(self.body)


def raw_exchange(port, data, timeout=10, half_close=False):
    """Sends `data` (bytes) on a new connection and reads one response.
    Returns a RawResponse, or None when the server closed the connection
    without answering. `half_close` shuts the write side after sending."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        try:
            sock.sendall(data)
            if half_close:
                sock.shutdown(socket.SHUT_WR)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server may answer and close before reading it all
        return read_response(sock, timeout)


# Bytes read past the end of a response, by socket (see read_response).
_LEFTOVER = weakref.WeakKeyDictionary()


def read_response(sock, timeout=10):
    """Reads one HTTP/1.1 response (Content-Length, chunked, or until close).

    Bytes read past its end (the start of the next pipelined response, which
    may arrive in the same recv) are kept on `sock` for the next call."""
    deadline = time.monotonic() + timeout
    buf = _LEFTOVER.pop(sock, b"")

    def more():
        nonlocal buf
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("no complete response within the timeout")
        sock.settimeout(left)
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            chunk = b""
        buf += chunk
        return bool(chunk)

    while b"\r\n\r\n" not in buf:
        if not more():
            if not buf:
                return None
            raise ServerError(f"connection closed inside the response head: {buf[:200]!r}")
    head, rest = buf.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ")[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    buf = rest
    if "content-length" in headers:
        n = int(headers["content-length"])
        while len(buf) < n and more():
            pass
        _LEFTOVER[sock] = buf[n:]
        return RawResponse(status, headers, buf[:n])
    if headers.get("transfer-encoding", "").lower() == "chunked":
        body = b""
        while True:
            while b"\r\n" not in buf:
                if not more():
                    return RawResponse(status, headers, body)
            size_line, buf = buf.split(b"\r\n", 1)
            size = int(size_line.split(b";")[0], 16)
            while len(buf) < size + 2 and more():
                pass
            body += buf[:size]
            buf = buf[size + 2:]
            if size == 0:
                _LEFTOVER[sock] = buf
                return RawResponse(status, headers, body)
    while more():
        pass
    return RawResponse(status, headers, buf)


# --- curl ----------------------------------------------------------------------

def curl(*args, timeout=30):
    """Runs curl; returns (exit code, HTTP status, body). -s, and the status
    comes from --write-out on its own last line."""
    done = subprocess.run(["curl", "-sS", "--max-time", "15", "-w", "\n%{http_code}", *args],
                          capture_output=True, text=True, timeout=timeout)
    body, _, code = done.stdout.rpartition("\n")
    return done.returncode, int(code or 0), body


# --- the test base ---------------------------------------------------------------

class ServerTest(unittest.TestCase):
    """Starts one server per test (setUp) with an admin token, and stops every
    server it started in cleanup, whatever the test did."""

    SERVER_ARGS = ()  # extra `quipu serve` flags
    TEST_SECONDS = 120  # the watchdog: a test running longer fails

    def setUp(self):
        self._arm_watchdog()
        self.dir = tempfile.mkdtemp(prefix="quipu-serve-test-")
        self.addCleanup(shutil.rmtree, self.dir, ignore_errors=True)
        self.config = os.path.join(self.dir, "tokens.json")
        self.store = os.path.join(self.dir, "store")
        self.admin = create_token(self.config, "emit,query,admin", name="admin")
        self.session = requests.Session()
        self.addCleanup(self.session.close)
        self.server = self.start_server(*self.SERVER_ARGS)

    def _arm_watchdog(self):
        def expired(signum, frame):
            raise TimeoutError(f"{self.id()} ran longer than {self.TEST_SECONDS} s")

        previous = signal.signal(signal.SIGALRM, expired)
        signal.alarm(self.TEST_SECONDS)
        self.addCleanup(signal.signal, signal.SIGALRM, previous)
        self.addCleanup(signal.alarm, 0)

    def start_server(self, *args, store=None, config=None, create=True):
        server = Server(store or self.store, config or self.config, args, log_dir=self.dir,
                        create=create)
        self.addCleanup(server.stop)
        return server.start()

    # --- requests --------------------------------------------------------

    def call(self, method, path, token=None, body=None, content_type=None, headers=None,
             server=None, **kwargs):
        """One request. `body` may be a dict/list (sent as JSON), str or bytes."""
        server = server or self.server
        all_headers = dict(auth(token))
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
            content_type = content_type or JSON
        if content_type:
            all_headers["Content-Type"] = content_type
        all_headers.update(headers or {})
        kwargs.setdefault("timeout", HTTP_TIMEOUT)
        return self.session.request(method, server.url(path), data=body, headers=all_headers,
                                    **kwargs)

    def get(self, path, token=None, **kwargs):
        return self.call("GET", path, token, **kwargs)

    def post(self, path, body=None, token=None, **kwargs):
        return self.call("POST", path, token, body=body, **kwargs)

    def post_event(self, event, token=None, key=None, params=None, server=None):
        headers = {"Idempotency-Key": key} if key else None
        return self.post("/v1/events", event, token or self.admin, headers=headers,
                         params=params, server=server)

    def emit(self, event, token=None, key=None):
        """Posts an event that must be accepted; returns the ack."""
        r = self.post_event(event, token, key)
        self.assertEqual(r.status_code, 200, r.text)
        return r.json()

    def query_all(self, token=None, query=None, server=None):
        """Every hit of `query`, following next_cursor, oldest first."""
        body = dict(query or {}, order="oldest_first", limit=1000)
        hits = []
        while True:
            r = self.post("/v1/query", body, token or self.admin, server=server)
            self.assertEqual(r.status_code, 200, r.text)
            page = r.json()
            hits += page["hits"]
            if not page.get("next_cursor"):
                return hits
            body["cursor"] = page["next_cursor"]

    def count(self, token=None, query=None):
        r = self.post("/v1/count", query or {}, token or self.admin)
        self.assertEqual(r.status_code, 200, r.text)
        return r.json()["count"]

    # --- assertions ------------------------------------------------------

    def assert_error(self, response, status, code=None):
        """`response` (requests or RawResponse) has `status` and the error body."""
        got = getattr(response, "status_code", None) or getattr(response, "status", None)
        text = getattr(response, "text", None) or getattr(response, "body", b"")
        self.assertEqual(got, status, f"body: {text[:500]!r}")
        body = response.json()
        self.assertEqual(set(body), {"error"}, body)
        self.assertEqual(set(body["error"]), {"code", "message"}, body)
        self.assertIsInstance(body["error"]["code"], str, body)
        self.assertIsInstance(body["error"]["message"], str, body)
        if code:
            self.assertEqual(body["error"]["code"], code, body)
        return body["error"]

    def assert_healthy(self, server=None):
        server = server or self.server
        self.assertTrue(server.running(), f"the server exited; log:\n{server.log_tail()}")
        r = requests.get(server.url("/healthz"), timeout=HTTP_TIMEOUT, verify=False)
        self.assertEqual(r.status_code, 200, r.text)
        self.assertEqual(r.json(), {"status": "ok"})
