#!/usr/bin/python3
"""Writes: idempotency keys (header and body, across a restart), the two
acks (durable 200, appended 202), and NDJSON batches, atomic or not."""

import json

import serverlib
from serverlib import NDJSON, make_event, ndjson


class IdempotencyTest(serverlib.ServerTest):

    def test_same_key_twice_is_one_event(self):
        first = self.post_event(make_event("k"), key="key-1")
        self.assertEqual(first.status_code, 200, first.text)
        self.assertIs(first.json()["duplicate"], False)
        again = self.post_event(make_event("k"), key="key-1")
        self.assertEqual(again.status_code, 200, again.text)
        self.assertEqual((again.json()["log_id"], again.json()["lsn"], again.json()["duplicate"]),
                         (first.json()["log_id"], first.json()["lsn"], True))
        self.assertEqual(self.count(), 1)

    def test_key_in_the_body_works_like_the_header(self):
        event = dict(make_event("b"), idempotency_key="body-key")
        first = self.emit(event)
        again = self.emit(event)
        self.assertEqual((again["log_id"], again["duplicate"]), (first["log_id"], True))
        self.assertEqual(self.count(), 1)

    def test_same_key_other_body_is_409(self):
        self.emit(make_event("one"), key="key-2")
        self.assert_error(self.post_event(make_event("two"), key="key-2"), 409)
        self.assertEqual(self.count(), 1)

    def test_bad_keys_are_400(self):
        for key in ("", "a" * 129, "has space", "tab\there", "é"):
            with self.subTest(key=key):
                headers = {"Idempotency-Key": key.encode("utf-8")}
                r = self.post("/v1/events", make_event("bad"), self.admin, headers=headers)
                self.assert_error(r, 400, "invalid_argument")
        self.assertEqual(self.post_event(make_event("ok"), key="!" + "~" * 127).status_code, 200)
        self.assertEqual(self.count(), 1)

    def test_retry_after_restart_is_a_duplicate(self):
        first = self.emit(make_event("r"), key="key-3")
        body_key = self.emit(dict(make_event("s"), idempotency_key="key-4"))
        self.assertEqual(self.server.stop(), 0)
        self.server.start()
        again = self.emit(make_event("r"), key="key-3")
        self.assertEqual((again["log_id"], again["duplicate"]), (first["log_id"], True))
        again = self.emit(dict(make_event("s"), idempotency_key="key-4"))
        self.assertEqual((again["log_id"], again["duplicate"]), (body_key["log_id"], True))
        self.assert_error(self.post_event(make_event("other"), key="key-3"), 409)
        self.assertEqual(self.count(), 2)

    def test_duplicate_key_inside_one_batch(self):
        event = dict(make_event("in-batch"), idempotency_key="batch-key")
        r = self.post("/v1/events:batch", ndjson([event, event]), self.admin,
                      content_type=NDJSON)
        self.assertEqual(r.status_code, 200, r.text)
        results = r.json()["results"]
        self.assertEqual(results[0]["log_id"], results[1]["log_id"])
        self.assertEqual([x["duplicate"] for x in results], [False, True])
        self.assertEqual(self.count(), 1)


