"""Runs a replicated quipu group (docs/replication.md) for black-box tests.

    EtcdCluster   n real etcd members (/usr/bin/etcd) on 127.0.0.1
    TcpProxy      a TCP forwarder that can be cut (block) and healed (unblock)
    QuipuNode     one `quipu serve ... --etcd ...` process
    QuipuCluster  etcd + one proxy per (node, etcd member) + n nodes, a token,
                  and the client helpers the tests use (writer, convergence,
                  writes that follow 307s themselves)

Every node reaches etcd only through its own proxies, one per member, so a
test can cut ONE node off from etcd (QuipuCluster.block(node)) while the
others keep talking to it.

Every child process (etcd, quipu) gets PR_SET_PDEATHSIG=SIGKILL, so none
outlives the test process. The kernel sends that signal when the *thread*
that forked the child ends, so children are only started from the main
thread (a RuntimeError says so otherwise).

Ports are fixed per process for the whole harness (etcd members and quipu
nodes restart on the same port: an advertised URL must not change) and are
picked below the kernel's ephemeral range, so that an outgoing connection
can never be holding a node's port while it restarts.

Run this file on its own for a self-check of the etcd parts:
    /usr/bin/python3 tests/server/replicalib.py
"""

import base64
import ctypes
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

import requests

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)
import serverlib  # noqa: E402  (the binary, tokens, events)

ETCD = "/usr/bin/etcd"
SETUP_HINT = "run scripts/setup.sh (it installs Debian's etcd-server)"


def etcd_available():
    return os.access(ETCD, os.X_OK)


def log(message):
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


# --- processes ---------------------------------------------------------------

_libc = ctypes.CDLL(None, use_errno=True)
_PR_SET_PDEATHSIG = 1


def spawn(args, stdout, stderr):
    """Popen with stdin from /dev/null and PR_SET_PDEATHSIG=SIGKILL."""
    if threading.current_thread() is not threading.main_thread():
        # PDEATHSIG fires when the forking *thread* exits: a child started
        # from a worker thread would die with that thread.
        raise RuntimeError("replicalib starts processes from the main thread only")
    parent = os.getpid()

    def die_with_parent():
        _libc.prctl(ctypes.c_int(_PR_SET_PDEATHSIG), ctypes.c_ulong(int(signal.SIGKILL)),
                    ctypes.c_ulong(0), ctypes.c_ulong(0), ctypes.c_ulong(0))
        if os.getppid() != parent:  # the parent died before prctl
            os._exit(127)

    return subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=stdout, stderr=stderr,
                            preexec_fn=die_with_parent, close_fds=True)


def _kill_and_reap(proc):
    if proc is None:
        return None
    if proc.poll() is None:
        proc.kill()
    return proc.wait()


def _tail(path, limit):
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - limit))
            return f.read().decode(errors="replace")
    except OSError:
        return ""


# --- ports -------------------------------------------------------------------

_given_ports = set()
_ports_lock = threading.Lock()
_port_rng = random.SystemRandom()  # not the tests' seeded generator


def _port_span():
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            low, high = map(int, f.read().split())
    except (OSError, ValueError):
        low, high = 32768, 60999
    if low - 1 - 10000 >= 2000:
        return 10000, low - 1
    if 65535 - (high + 1) >= 2000:
        return high + 1, 65535
    return None


def free_ports(n):
    """`n` distinct TCP ports free on 127.0.0.1 now, never handed out before
    by this process, outside the ephemeral range when it leaves room."""
    span = _port_span()
    picked, probes = [], []
    with _ports_lock:
        try:
            attempts = 0
            while len(picked) < n:
                attempts += 1
                if attempts > 10000:
                    raise RuntimeError("cannot find free ports")
                port = _port_rng.randint(*span) if span else 0
                if port in _given_ports:
                    continue
                s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                try:
                    s.bind(("127.0.0.1", port))  # no SO_REUSEADDR: skip TIME_WAIT ports
                except OSError:
                    s.close()
                    continue
                port = s.getsockname()[1]
                probes.append(s)
                picked.append(port)
                _given_ports.add(port)
        finally:
            for s in probes:
                s.close()
    return picked


def _session():
    s = requests.Session()
    s.trust_env = False  # never through an http_proxy of the environment
    return s


# --- etcd ----------------------------------------------------------------------

class EtcdError(RuntimeError):
    pass


