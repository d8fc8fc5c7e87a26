#!/usr/bin/python3
"""Black-box tests of a replicated quipu group on etcd (docs/replication.md):
three real etcd members, three `quipu serve --etcd ...` nodes, each reaching
etcd through its own TCP proxies (replicalib), and only real clients
(requests, curl).

Each test prints its seed; QUIPU_SEED=N replays the random choices of a run
(which node or member is killed, when, for how long). QUIPU_DRILL_FULL=1
makes the failover drill longer (60 s of writes, more kills).
QUIPU_KEEP_DIR=1 keeps a failed test's directory (logs, stores, etcd data).

Exits 77 (skipped) without /usr/bin/etcd (scripts/setup.sh installs it) or
when the binary's `serve` has no --etcd yet."""

import collections
import json
import os
import random
import re
import subprocess
import sys
import threading
import time

import requests

import replicalib
import serverlib
from serverlib import make_event

FULL = os.environ.get("QUIPU_DRILL_FULL") == "1"
CLUSTER_KEYS = {"group", "node", "role", "writer", "head", "applied", "durable", "tree_size",
                "root", "fenced", "nodes"}
NODE_KEYS = {"node", "url", "role", "applied", "tree_size", "root"}
HEX = re.compile(r"(?:[0-9a-f]{64})?")


def tagged_event(tag, actor="alice"):
    """An event findable by its tag twice over: url "/t/TAG" (rows show it)
    and content {"tag": TAG}."""
    return make_event(tag, actor=actor, content={"tag": tag})


def tag_of(row):
    return row["url"][len("/t/"):] if row["url"].startswith("/t/") else None