class AckTest(serverlib.ServerTest):

    def test_durable_is_the_default(self):
        r = self.post_event(make_event("d"))
        self.assertEqual((r.status_code, r.json()["durable"]), (200, True))
        r = self.post_event(make_event("d2"), params={"ack": "durable"})
        self.assertEqual((r.status_code, r.json()["durable"]), (200, True))

    def test_ack_appended_is_202(self):
        r = self.post_event(make_event("a"), params={"ack": "appended"})
        self.assertEqual(r.status_code, 202, r.text)
        self.assertEqual(set(r.json()), {"log_id", "lsn", "durable", "duplicate"})
        self.assertIs(r.json()["durable"], False)
        self.assertEqual(self.count(), 1)

    def test_bad_ack_is_400(self):
        self.assert_error(self.post_event(make_event("x"), params={"ack": "whenever"}), 400)
        self.assertEqual(self.count(), 0)

    def test_os_policy_store_answers_202(self):
        store = self.store + "-os"
        server = self.start_server("--durability", "os", store=store)
        r = self.post_event(make_event("os"), server=server)
        self.assertEqual(r.status_code, 202, r.text)
        self.assertIs(r.json()["durable"], False)

    def test_each_durability_policy_serves(self):
        # every:N,MS is the spelling of every other verb (ingest, emit, bench).
        for i, policy in enumerate(("always", "group", "every:8,5")):
            with self.subTest(policy=policy):
                server = self.start_server("--durability", policy, store=f"{self.store}-{i}")
                r = self.post_event(make_event(policy), server=server)
                self.assertEqual((r.status_code, r.json()["durable"]), (200, True), r.text)
                self.assertEqual(server.stop(), 0)


class BatchTest(serverlib.ServerTest):

    def batch(self, lines, params=None):
        body = b"".join(x if isinstance(x, bytes) else json.dumps(x).encode() + b"\n"
                        for x in lines)
        return self.post("/v1/events:batch", body, self.admin, content_type=NDJSON,
                         params=params)

    def test_non_atomic_refuses_bad_lines_alone(self):
        bad_event = {"actor": {"type": "nope", "id": "x"}}
        r = self.batch([make_event("g1"), bad_event, b"{not json\n", make_event("g2")])
        self.assertEqual(r.status_code, 200, r.text)
        body = r.json()
        self.assertEqual((body["written"], body["failed"], body["durable"]), (2, 2, True))
        results = body["results"]
        self.assertEqual(len(results), 4)
        self.assertEqual((results[0]["log_id"], results[3]["log_id"]), (1, 2))
        self.assertEqual([h["url"] for h in self.query_all()], ["/t/g1", "/t/g2"])
        for bad in (results[1], results[2]):
            # The error body of the spec, one per refused line.
            self.assertEqual(set(bad), {"error"}, bad)
            self.assertEqual(set(bad["error"]), {"code", "message"}, bad)
            self.assertEqual(bad["error"]["code"], "invalid_argument")

    def test_atomic_writes_nothing_on_a_bad_line(self):
        r = self.batch([make_event("a1"), {"actor": {"type": "nope", "id": "x"}},
                        make_event("a2")], params={"atomic": "true"})
        self.assertEqual(r.status_code, 400, r.text)
        self.assertEqual(self.count(), 0)
        refused = r
        r = self.batch([make_event("a1"), make_event("a2")], params={"atomic": "true"})
        self.assertEqual(r.status_code, 200, r.text)
        self.assertEqual((r.json()["written"], r.json()["failed"]), (2, 0))
        self.assertEqual(self.count(), 2)
        # Like every 4xx, the refusal is the error body, naming the bad line.
        error = self.assert_error(refused, 400, "invalid_argument")
        self.assertIn("line 2", error["message"])

    def test_invalid_utf8_line(self):
        good = json.dumps(make_event("u")).encode() + b"\n"
        r = self.batch([good, b'{"actor":{"type":"default_actor","id":"\xff"}}\n', good])
        self.assertEqual(r.status_code, 200, r.text)
        self.assertEqual((r.json()["written"], r.json()["failed"]), (2, 1))

    def test_last_line_without_newline(self):
        body = ndjson([make_event("n1")]) + json.dumps(make_event("n2")).encode()
        r = self.post("/v1/events:batch", body, self.admin, content_type=NDJSON)
        self.assertEqual(r.status_code, 200, r.text)
        self.assertEqual(r.json()["written"], 2)

    def test_empty_batch(self):
        r = self.post("/v1/events:batch", b"", self.admin, content_type=NDJSON)
        self.assertIn(r.status_code, (200, 400), r.text)
        if r.status_code == 200:
            self.assertEqual((r.json()["written"], r.json()["results"]), (0, []))
        self.assertEqual(self.count(), 0)


if __name__ == "__main__":
    serverlib.main()