class EtcdCluster:
    """n etcd members on 127.0.0.1, each with its own data directory and log
    (DIR/mI.log) under `dir` (a fresh temporary directory by default)."""

    def __init__(self, n=3, dir=None, extra_args=()):
        self._own_dir = dir is None
        self.dir = dir or tempfile.mkdtemp(prefix="quipu-etcd-")
        os.makedirs(self.dir, exist_ok=True)
        self.extra_args = list(extra_args)
        ports = free_ports(2 * n)
        self.members = [{"name": f"m{i}", "client": ports[2 * i], "peer": ports[2 * i + 1],
                         "proc": None} for i in range(n)]
        self._http = _session()

    def __len__(self):
        return len(self.members)

    def endpoint(self, i):
        return f"http://127.0.0.1:{self.members[i]['client']}"

    def endpoints(self):
        return [self.endpoint(i) for i in range(len(self.members))]

    def log_path(self, i):
        return os.path.join(self.dir, self.members[i]["name"] + ".log")

    def log_tail(self, i, limit=3000):
        return _tail(self.log_path(i), limit)

    def running(self, i):
        proc = self.members[i]["proc"]
        return proc is not None and proc.poll() is None

    def _args(self, i, state):
        m = self.members[i]
        peer = f"http://127.0.0.1:{m['peer']}"
        cluster = ",".join(f"{o['name']}=http://127.0.0.1:{o['peer']}" for o in self.members)
        return [ETCD, "--name", m["name"], "--data-dir", os.path.join(self.dir, m["name"]),
                "--listen-client-urls", self.endpoint(i),
                "--advertise-client-urls", self.endpoint(i),
                "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
                "--initial-cluster", cluster, "--initial-cluster-state", state,
                "--initial-cluster-token", "quipu-replication-test",
                "--heartbeat-interval", "50", "--election-timeout", "500",
                "--logger=zap", "--log-outputs=stderr", *self.extra_args]

    def _spawn(self, i, state):
        if self.running(i):
            raise EtcdError(f"etcd member {i} is already running")
        with open(self.log_path(i), "ab") as f:
            f.write(f"--- harness: start ({state}) at {time.ctime()} ---\n".encode())
            f.flush()
            self.members[i]["proc"] = spawn(self._args(i, state), stdout=f, stderr=f)

    def start(self, timeout=20):
        for i in range(len(self.members)):
            self._spawn(i, "new")
        self.wait_healthy(timeout)
        return self

    def kill(self, i):
        """SIGKILLs member i and reaps it."""
        proc, self.members[i]["proc"] = self.members[i]["proc"], None
        _kill_and_reap(proc)

    def restart(self, i, timeout=20):
        """Starts member i again on its data directory and ports
        (--initial-cluster-state existing); waits until every running
        member is healthy."""
        self.kill(i)
        self._spawn(i, "existing")
        self.wait_healthy(timeout)

    def healthy(self, i):
        try:
            r = self._http.get(self.endpoint(i) + "/health", timeout=1)
            return r.status_code == 200 and r.json().get("health") == "true"
        except (requests.RequestException, ValueError):
            return False

    def wait_healthy(self, timeout=20):
        deadline = time.monotonic() + timeout
        for i in range(len(self.members)):
            if self.members[i]["proc"] is None:
                continue
            while not self.healthy(i):
                if not self.running(i):
                    raise EtcdError(f"etcd member {i} exited {self.members[i]['proc'].returncode};"
                                    f" its log ends with:\n{self.log_tail(i)}")
                if time.monotonic() > deadline:
                    raise EtcdError(f"etcd member {i} not healthy after {timeout} s; its log ends"
                                    f" with:\n{self.log_tail(i)}")
                time.sleep(0.05)

    def call(self, path, body, timeout=2):
        """POSTs a v3 gateway request to the first running member that
        answers; returns its JSON."""
        errors = []
        for i in range(len(self.members)):
            if not self.running(i):
                continue
            try:
                r = self._http.post(self.endpoint(i) + path, json=body, timeout=timeout)
                if r.status_code == 200:
                    return r.json()
                errors.append(f"m{i}: {r.status_code} {r.text[:200]}")
            except (requests.RequestException, ValueError) as e:
                errors.append(f"m{i}: {e}")
        raise EtcdError(f"no etcd member answered {path}: {errors}")

    def range(self, prefix, keys_only=False):
        """{key: value} of every key under `prefix` (str), decoded."""
        key = prefix.encode()
        end = key[:-1] + bytes([key[-1] + 1])
        body = {"key": base64.b64encode(key).decode(), "range_end": base64.b64encode(end).decode()}
        if keys_only:
            body["keys_only"] = True
        answer = self.call("/v3/kv/range", body)
        return {base64.b64decode(kv["key"]).decode(errors="replace"):
                base64.b64decode(kv.get("value", "")) for kv in answer.get("kvs", [])}

    def leader_index(self):
        """The index of the raft leader, or None."""
        ids, leader = {}, None
        for i in range(len(self.members)):
            if not self.running(i):
                continue
            try:
                status = self._http.post(self.endpoint(i) + "/v3/maintenance/status", json={},
                                         timeout=1).json()
            except (requests.RequestException, ValueError):
                continue
            ids[str(status.get("header", {}).get("member_id"))] = i
            leader = leader or str(status.get("leader"))
        return ids.get(leader)

    def stop(self):
        for i in range(len(self.members)):
            self.kill(i)
        self._http.close()
        if self._own_dir:
            shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