class ReplicationTest(serverlib.ServerTest):
    """One fresh group per test: 3 etcd members, 3 nodes (n1..n3)."""

    TEST_SECONDS = 150  # the watchdog of each test; the drill's is longer
    DRILL_SECONDS = 420 if FULL else 240

    def setUp(self):
        if self._testMethodName == "test_failover_drill_loses_no_acknowledged_event":
            self.TEST_SECONDS = self.DRILL_SECONDS
        self._arm_watchdog()
        self._failed = False
        seed = os.environ.get("QUIPU_SEED")
        self.seed = int(seed) if seed else random.SystemRandom().getrandbits(32)
        print(f"\n{self.id()}: QUIPU_SEED={self.seed}", flush=True)
        self.rng = random.Random(self.seed)
        self.session = requests.Session()
        self.session.trust_env = False
        self.addCleanup(self.session.close)
        self.server = None  # ServerTest's helpers always get server=node here
        self.cluster = replicalib.QuipuCluster(3)
        self.addCleanup(self._stop_cluster)
        self.dir = self.cluster.dir
        self.admin = self.cluster.token
        self.cluster.start()

    def _stop_cluster(self):
        keep = self._failed and os.environ.get("QUIPU_KEEP_DIR") == "1"
        if keep:
            print(f"kept {self.cluster.dir}", flush=True)
        self.cluster.stop(keep_dir=keep)

    def _callTestMethod(self, method):
        # On a failure, show every node's state and log before cleanup stops them.
        try:
            method()
        except BaseException:
            self._failed = True
            try:
                print("\n--- the group when the test failed ---\n" + self.cluster.describe(),
                      flush=True)
            except BaseException as e:  # the watchdog may fire again
                print(f"(no diagnostics: {e!r})", flush=True)
            raise

    # --- helpers ---------------------------------------------------------

    def others(self, node):
        return [n for n in self.cluster.nodes if n is not node]

    def emit_all(self, events, batch_every=0, prefix=""):
        """Posts `events` (dicts with their tag in url) through the writer:
        every `batch_every`-th group of 20 goes as one NDJSON batch. Returns
        {tag: log_id}; asserts every answer is 200 and durable."""
        acked = {}
        i = 0
        group = 0
        while i < len(events):
            group += 1
            if batch_every and group % batch_every == 0:
                chunk = [dict(e, idempotency_key=prefix + tag_of(e)) for e in events[i:i + 20]]
                status, answer = self.cluster.post_batch(chunk)
                self.assertEqual(status, 200, answer)
                self.assertIs(answer["durable"], True, answer)
                self.assertEqual((answer["written"], answer["failed"]), (len(chunk), 0), answer)
                for e, result in zip(chunk, answer["results"]):
                    acked[tag_of(e)] = result["log_id"]
                i += len(chunk)
            else:
                for e in events[i:i + 20]:
                    status, answer = self.cluster.post_event(e, key=prefix + tag_of(e))
                    self.assertEqual(status, 200, answer)
                    self.assertIs(answer["durable"], True, answer)
                    acked[tag_of(e)] = answer["log_id"]
                i += 20
        return acked

    def rows_of(self, node):
        return self.query_all(token=self.admin, server=node)

    def assert_same_rows_everywhere(self, nodes=None):
        """Every node answers the same rows; returns them."""
        nodes = nodes or self.cluster.nodes
        first = self.rows_of(nodes[0])
        for node in nodes[1:]:
            rows = self.rows_of(node)
            self.assertEqual(len(rows), len(first), f"{node.name} vs {nodes[0].name}")
            for a, b in zip(first, rows):
                self.assertEqual(a, b, f"{node.name} vs {nodes[0].name}")
        return first

    def assert_roots_equal(self, nodes=None, infos=None):
        nodes = nodes or self.cluster.nodes
        roots = {}
        for node in nodes:
            r = self.cluster.get(node, "/v1/root")
            self.assertEqual(r.status_code, 200, r.text)
            roots[node.name] = r.json()
        self.assertEqual(len({(v["tree_size"], v["root"]) for v in roots.values()}), 1, roots)
        if infos:
            for name, info in infos.items():
                self.assertEqual((info["tree_size"], info["root"]),
                                 (roots[name]["tree_size"], roots[name]["root"]),
                                 f"{name}: /v1/cluster and /v1/root disagree")
        return next(iter(roots.values()))

    def assert_none_fenced(self):
        for node in self.cluster.nodes:
            self.assertTrue(node.running(), f"{node.name} exited:\n{node.log_tail()}")
            info = self.cluster.cluster_info(node)
            self.assertIsNone(info["fenced"], info)
            self.assertNotEqual(info["role"], "fenced", info)
            r = self.cluster.get(node, "/readyz", token=False)
            self.assertEqual(r.status_code, 200, f"{node.name}: {r.text}")

    # --- the tests ---------------------------------------------------------

    def test_events_reach_every_node_with_equal_roots(self):
        writer = self.cluster.writer()
        follower = self.rng.choice(self.others(writer))
        events = [tagged_event(f"e{i}", actor=f"actor-{i % 7}") for i in range(200)]
        acked = self.emit_all(events, batch_every=2)  # 100 one by one, 100 in 5 batches
        self.assertEqual(len(acked), 200)
        self.assertEqual(len(set(acked.values())), 200, "two events got one log_id")

        # A write sent to a follower is redirected to the writer, path and
        # query kept, and the writer named.
        body = json.dumps(tagged_event("redirected")).encode()
        for query in ("", "?ack=local"):
            r = self.session.post(follower.url("/v1/events" + query), data=body,
                                  headers={**serverlib.auth(self.admin),
                                           "Content-Type": serverlib.JSON,
                                           "Idempotency-Key": "redirected"},
                                  allow_redirects=False, timeout=serverlib.HTTP_TIMEOUT)
            self.assertEqual(r.status_code, 307, r.text)
            self.assertEqual(r.headers.get("Location"), writer.url("/v1/events" + query))
            self.assertIn(r.headers.get("Quipu-Writer"), (writer.name, writer.base), r.headers)
        # Following it by hand, with the token, writes the event.
        r = self.session.post(r.headers["Location"], data=body,
                              headers={**serverlib.auth(self.admin),
                                       "Content-Type": serverlib.JSON,
                                       "Idempotency-Key": "redirected"},
                              allow_redirects=False, timeout=serverlib.HTTP_TIMEOUT)
        self.assertEqual(r.status_code, 200, r.text)
        acked["redirected"] = r.json()["log_id"]

        # curl, told to follow redirects and keep the token, gets a 200 from a follower.
        code, status, out = serverlib.curl(
            "-L", "--location-trusted", "-X", "POST",
            "-H", f"Authorization: Bearer {self.admin}", "-H", "Content-Type: application/json",
            "-H", "Idempotency-Key: via-curl",
            "--data-binary", json.dumps(tagged_event("via-curl")),
            follower.url("/v1/events"))
        self.assertEqual((code, status), (0, 200), out)
        answer = json.loads(out)
        self.assertIs(answer["durable"], True, answer)
        acked["via-curl"] = answer["log_id"]

        # ?ack=local: answered once durable on the writer alone; still 200.
        status, answer = self.cluster.post_event(tagged_event("ack-local"), key="ack-local",
                                                 params={"ack": "local"})
        self.assertEqual(status, 200, answer)
        acked["ack-local"] = answer["log_id"]

        infos = self.cluster.wait_converged(60)
        rows = self.assert_same_rows_everywhere()
        by_tag = collections.Counter(tag_of(row) for row in rows)
        self.assertEqual({t for t, n in by_tag.items() if n > 1}, set(), "rows written twice")
        self.assertEqual(set(by_tag), set(acked))
        for row in rows:
            self.assertEqual(row["log_id"], acked[tag_of(row)], row)
            self.assertEqual(row["content"], {"tag": tag_of(row)}, row)
        self.assert_roots_equal(infos=infos)
        self.assert_none_fenced()

    def test_an_event_acknowledged_at_append_time_reaches_every_node(self):
        # ?ack=appended answers 202 at append time, as on one node. With no
        # write after it, the writer must still commit it, make it durable
        # itself and publish applied == head, or the group never converges.
        acked = self.emit_all([tagged_event(f"e{i}") for i in range(5)])
        status, answer = self.cluster.post_event(tagged_event("ack-appended"),
                                                 key="ack-appended", params={"ack": "appended"})
        self.assertEqual(status, 202, answer)
        self.assertIs(answer["durable"], False, answer)
        acked["ack-appended"] = answer["log_id"]
        infos = self.cluster.wait_converged(30)
        writer = next(i for i in infos.values() if i["role"] == "writer")
        self.assertGreaterEqual(writer["durable"], writer["head"], writer)
        rows = self.assert_same_rows_everywhere()
        self.assertEqual({tag_of(r): r["log_id"] for r in rows}, acked)
        self.assert_roots_equal(infos=infos)

    def test_failover_drill_loses_no_acknowledged_event(self):
        seconds = 60 if FULL else 20
        kills = self.rng.randint(5, 8) if FULL else self.rng.randint(2, 3)
        grace = 40  # for the keys still unanswered when the drill ends
        print(f"failover drill: {seconds} s of writes, {kills} writer kills", flush=True)
        acked = {}  # key -> (log_id, duplicate)
        unresolved, errors = [], []
        lock = threading.Lock()
        stop_new = threading.Event()
        give_up_at = time.monotonic() + seconds + grace

        def client(c):
            i = 0
            while not stop_new.is_set():
                key = f"c{c}-{i}"
                i += 1
                status, answer = self.cluster.post_event(
                    tagged_event(key, actor=f"client-{c}"), key=key,
                    deadline=max(0.5, give_up_at - time.monotonic()))
                with lock:
                    if status == 200 and answer.get("durable") is True:
                        acked[key] = (answer["log_id"], answer["duplicate"])
                    elif status is None:
                        unresolved.append((key, answer))
                        return
                    else:
                        errors.append((key, status, answer))
                        return

        threads = [threading.Thread(target=client, args=(c,), daemon=True) for c in range(4)]
        for t in threads:
            t.start()
        drill_end = time.monotonic() + seconds
        killed = 0
        for k in range(kills):
            # Spread the kills over the drill, leaving time to recover.
            slot = (drill_end - time.monotonic()) / (kills - k)
            time.sleep(self.rng.uniform(0.3, 0.7) * max(0.0, slot - 2))
            if killed >= 2 and time.monotonic() > drill_end - 3:
                break
            writer = self.cluster.writer(timeout=20)
            before = len(acked)
            writer.kill()
            killed += 1
            # Up to twice the lease TTL: back before a new writer is elected,
            # or after it committed past what the killed writer had appended
            # and not committed (a tail the restarted node must cut though it
            # lies below the group's head). The first kill always waits
            # long enough for the latter.
            pause = self.rng.uniform(3.0, 4.5) if killed == 1 else self.rng.uniform(0.2, 4.0)
            time.sleep(pause)
            writer.start()
            print(f"kill {killed}: writer {writer.name} SIGKILLed ({before} acknowledged before "
                  f"it), restarted after {pause:.1f} s", flush=True)
        time.sleep(max(0.0, drill_end - time.monotonic()))
        stop_new.set()
        for t in threads:
            t.join(max(1.0, give_up_at - time.monotonic() + 15))
        self.assertFalse(any(t.is_alive() for t in threads), "a client thread hangs")

        self.assertEqual(errors, [], "answers other than 200, 307 or 503")
        self.assertEqual(unresolved, [], f"keys unanswered {grace} s after the drill")
        self.assertGreaterEqual(killed, 2)
        self.assertGreater(len(acked), 0)

        infos = self.cluster.wait_converged(90)
        rows = self.assert_same_rows_everywhere()
        for node in self.cluster.nodes:
            node_rows = rows if node is self.cluster.nodes[0] else self.rows_of(node)
            per_key = collections.Counter(tag_of(r) for r in node_rows)
            log_id_of = {tag_of(r): r["log_id"] for r in node_rows}
            self.assertEqual([k for k, n in per_key.items() if n > 1], [],
                             f"{node.name}: events written twice")
            for key, (log_id, _) in acked.items():
                self.assertEqual(per_key[key], 1, f"{node.name}: acknowledged {key} missing")
                self.assertEqual(log_id_of[key], log_id, f"{node.name}: {key}")
            for r in node_rows:
                self.assertEqual(r["content"], {"tag": tag_of(r)}, r)
            # Clients retried until answered: every row was acknowledged.
            self.assertEqual(set(per_key), set(acked), node.name)
        self.assert_roots_equal(infos=infos)
        self.assert_none_fenced()
        duplicates = sum(1 for _, dup in acked.values() if dup)
        reexecs = {n.name: n.reexecs for n in self.cluster.nodes}
        print(f"failover drill: {killed} kills, {len(acked)} acknowledged ({duplicates} as "
              f"duplicates of a write whose answer was lost), {len(rows)} rows, "
              f"re-executions {reexecs}", flush=True)

    def test_killing_an_etcd_member_and_a_follower_keeps_the_group_writing(self):
        writer = self.cluster.writer()
        follower = self.rng.choice(self.others(writer))
        member = self.rng.randrange(len(self.cluster.etcd))
        leader = self.cluster.etcd.leader_index()
        print(f"killing etcd m{member} (leader: m{leader}) and follower {follower.name}",
              flush=True)
        acked = self.emit_all([tagged_event(f"before-{i}") for i in range(20)])
        self.cluster.etcd.kill(member)
        follower.kill()
        t0 = time.monotonic()
        acked.update(self.emit_all([tagged_event(f"during-{i}") for i in range(40)],
                                   batch_every=2))
        print(f"40 events acknowledged in {time.monotonic() - t0:.1f} s with etcd m{member} "
              f"and {follower.name} down", flush=True)
        survivors = [n for n in self.cluster.nodes if n is not follower]
        self.cluster.wait_converged(60, nodes=survivors)
        self.assert_same_rows_everywhere(survivors)

        self.cluster.etcd.restart(member)
        follower.start()
        acked.update(self.emit_all([tagged_event(f"after-{i}") for i in range(20)]))
        infos = self.cluster.wait_converged(60)
        rows = self.assert_same_rows_everywhere()
        self.assertEqual({tag_of(r): r["log_id"] for r in rows}, acked)
        self.assertEqual(len(rows), len(acked))
        self.assert_roots_equal(infos=infos)
        self.assert_none_fenced()

    def test_a_writer_cut_off_from_etcd_stops_acknowledging_and_does_not_diverge(self):
        acked = self.emit_all([tagged_event(f"before-{i}") for i in range(20)])
        old = self.cluster.writer()
        rest = self.others(old)
        self.cluster.block(old)
        cut_at = time.monotonic()
        print(f"cut {old.name} off from etcd", flush=True)

        # A write sent to the cut-off writer is never acknowledged.
        cut_off_answers = []

        def write_to_old(key):
            try:
                r = self.cluster.session().post(
                    old.url("/v1/events"), json=tagged_event(key),
                    headers=self.cluster.headers({"Idempotency-Key": key}),
                    allow_redirects=False, timeout=12)
                cut_off_answers.append((key, r.status_code, r.text[:300],
                                        time.monotonic() - cut_at))
            except requests.RequestException as e:
                cut_off_answers.append((key, None, repr(e)[:300], time.monotonic() - cut_at))

        t = threading.Thread(target=write_to_old, args=("cut-off-1",), daemon=True)
        t.start()

        # Another node becomes the writer within ~10 s.
        new = None
        while new is None:
            for n in rest:
                info = self.cluster.try_info(n, timeout=1)
                if info and info["role"] == "writer":
                    new = n
            if new is None:
                self.assertLess(time.monotonic() - cut_at, 10,
                                "no other node became the writer within 10 s:\n"
                                + self.cluster.describe())
                time.sleep(0.1)
        print(f"{new.name} is the writer {time.monotonic() - cut_at:.1f} s after the cut",
              flush=True)
        acked.update(self.emit_all_to(rest, [tagged_event(f"during-{i}") for i in range(20)]))

        t.join(15)
        self.assertFalse(t.is_alive())
        write_to_old("cut-off-2")  # now that another node writes
        for key, status, text, at in cut_off_answers:
            print(f"write {key} to the cut-off {old.name}: {status} after {at:.1f} s", flush=True)
            self.assertNotEqual(status, 200, f"{old.name} acknowledged {key} while cut off: "
                                             f"{text}")
            self.assertIn(status, (None, 307, 503), text)

        self.cluster.unblock(old)
        deadline = time.monotonic() + 30
        while True:
            self.assertTrue(old.running(), f"{old.name} exited:\n{old.log_tail()}")
            info = self.cluster.try_info(old, timeout=1)
            if info and info["role"] == "follower":
                break
            self.assertFalse(info and info["role"] == "fenced",
                             f"{old.name} fenced itself after the cut healed: {info}")
            self.assertLess(time.monotonic(), deadline, f"{old.name} is not a follower 30 s "
                            f"after the cut healed: {info}\n{old.log_tail()}")
            time.sleep(0.1)
        print(f"{old.name} rejoined as a follower ({old.reexecs} re-executions)", flush=True)

        acked.update(self.emit_all([tagged_event(f"after-{i}") for i in range(20)]))
        infos = self.cluster.wait_converged(60)
        rows = self.assert_same_rows_everywhere()
        tags = {tag_of(r): r["log_id"] for r in rows}
        self.assertNotIn("cut-off-1", tags, "an event the cut-off writer never acknowledged "
                                            "was committed")
        self.assertNotIn("cut-off-2", tags)
        self.assertEqual(tags, acked)
        self.assert_roots_equal(infos=infos)
        self.assert_none_fenced()

    def emit_all_to(self, nodes, events):
        acked = {}
        for e in events:
            status, answer = self.cluster.post_event(e, key=tag_of(e), nodes=nodes)
            self.assertEqual(status, 200, answer)
            self.assertIs(answer["durable"], True, answer)
            acked[tag_of(e)] = answer["log_id"]
        return acked

    def test_a_follower_from_an_empty_directory_catches_up_and_verifies(self):
        acked = self.emit_all([tagged_event(f"first-{i}") for i in range(60)], batch_every=3)
        writer = self.cluster.writer()
        follower = self.rng.choice(self.others(writer))
        self.cluster.wait_converged(60)
        self.assertEqual(follower.stop(), 0, follower.log_tail())
        follower.wipe()
        # Let its lease and nodes/ key expire, so that the writer may trim
        # the window behind the others and the follower must copy from a peer.
        time.sleep(3)
        acked.update(self.emit_all([tagged_event(f"second-{i}") for i in range(60)],
                                   batch_every=3))
        time.sleep(1)
        try:
            batches = sorted(self.cluster.etcd.range(f"/quipu/{self.cluster.group}/batch/",
                                                     keys_only=True))
            print(f"etcd holds {len(batches)} batches, from {batches[:1]}", flush=True)
        except replicalib.EtcdError as e:
            print(f"(could not list the batches: {e})", flush=True)

        follower.start(timeout=60)
        infos = self.cluster.wait_converged(90)
        rows = self.assert_same_rows_everywhere()
        self.assertEqual({tag_of(r): r["log_id"] for r in rows}, acked)
        self.assert_roots_equal(infos=infos)
        self.assert_none_fenced()

        self.assertEqual(follower.stop(), 0, follower.log_tail())
        done = serverlib.run_quipu("verify", follower.store_dir, check=False, timeout=120)
        self.assertEqual(done.returncode, 0, f"quipu verify:\n{done.stdout}\n{done.stderr}")

    def test_cluster_route_and_readiness(self):
        writer = self.cluster.writer()
        self.emit_all([tagged_event(f"e{i}") for i in range(3)])
        self.cluster.wait_converged(30)
        # Every node publishes itself every 250 ms: each soon lists all three
        # with the roles they have taken.
        deadline = time.monotonic() + 10
        names = {n.name for n in self.cluster.nodes}
        while True:
            infos = {n.name: self.cluster.cluster_info(n) for n in self.cluster.nodes}
            if all({e["node"] for e in i["nodes"]} == names
                   and all(e["role"] in ("writer", "follower") for e in i["nodes"])
                   for i in infos.values()):
                break
            self.assertLess(time.monotonic(), deadline, infos)
            time.sleep(0.1)

        roles = collections.Counter(i["role"] for i in infos.values())
        self.assertEqual(roles, {"writer": 1, "follower": 2}, infos)
        for node in self.cluster.nodes:
            info = infos[node.name]
            self.assertLessEqual(CLUSTER_KEYS, set(info), info)
            self.assertEqual(info["group"], self.cluster.group)
            self.assertEqual(info["node"], node.name)
            self.assertEqual(info["role"], "writer" if node is writer else "follower", info)
            self.assertIsInstance(info["writer"], dict, info)
            self.assertEqual((info["writer"].get("node"), info["writer"].get("url")),
                             (writer.name, writer.base), info)
            for field in ("head", "applied", "durable", "tree_size"):
                self.assertIsInstance(info[field], int, field)
                self.assertGreater(info[field], 0, field)
            self.assertIsInstance(info["root"], str)
            self.assertTrue(HEX.fullmatch(info["root"]) and info["root"], info["root"])
            self.assertIsNone(info["fenced"])
            self.assertEqual(len(info["nodes"]), 3, info["nodes"])
            for entry in info["nodes"]:
                self.assertLessEqual(NODE_KEYS, set(entry), entry)
                self.assertEqual(entry["url"], self.cluster.node(entry["node"]).base, entry)
                self.assertIn(entry["role"], ("writer", "follower"), entry)
            self.assertEqual({e["node"] for e in info["nodes"] if e["role"] == "writer"},
                             {writer.name}, info["nodes"])

            r = self.cluster.get(node, "/v1/cluster", token=False)
            self.assert_error(r, 401)
            for path in ("/readyz", "/healthz"):
                r = self.cluster.get(node, path, token=False)
                self.assertEqual(r.status_code, 200, f"{node.name} {path}: {r.text}")
        self.assert_roots_equal(infos=infos)


def main():
    if not replicalib.etcd_available():
        print(f"skipped: no {replicalib.ETCD}: {replicalib.SETUP_HINT}", flush=True)
        sys.exit(serverlib.SKIP_EXIT)
    probe = subprocess.run([serverlib.QUIPU, "serve", "--help"], capture_output=True, text=True,
                           timeout=30)
    if probe.returncode == 0 and "--etcd" not in probe.stdout + probe.stderr:
        print(f"skipped: {serverlib.QUIPU} serve has no --etcd (replication) yet", flush=True)
        sys.exit(serverlib.SKIP_EXIT)
    serverlib.main()


if __name__ == "__main__":
    main()