# --- a TCP proxy that can be cut ----------------------------------------------

class _Pair:
    def __init__(self, client, upstream):
        self.client = client
        self.upstream = upstream
        self.ended = 0
        self.lock = threading.Lock()

    def shutdown(self):
        for s in (self.client, self.upstream):
            try:
                s.shutdown(socket.SHUT_RDWR)  # wakes a recv blocked in a pump thread
            except OSError:
                pass


class TcpProxy:
    """Forwards 127.0.0.1:self.port to target_host:target_port, one pair of
    threads per connection.

    block() cuts it like a network partition: every open connection is shut
    down (both ends), and new connections are accepted and then held, never
    forwarded and never answered, so a client sees a timeout, as with
    packets dropped. unblock() closes the held connections and forwards new
    ones again."""

    def __init__(self, target_host, target_port, port=None):
        self.target = (target_host, target_port)
        self.port = port or free_ports(1)[0]
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", self.port))
        self._listener.listen(128)
        self._listener.settimeout(0.2)  # so that close() ends the accept loop
        self._lock = threading.Lock()
        self._pairs = set()
        self._held = []
        self._blocked = False
        self._closed = False
        self.accepted = 0
        self.held_total = 0
        self._thread = threading.Thread(target=self._accept_loop, daemon=True,
                                        name=f"proxy:{self.port}")
        self._thread.start()

    def endpoint(self):
        return f"http://127.0.0.1:{self.port}"

    @property
    def blocked(self):
        return self._blocked

    def _accept_loop(self):
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except socket.timeout:
                continue
            except OSError:
                if self._closed:
                    return
                time.sleep(0.01)
                continue
            client.setblocking(True)
            with self._lock:
                self.accepted += 1
                if self._closed:
                    client.close()
                    return
                if self._blocked:
                    self._held.append(client)
                    self.held_total += 1
                    continue
            threading.Thread(target=self._connect, args=(client,), daemon=True).start()

    def _connect(self, client):
        try:
            upstream = socket.create_connection(self.target, timeout=2)
        except OSError:
            client.close()  # the target is down: the client sees its connection end
            return
        upstream.settimeout(None)
        for s in (client, upstream):
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        pair = _Pair(client, upstream)
        with self._lock:
            if self._blocked or self._closed:  # cut while connecting
                client.close()
                upstream.close()
                return
            self._pairs.add(pair)
        for src, dst in ((client, upstream), (upstream, client)):
            threading.Thread(target=self._pump, args=(pair, src, dst), daemon=True).start()

    def _pump(self, pair, src, dst):
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                dst.sendall(data)
        except OSError:
            pass
        try:
            dst.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        with pair.lock:
            pair.ended += 1
            last = pair.ended == 2
        if last:
            # Only the last pump closes: no thread is inside a call on them.
            with self._lock:
                self._pairs.discard(pair)
            pair.client.close()
            pair.upstream.close()

    def block(self):
        with self._lock:
            self._blocked = True
            pairs = list(self._pairs)
        for pair in pairs:
            pair.shutdown()

    def unblock(self):
        with self._lock:
            self._blocked = False
            held, self._held = self._held, []
        for s in held:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()

    def open_connections(self):
        with self._lock:
            return len(self._pairs)

    def close(self):
        with self._lock:
            self._closed = True
            self._blocked = True
            pairs = list(self._pairs)
            held, self._held = self._held, []
        for pair in pairs:
            pair.shutdown()
        for s in held:
            s.close()
        self._thread.join(2)
        self._listener.close()


# --- one quipu node ----------------------------------------------------------------

class NodeError(RuntimeError):
    pass


class _Run:
    """One process of a node: what it printed on stdout (drained by a
    thread for as long as the process lives, across its re-executions)."""

    def __init__(self, proc):
        self.proc = proc
        self.cond = threading.Condition()
        self.lines = []
        self.listening = []  # every {"listening":...} line, in order
        self.eof = False
        self.thread = threading.Thread(target=self._drain, daemon=True)
        self.thread.start()

    def _drain(self):
        try:
            for raw in iter(self.proc.stdout.readline, b""):
                line = raw.decode(errors="replace").strip()
                try:
                    info = json.loads(line)
                except ValueError:
                    info = None
                with self.cond:
                    self.lines.append(line)
                    if isinstance(info, dict) and "listening" in info:
                        self.listening.append(info)
                    self.cond.notify_all()
        except (OSError, ValueError):
            pass
        with self.cond:
            self.eof = True
            self.cond.notify_all()


class QuipuNode:
    """One `quipu serve` of a replicated group on a fixed port. Its stderr,
    across every start and re-execution, goes to LOG_DIR/NAME.log.

    A node that loses the writership re-executes itself: the same pid, the
    same command line, and one more listening line on stdout. It counts as
    running while its pid lives; `reexecs` counts those lines."""

    tls = False  # serverlib.ServerTest.call uses server.url(); no TLS here

    def __init__(self, name, etcd_endpoints, group, config, peer_token_file, port, store_dir,
                 log_dir=None, extra_args=(), lease_ttl=2):
        self.name = name
        self.etcd_endpoints = list(etcd_endpoints)
        self.group = group
        self.config = config
        self.peer_token_file = peer_token_file
        self.port = port
        self.store_dir = store_dir
        self.log_dir = log_dir or os.path.dirname(os.path.abspath(store_dir))
        self.extra_args = list(extra_args)
        self.lease_ttl = lease_ttl
        self.starts = 0
        self._run = None

    def __repr__(self):
        return f"<node {self.name} :{self.port}>"

    @property
    def base(self):
        return f"http://127.0.0.1:{self.port}"

    def url(self, path):
        return self.base + path

    @property
    def log_path(self):
        return os.path.join(self.log_dir, f"{self.name}.log")

    def command(self):
        return [serverlib.QUIPU, "serve", self.store_dir, "--create",
                "--listen", f"127.0.0.1:{self.port}", "--config", self.config,
                "--etcd", ",".join(self.etcd_endpoints), "--group", self.group,
                "--node-id", self.name, "--advertise", self.base,
                "--peer-token-file", self.peer_token_file,
                "--etcd-lease-ttl", str(self.lease_ttl), *self.extra_args]

    @property
    def pid(self):
        return self._run.proc.pid if self._run else None

    def running(self):
        return self._run is not None and self._run.proc.poll() is None

    @property
    def reexecs(self):
        """How many times the current process re-executed itself."""
        if self._run is None:
            return 0
        with self._run.cond:
            return max(0, len(self._run.listening) - 1)

    def start(self, timeout=30):
        """Starts the process and waits for its listening line."""
        if self.running():
            raise NodeError(f"{self.name} is already running")
        self.starts += 1
        os.makedirs(os.path.dirname(os.path.abspath(self.store_dir)), exist_ok=True)
        os.makedirs(self.log_dir, exist_ok=True)
        with open(self.log_path, "ab") as f:
            f.write(f"--- harness: start {self.starts} of {self.name} at {time.ctime()}: "
                    f"{' '.join(self.command())} ---\n".encode())
            f.flush()
            proc = spawn(self.command(), stdout=subprocess.PIPE, stderr=f)
        self._run = _Run(proc)
        self.wait_listening(1, timeout)
        return self

    def wait_listening(self, count, timeout=30):
        """Waits until the current process printed its `count`-th listening
        line (count - 1 re-executions after its start)."""
        run = self._run
        with run.cond:
            run.cond.wait_for(lambda: len(run.listening) >= count or run.eof, timeout)
            got = list(run.listening)
        if len(got) < count:
            code = run.proc.poll()
            state = "exited " + str(code) if code is not None else f"printed nothing for {timeout} s"
            raise NodeError(f"{self.name} {state} (listening lines: {got}); log:\n"
                            f"{self.log_tail()}")
        expected = f"127.0.0.1:{self.port}"
        if got[-1].get("listening") != expected or got[-1].get("tls") is not False:
            raise NodeError(f"{self.name} printed {got[-1]}, expected "
                            f'{{"listening":"{expected}","tls":false}}')

    def stdout_lines(self):
        if self._run is None:
            return []
        with self._run.cond:
            return list(self._run.lines)

    def _reap(self, run):
        run.thread.join(5)
        try:
            run.proc.stdout.close()
        except OSError:
            pass

    def kill(self):
        """SIGKILL; returns once reaped."""
        run, self._run = self._run, None
        if run is None:
            return
        _kill_and_reap(run.proc)
        self._reap(run)

    def stop(self, timeout=20):
        """SIGTERM, then SIGKILL after `timeout` s. Returns the exit code, or
        None when it had to be killed (or was not running)."""
        run, self._run = self._run, None
        if run is None:
            return None
        proc = run.proc
        code = proc.poll()
        if code is None:
            proc.send_signal(signal.SIGTERM)
            try:
                code = proc.wait(timeout)
            except subprocess.TimeoutExpired:
                _kill_and_reap(proc)
                code = None
        self._reap(run)
        return code

    def restart(self, timeout=30):
        if self.running():
            self.stop()
        else:
            self.kill()  # reap an exited process
        return self.start(timeout)

    def wipe(self):
        """Removes the store directory (the node must be stopped)."""
        if self.running():
            raise NodeError(f"{self.name} is running: stop it before wiping its directory")
        shutil.rmtree(self.store_dir, ignore_errors=True)

    def log_tail(self, limit=4000):
        return _tail(self.log_path, limit)

    def log_story(self, limit=4000):
        """The end of the log without the lines of successful GETs (the
        harness polls /v1/cluster every 100 ms): lifecycle lines, writes,
        errors."""
        try:
            with open(self.log_path, "rb") as f:
                f.seek(0, os.SEEK_END)
                f.seek(max(0, f.tell() - (8 << 20)))
                lines = f.read().decode(errors="replace").splitlines()
        except OSError:
            return ""
        kept = [line for line in lines
                if not ('"method":"GET"' in line and '"status":200' in line)]
        return "\n".join(kept)[-limit:]


# --- the group ---------------------------------------------------------------------

class ClusterError(AssertionError):
    pass


class QuipuCluster:
    """An etcd cluster, a token file with one token (emit,query,admin), the
    peer token file (the same token), and n quipu nodes n1..nN, node i
    reaching etcd member j through proxies[i][j] only."""

    RETRY_STATUSES = (503,)

    def __init__(self, n=3, etcd_members=3, group="audit", dir=None, node_args=(),
                 lease_ttl=2):
        self._own_dir = dir is None
        self.dir = dir or tempfile.mkdtemp(prefix="quipu-replication-")
        self.proxies = []
        self.nodes = []
        try:
            self._build(n, etcd_members, group, node_args, lease_ttl)
        except BaseException:
            for proxies in self.proxies:
                for p in proxies:
                    p.close()
            if self._own_dir:
                shutil.rmtree(self.dir, ignore_errors=True)
            raise
        self._local = threading.local()
        self._sessions = []
        self._sessions_lock = threading.Lock()
        self._writer_hint = None
        self._stopped = False

    def _build(self, n, etcd_members, group, node_args, lease_ttl):
        self.group = group
        self.etcd = EtcdCluster(etcd_members, dir=os.path.join(self.dir, "etcd"))
        self.config = os.path.join(self.dir, "tokens.json")
        self.token = serverlib.create_token(self.config, "emit,query,admin", name="replication")
        self.peer_token_file = os.path.join(self.dir, "peer.token")
        fd = os.open(self.peer_token_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(self.token + "\n")
        os.chmod(self.peer_token_file, 0o600)
        ports = free_ports(n)
        for i in range(n):
            name = f"n{i + 1}"
            proxies = [TcpProxy("127.0.0.1", m["client"]) for m in self.etcd.members]
            self.proxies.append(proxies)
            self.nodes.append(QuipuNode(name, [p.endpoint() for p in proxies], group,
                                        self.config, self.peer_token_file, ports[i],
                                        os.path.join(self.dir, name, "store"),
                                        log_dir=self.dir, extra_args=node_args,
                                        lease_ttl=lease_ttl))

    # --- lifecycle -------------------------------------------------------

    def start(self, timeout=60):
        """Starts etcd and every node; returns once one node is the writer."""
        self.etcd.start()
        for node in self.nodes:
            node.start(timeout=30)
        return self.writer(timeout=timeout)

    def stop(self, keep_dir=False):
        if self._stopped:
            return
        self._stopped = True
        for node in self.nodes:
            if node.running() and node.stop(timeout=10) is None:
                log(f"{node.name} did not stop within 10 s of SIGTERM: killed")
            node.kill()
        for proxies in self.proxies:
            for p in proxies:
                p.close()
        self.etcd.stop()
        with self._sessions_lock:
            for s in self._sessions:
                s.close()
            self._sessions = []
        if self._own_dir and not keep_dir:
            shutil.rmtree(self.dir, ignore_errors=True)

    def node(self, name):
        return next(n for n in self.nodes if n.name == name)

    def node_at(self, url):
        """The node whose advertised URL `url` starts with, or None."""
        for n in self.nodes:
            if url == n.base or url.startswith(n.base + "/") or url.startswith(n.base + "?"):
                return n
        return None

    def live(self):
        return [n for n in self.nodes if n.running()]

    def block(self, node):
        """Cuts `node` off from every etcd member (its proxies only)."""
        for p in self.proxies[self.nodes.index(node)]:
            p.block()

    def unblock(self, node):
        for p in self.proxies[self.nodes.index(node)]:
            p.unblock()

    # --- HTTP ----------------------------------------------------------------

    def session(self):
        """A requests session of the calling thread."""
        s = getattr(self._local, "session", None)
        if s is None:
            s = self._local.session = _session()
            with self._sessions_lock:
                self._sessions.append(s)
        return s

    def headers(self, extra=None):
        return {**serverlib.auth(self.token), **(extra or {})}

    def get(self, node, path, timeout=serverlib.HTTP_TIMEOUT, token=True, **kwargs):
        return self.session().get(node.url(path), headers=self.headers() if token else {},
                                  timeout=timeout, allow_redirects=False, **kwargs)

    def cluster_info(self, node, timeout=5):
        """GET /v1/cluster of `node`, as JSON (raises on failure)."""
        r = self.get(node, "/v1/cluster", timeout=timeout)
        if r.status_code != 200:
            raise ClusterError(f"{node.name}: GET /v1/cluster answered {r.status_code}: "
                               f"{r.text[:300]}")
        return r.json()

    def try_info(self, node, timeout=2):
        """cluster_info, or None when the node does not answer it now."""
        try:
            return self.cluster_info(node, timeout)
        except (requests.RequestException, ValueError, ClusterError):
            return None

    def infos(self, nodes=None, timeout=2):
        return {n.name: self.try_info(n, timeout) for n in (nodes or self.nodes)}

    def writer(self, timeout=15, among=None):
        """The node whose /v1/cluster says role "writer" (among `among`, by
        default every node). When two say so (an old writer that has not
        noticed yet), the one the others name as writer. Polls every 100 ms."""
        among = among or self.nodes
        deadline = time.monotonic() + timeout
        while True:
            infos = {n: self.try_info(n, timeout=1) for n in among}
            writers = [n for n, i in infos.items() if i and i.get("role") == "writer"]
            if len(writers) == 1:
                self._writer_hint = writers[0]
                return writers[0]
            if len(writers) > 1:
                votes = {w: sum(1 for i in infos.values()
                                if i and (i.get("writer") or {}).get("node") == w.name)
                         for w in writers}
                best = max(votes.values())
                top = [w for w, v in votes.items() if v == best]
                if len(top) == 1 and best > len(among) // 2:
                    self._writer_hint = top[0]
                    return top[0]
            if time.monotonic() > deadline:
                raise ClusterError(f"no single writer within {timeout} s:\n"
                                   + self.describe(among))
            time.sleep(0.1)

    def wait_converged(self, timeout=60, nodes=None):
        """Waits until every node of `nodes` (default: every running node)
        answers /v1/cluster with applied == durable == the writer's head, one
        tree size and one root, and none is fenced. Returns {name: info}."""
        deadline = time.monotonic() + timeout
        last = None
        while True:
            group = nodes or self.live()
            infos = {n.name: self.try_info(n, timeout=2) for n in group}
            last = infos
            fenced = {name: i["fenced"] for name, i in infos.items()
                      if i and (i.get("fenced") is not None or i.get("role") == "fenced")}
            if fenced:  # for good: a fenced node needs an operator
                raise ClusterError(f"fenced: {json.dumps(fenced)}; answers:\n"
                                   + json.dumps(infos, indent=1)[:6000] + "\n"
                                   + self.describe(group, infos=False))
            if all(infos.values()):
                writers = [i for i in infos.values() if i["role"] == "writer"]
                if len(writers) == 1:
                    head = writers[0]["head"]
                    # durable == head too: the writer holds nothing the group
                    # has not committed (a write answered at ?ack=local is
                    # durable there before its commit).
                    if (all(i["applied"] == head and i["durable"] == head
                            for i in infos.values())
                            and len({i["tree_size"] for i in infos.values()}) == 1
                            and len({i["root"] for i in infos.values()}) == 1
                            and all(i.get("fenced") is None and i["role"] != "fenced"
                                    for i in infos.values())):
                        return infos
            if time.monotonic() > deadline:
                raise ClusterError(f"not converged within {timeout} s; last answers:\n"
                                   + json.dumps(last, indent=1)[:6000] + "\n"
                                   + self.describe(group, infos=False))
            time.sleep(0.2)

    def _find_writer_once(self, candidates):
        """One quick pass: a candidate that says it is the writer, else the
        one the others name; None when nobody knows."""
        named = None
        for n in candidates:
            info = self.try_info(n, timeout=1)
            if not info:
                continue
            if info.get("role") == "writer":
                return n
            w = info.get("writer") or {}
            named = named or self.node_at(w.get("url") or "") or next(
                (c for c in candidates if c.name == w.get("node")), None)
        return named if named in candidates else None

    def write(self, path, body, content_type, key=None, params=None, deadline=30,
              nodes=None, request_timeout=serverlib.HTTP_TIMEOUT, retry_timeouts=None):
        """POSTs a write to the writer and returns (status, JSON body).

        Follows 307s itself (re-sending the Authorization header, which
        requests drops on a redirect to another port), and retries on
        connection errors, timeouts and 503 until `deadline` s have passed.
        A request that may have reached the server (a timeout, a connection
        lost after sending) is sent again only when `key` makes that safe
        (or `retry_timeouts` says so); otherwise (None, reason). Other
        statuses are returned as they are; (None, reason) when the deadline
        passed. `nodes` limits the nodes tried (default: all)."""
        candidates = nodes or self.nodes
        session = self.session()
        headers = self.headers({"Content-Type": content_type})
        if key is not None:
            headers["Idempotency-Key"] = key
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
        if retry_timeouts is None:
            retry_timeouts = key is not None
        end = time.monotonic() + deadline
        rotation = 0
        target = self._writer_hint if self._writer_hint in candidates else None
        url, hops, why = None, 0, "no attempt"
        while time.monotonic() < end:
            if url is None:
                if target is None:
                    target = self._find_writer_once(candidates)
                if target is None:
                    target = candidates[rotation % len(candidates)]
                    rotation += 1
                url, hops = target.url(path), 0
            left = end - time.monotonic()
            try:
                r = session.post(url, data=body, headers=headers,
                                 params=params if hops == 0 else None,
                                 timeout=max(0.5, min(request_timeout, left)),
                                 allow_redirects=False)
            except requests.Timeout as e:
                why = f"{url}: {e}"
                if not retry_timeouts and not isinstance(e, requests.ConnectTimeout):
                    return None, why  # unknown outcome, and no key to retry safely
                url = target = None
                continue
            except requests.ConnectionError as e:
                why = f"{url}: {e}"
                if not retry_timeouts and "NewConnectionError" not in repr(e):
                    return None, why  # perhaps received: unknown outcome
                url = target = None
                time.sleep(0.05)
                continue
            if r.status_code == 307 and hops < 3 and r.headers.get("Location"):
                url = r.headers["Location"]  # the same path and query, on the writer
                hops += 1
                target = self.node_at(url)
                why = f"307 to {url}"
                continue
            if r.status_code in self.RETRY_STATUSES or r.status_code == 307:
                why = f"{url}: {r.status_code} {r.text[:200]}"
                url = target = None
                time.sleep(0.1)
                continue
            if target is not None and r.status_code < 300:
                self._writer_hint = target
            try:
                answer = r.json()
            except ValueError:
                answer = {"text": r.text}
            return r.status_code, answer
        return None, f"deadline of {deadline} s passed; last: {why}"

    def post_event(self, event, key=None, params=None, deadline=30, nodes=None):
        """POST /v1/events to the writer: (status, JSON)."""
        return self.write("/v1/events", event, serverlib.JSON, key=key, params=params,
                          deadline=deadline, nodes=nodes)

    def post_batch(self, events, params=None, deadline=30, nodes=None):
        """POST /v1/events:batch (NDJSON) to the writer: (status, JSON). A
        timed-out batch is sent again only when every line carries its
        "idempotency_key"."""
        safe = all("idempotency_key" in e for e in events)
        return self.write("/v1/events:batch", serverlib.ndjson(events), serverlib.NDJSON,
                          params=params, deadline=deadline, nodes=nodes, retry_timeouts=safe)

    # --- diagnostics -----------------------------------------------------

    def describe(self, nodes=None, infos=True, log_bytes=2500):
        """Every node's state, /v1/cluster and log tail, and etcd's, for a
        failure message."""
        out = []
        for n in nodes or self.nodes:
            state = f"pid {n.pid}, {n.reexecs} re-executions" if n.running() else "not running"
            out.append(f"=== {n.name} ({n.base}, {state}, starts {n.starts})")
            if infos and n.running():
                info = self.try_info(n, timeout=1)
                out.append("cluster: " + (json.dumps(info) if info else "no answer"))
            out.append(n.log_story(log_bytes))
        for i in range(len(self.etcd)):
            out.append(f"=== etcd m{i} ({'running' if self.etcd.running(i) else 'not running'})")
            out.append(self.etcd.log_tail(i, 800))
        return "\n".join(out)


# --- self-check of the etcd parts ---------------------------------------------------

def _curl(*args, max_time=10):
    done = subprocess.run(["curl", "-sS", "--max-time", str(max_time), *args],
                          capture_output=True, text=True, timeout=30)
    return done.returncode, done.stdout.strip(), done.stderr.strip()


def _curl_ok(*args, expect, within=15):
    """curl until its output holds `expect` (etcd may answer "request timed
    out" while it elects a leader, more so on a loaded machine)."""
    deadline = time.monotonic() + within
    while True:
        rc, out, err = _curl(*args)
        if rc == 0 and expect in out:
            return out
        if time.monotonic() > deadline:
            raise AssertionError(f"curl {args}: exit {rc}, {out!r} {err!r}")
        time.sleep(0.2)


def _self_check():
    if not etcd_available():
        print(f"skipped: no {ETCD}: {SETUP_HINT}")
        return 77
    started = time.monotonic()
    cluster = EtcdCluster(3)
    proxies = []
    try:
        cluster.start()
        log(f"3 etcd members healthy: {cluster.endpoints()} (leader m{cluster.leader_index()})")
        proxies = [TcpProxy("127.0.0.1", m["client"]) for m in cluster.members]
        log(f"proxies: {[p.endpoint() for p in proxies]}")

        out = _curl_ok("-X", "POST", proxies[0].endpoint() + "/v3/kv/put",
                       "-d", '{"key":"Zm9v","value":"YmFy"}', expect='"revision"')
        log(f"put foo=bar through proxy 0: {out}")
        out = _curl_ok("-X", "POST", proxies[1].endpoint() + "/v3/kv/range",
                       "-d", '{"key":"Zm9v"}', expect='"value":"YmFy"')
        log(f"range foo through proxy 1: {out}")

        # An open connection is cut by block().
        sock = socket.create_connection(("127.0.0.1", proxies[0].port), timeout=3)
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        first = sock.recv(65536)
        assert b"200 OK" in first, first
        deadline = time.monotonic() + 3
        while proxies[0].open_connections() == 0 and time.monotonic() < deadline:
            time.sleep(0.01)
        proxies[0].block()
        sock.settimeout(3)
        try:
            cut = sock.recv(65536)
        except OSError as e:
            cut = repr(e)
        sock.close()
        assert cut in (b"",) or "reset" in str(cut).lower(), cut
        log(f"block(): an open keep-alive connection ended ({cut!r})")

        t0 = time.monotonic()
        rc, out, err = _curl("-X", "POST", proxies[0].endpoint() + "/v3/kv/range",
                             "-d", '{"key":"Zm9v"}', max_time=3)
        assert rc != 0, (rc, out, err)
        log(f"blocked proxy 0: curl failed after {time.monotonic() - t0:.1f} s "
            f"(exit {rc}: {err})")
        _curl_ok("-X", "POST", proxies[1].endpoint() + "/v3/kv/range",
                 "-d", '{"key":"Zm9v"}', expect="YmFy")
        log("proxy 1 still forwards")

        proxies[0].unblock()
        _curl_ok("-X", "POST", proxies[0].endpoint() + "/v3/kv/range",
                 "-d", '{"key":"Zm9v"}', expect="YmFy")
        log("unblocked proxy 0: forwards again")

        cluster.kill(2)
        rc, out, err = _curl("-X", "POST", proxies[2].endpoint() + "/v3/kv/range",
                             "-d", '{"key":"Zm9v"}')
        assert rc != 0, (rc, out, err)
        log(f"killed member 2: its proxy fails fast (exit {rc}: {err})")
        _curl_ok("-X", "POST", proxies[0].endpoint() + "/v3/kv/put",
                 "-d", '{"key":"Zm9v","value":"YmF6"}', expect='"revision"')
        log("two members of three still take writes")
        cluster.restart(2)
        _curl_ok("-X", "POST", proxies[2].endpoint() + "/v3/kv/range",
                 "-d", '{"key":"Zm9v"}', expect="YmF6")
        log("restarted member 2 (existing state): it serves the newer value")
        assert cluster.range("fo") == {"foo": b"baz"}, cluster.range("fo")
        log(f"range('fo') = {cluster.range('fo')}")
    except BaseException:
        for i in range(len(cluster)):
            running = "running" if cluster.running(i) else "not running"
            print(f"=== etcd m{i} ({running}):\n{cluster.log_tail(i, 4000)}", flush=True)
        raise
    finally:
        for p in proxies:
            p.close()
        pids = [m["proc"].pid for m in cluster.members if m["proc"]]
        cluster.stop()
    for pid in pids:
        assert not os.path.exists(f"/proc/{pid}") or _zombie_or_gone(pid), pid
    assert not os.path.exists(cluster.dir), cluster.dir
    log(f"self-check passed in {time.monotonic() - started:.1f} s; members stopped, "
        "directory removed")
    return 0


def _zombie_or_gone(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ", 1)[1].startswith("Z")
    except OSError:
        return True


if __name__ == "__main__":
    sys.exit(_self_check())
