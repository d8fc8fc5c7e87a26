#!/usr/bin/python3
"""Every route of `quipu serve` answers what the spec says, for a caller with
every grant: events in, rows, counts, exports, entities, types, columns, the
tree and its proofs, checkpoints, verification, and the public routes."""

import json
import os
import socket
import urllib.parse

import serverlib
from serverlib import NDJSON, make_event, ndjson, run_quipu


class RouteTest(serverlib.ServerTest):

    def test_public_routes_need_no_token(self):
        self.assertEqual(self.get("/healthz").json(), {"status": "ok"})
        r = self.get("/readyz")
        self.assertEqual(r.status_code, 200, r.text)
        self.assertIs(r.json()["ready"], True)
        r = self.get("/v1/openapi.json")
        self.assertEqual(r.status_code, 200)
        self.assertTrue(r.json()["openapi"].startswith("3.1"))

    def test_event_is_acked_durable_and_read_back(self):
        event = make_event("one", columns=None, content={"diff": "+1"})
        event["occurred_at"] = "2024-05-01T12:00:00Z"
        ack = self.emit(event)
        self.assertEqual(set(ack), {"log_id", "lsn", "durable", "duplicate"})
        self.assertEqual((ack["log_id"], ack["durable"], ack["duplicate"]), (1, True, False))
        hits = self.query_all()
        self.assertEqual(len(hits), 1)
        hit = hits[0]
        self.assertEqual(set(hit), {"log_id", "lsn", "timestamp", "actor", "method", "url",
                                    "content", "columns", "targets"})
        self.assertEqual((hit["log_id"], hit["lsn"]), (ack["log_id"], ack["lsn"]))
        self.assertEqual(hit["timestamp"], "2024-05-01T12:00:00.000000Z")
        self.assertEqual(hit["actor"]["id"], "alice")
        self.assertEqual(hit["url"], "/t/one")
        self.assertEqual(hit["content"], {"diff": "+1"})
        self.assertEqual([(t["type"], t["id"], t["version"]) for t in hit["targets"]],
                         [("default_target", "doc-1", 1)])

    def test_charset_parameter_is_allowed(self):
        r = self.post("/v1/events", json.dumps(make_event("cs")), self.admin,
                      content_type="application/json; charset=utf-8")
        self.assertEqual(r.status_code, 200, r.text)

    def test_invalid_event_is_400(self):
        r = self.post("/v1/events", {"actor": {"type": "no_such_type", "id": "x"}}, self.admin)
        self.assert_error(r, 400, "invalid_argument")
        r = self.post("/v1/events", {"method": "no actor"}, self.admin)
        self.assert_error(r, 400, "invalid_argument")
        r = self.post("/v1/events", dict(make_event("typo"), metod="x"), self.admin)
        self.assert_error(r, 400, "invalid_argument")
        self.assertEqual(self.count(), 0)

    def test_batch_writes_every_line(self):
        events = [make_event(f"b{i}") for i in range(5)]
        r = self.post("/v1/events:batch", ndjson(events), self.admin, content_type=NDJSON)
        self.assertEqual(r.status_code, 200, r.text)
        body = r.json()
        self.assertEqual((body["durable"], body["written"], body["failed"]), (True, 5, 0))
        self.assertEqual([x["log_id"] for x in body["results"]], [1, 2, 3, 4, 5])
        self.assertEqual([h["url"] for h in self.query_all()], [f"/t/b{i}" for i in range(5)])

    def test_query_filters_and_pages(self):
        for i in range(7):
            self.emit(make_event(f"q{i}", actor="bob" if i % 2 else "alice",
                                 targets=[("default_target", f"doc-{i % 3}")],
                                 method="read" if i < 4 else "write"))
        r = self.post("/v1/query", {"limit": 3}, self.admin)
        self.assertEqual(r.status_code, 200, r.text)
        page = r.json()
        self.assertEqual([h["log_id"] for h in page["hits"]], [7, 6, 5])  # newest first
        self.assertIsInstance(page["next_cursor"], str)
        r = self.post("/v1/query", {"limit": 3, "cursor": page["next_cursor"]}, self.admin)
        self.assertEqual([h["log_id"] for h in r.json()["hits"]], [4, 3, 2])
        last = self.post("/v1/query", {"limit": 3, "cursor": r.json()["next_cursor"]},
                         self.admin).json()
        self.assertEqual(([h["log_id"] for h in last["hits"]], last["next_cursor"]), ([1], None))

        def ids(query):
            return [h["log_id"] for h in self.query_all(query=query)]

        self.assertEqual(ids({"targets": [{"type": "default_target", "field": "id",
                                           "value": "doc-0"}]}), [1, 4, 7])
        self.assertEqual(ids({"actor": {"type": "default_actor", "field": "id", "op": "prefix",
                                        "value": "bo"}}), [2, 4, 6])
        self.assertEqual(ids({"method": "write"}), [5, 6, 7])
        self.assertEqual(ids({"method": "write", "actor": {"type": "default_actor", "field": "id",
                                                           "value": "BOB", "op": "exact_ci"}}),
                         [6])
        self.assertEqual(ids({"since": 0, "until": "2999-01-01T00:00:00Z"}), list(range(1, 8)))
        self.assertEqual(ids({"until": 0}), [])

    def test_bad_query_is_400(self):
        for query in ({"limit": 0}, {"limit": 10001}, {"order": "sideways"},
                      {"targets": [{"type": "default_target", "field": "id", "op": "regex",
                                    "value": "x"}]},
                      {"nonsense": 1}, {"cursor": "not a cursor"}, [1, 2]):
            with self.subTest(query=query):
                self.assert_error(self.post("/v1/query", query, self.admin), 400,
                                  "invalid_argument")

    def test_count_and_export(self):
        for i in range(4):
            self.emit(make_event(f"c{i}", method="m" if i < 3 else "other"))
        r = self.post("/v1/count", {"method": "m"}, self.admin)
        self.assertEqual(r.status_code, 200, r.text)
        self.assertEqual(r.json(), {"count": 3})
        r = self.post("/v1/export", {}, self.admin, stream=True)
        self.assertEqual(r.status_code, 200)
        self.assertTrue(r.headers["Content-Type"].startswith(NDJSON), r.headers)
        self.assertEqual(r.headers.get("Transfer-Encoding", "").lower(), "chunked", r.headers)
        lines = [json.loads(line) for line in r.iter_lines() if line]
        self.assertEqual([h["log_id"] for h in lines], [1, 2, 3, 4])  # oldest first
        self.assertEqual(lines[0], self.query_all()[0])
        r = self.post("/v1/export", {"method": "other"}, self.admin)
        self.assertEqual([json.loads(x)["log_id"] for x in r.text.splitlines()], [4])

    def test_entities_and_history(self):
        odd_id = "a/b c?d%e"
        self.emit(make_event("e1", targets=[("default_target", odd_id)]))
        self.emit(dict(make_event("e2"), targets=[{"type": "default_target", "id": odd_id,
                                                   "fields": {"name": "v2"}}]))
        r = self.get("/v1/entities/default_target", self.admin)
        self.assertEqual(r.status_code, 200, r.text)
        body = r.json()
        self.assertEqual(body["type"], "default_target")
        (entity,) = body["entities"]
        self.assertEqual(set(entity), {"type", "id", "version", "fields", "created_log_id",
                                       "created_at"})
        self.assertEqual((entity["id"], entity["version"], entity["fields"]),
                         (odd_id, 2, {"name": "v2"}))
        quoted = urllib.parse.quote(odd_id, safe="")
        r = self.get(f"/v1/entities/default_target/{quoted}/history", self.admin)
        self.assertEqual(r.status_code, 200, r.text)
        body = r.json()
        self.assertEqual((body["type"], body["id"]), ("default_target", odd_id))
        self.assertEqual([(v["version"], v["created_log_id"]) for v in body["versions"]],
                         [(1, 1), (2, 2)])
        self.assert_error(self.get("/v1/entities/default_target/nobody/history", self.admin),
                          404)
        self.assert_error(self.get("/v1/entities/no_such_type", self.admin), 404)

    def test_entities_page_by_cursor(self):
        for i in range(5):
            self.emit(make_event(f"p{i}", targets=[("default_target", f"t{i}")]))
        ids, cursor, pages = [], None, 0
        while True:
            path = "/v1/entities/default_target?limit=2"
            if cursor:
                path += "&cursor=" + urllib.parse.quote(cursor, safe="")
            r = self.get(path, self.admin)
            self.assertEqual(r.status_code, 200, r.text)
            body = r.json()
            ids += [e["id"] for e in body["entities"]]
            pages += 1
            cursor = body["next_cursor"]
            if cursor is None:
                break
        self.assertEqual(ids, [f"t{i}" for i in range(5)])
        self.assertEqual(pages, 3)
        self.assertIsNone(self.get("/v1/entities/default_target", self.admin).json()["next_cursor"])
        self.assert_error(self.get("/v1/entities/default_target?limit=0", self.admin), 400)
        self.assert_error(self.get("/v1/entities/default_target?limit=x", self.admin), 400)
        self.assert_error(self.get("/v1/entities/default_target?limit=2&cursor=bad", self.admin), 400)

    def test_types_and_columns(self):
        schema = {"name": "document", "fields": [
            {"name": "title", "kind": "text", "required": True, "indexed": True}]}
        r = self.post("/v1/types", schema, self.admin)
        self.assertEqual(r.status_code, 200, r.text)
        self.assertEqual(r.json()["type"]["name"], "document")
        r = self.post("/v1/columns", {"name": "tenant", "kind": "text"}, self.admin)
        self.assertEqual(r.status_code, 200, r.text)
        self.assertEqual(r.json()["column"]["name"], "tenant")
        r = self.get("/v1/types", self.admin)
        self.assertEqual(r.status_code, 200, r.text)
        body = r.json()
        self.assertEqual(sorted(t["name"] for t in body["types"]),
                         ["default_actor", "default_target", "document"])
        self.assertEqual(body["columns"], [{"name": "tenant", "kind": "text"}])
        # A kind change is refused, as define-type refuses it.
        schema["fields"][0]["kind"] = "number"
        self.assert_error(self.post("/v1/types", schema, self.admin), 400, "invalid_argument")
        self.assert_error(self.post("/v1/columns", {"name": "x", "kind": "blob"}, self.admin),
                          400, "invalid_argument")
        ack = self.emit(make_event("typed", targets=[], columns={"tenant": "acme"}))
        self.assertEqual(self.query_all()[0]["columns"], {"tenant": "acme"})
        self.assertEqual(ack["log_id"], 1)

    def test_root_and_proofs_verify_with_the_cli(self):
        for i in range(5):
            self.emit(make_event(f"p{i}"))
        root = self.get("/v1/root", self.admin).json()
        self.assertEqual(set(root), {"tree_size", "root"})
        r = self.get("/v1/proof/inclusion/3", self.admin)
        self.assertEqual(r.status_code, 200, r.text)
        proof = r.json()
        self.assertEqual(set(proof), {"log_id", "lsn", "leaf_index", "tree_size", "leaf_hash",
                                      "path", "root"})
        self.assertEqual((proof["log_id"], proof["root"]), (3, root["root"]))
        path = os.path.join(self.dir, "inclusion.json")
        with open(path, "w") as f:
            json.dump(proof, f)
        run_quipu("verify-proof", "--proof", path, "--root", root["root"],
                  "--size", str(root["tree_size"]), "--leaf-hash", proof["leaf_hash"])
        old = self.get("/v1/root", self.admin, params={"size": 2}).json()
        self.assertEqual(old["tree_size"], 2)
        r = self.get("/v1/proof/consistency", self.admin,
                     params={"from": 2, "to": root["tree_size"]})
        self.assertEqual(r.status_code, 200, r.text)
        consistency = r.json()
        self.assertEqual((consistency["old_root"], consistency["new_root"]),
                         (old["root"], root["root"]))
        with open(path, "w") as f:
            json.dump(consistency, f)
        run_quipu("verify-proof", "--proof", path, "--old-root", old["root"],
                  "--new-root", root["root"])
        self.assert_error(self.get("/v1/proof/inclusion/99", self.admin), 404)
        self.assert_error(self.get("/v1/proof/consistency", self.admin,
                                   params={"from": 3, "to": 99}), 400)
        self.assert_error(self.get("/v1/proof/consistency", self.admin), 400)

    def test_checkpoint_needs_a_signing_key(self):
        self.emit(make_event("k"))
        self.assertEqual(self.get("/v1/checkpoints", self.admin).json(), {"checkpoints": []})
        self.assert_error(self.post("/v1/admin/checkpoint", None, self.admin), 409)

    def test_checkpoint_is_signed_and_listed(self):
        key = os.path.join(self.dir, "signing.pem")
        run_quipu("keygen", "--out", key)
        store = os.path.join(self.dir, "signed")
        server = self.start_server("--signing-key", key, store=store)
        self.post_event(make_event("s"), server=server)
        r = self.call("POST", "/v1/admin/checkpoint", self.admin, server=server)
        self.assertEqual(r.status_code, 200, r.text)
        checkpoint = r.json()
        self.assertEqual(set(checkpoint), {"time_us", "tree_size", "root", "signature"})
        listed = self.call("GET", "/v1/checkpoints", self.admin, server=server).json()
        self.assertIn(checkpoint, listed["checkpoints"])

    def test_admin_verify(self):
        for i in range(3):
            self.emit(make_event(f"v{i}"))
        r = self.post("/v1/admin/verify", None, self.admin)
        self.assertEqual(r.status_code, 200, r.text)
        self.assertIs(r.json()["intact"], True)
        self.assertGreaterEqual(r.json()["records"], 3)

    def test_unknown_route_and_wrong_method(self):
        self.assert_error(self.get("/v1/nope", self.admin), 404)
        r = self.call("DELETE", "/v1/events", self.admin)
        self.assert_error(r, 405)
        self.assertIn("POST", r.headers.get("Allow", ""))
        r = self.get("/v1/events", self.admin)
        self.assert_error(r, 405)
        r = self.post("/healthz", None, self.admin)
        self.assert_error(r, 405)
        self.assertIn("GET", r.headers.get("Allow", ""))

    def test_pipelined_requests_are_answered_in_order(self):
        event = json.dumps(make_event("piped")).encode()
        post = (b"POST /v1/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " +
                self.admin.encode() + b"\r\nContent-Type: application/json\r\n" +
                b"Content-Length: " + str(len(event)).encode() + b"\r\n\r\n" + event)
        with socket.create_connection(("127.0.0.1", self.server.port), timeout=10) as sock:
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n" + post +
                         b"GET /readyz HTTP/1.1\r\nHost: x\r\n\r\n" + post)
            answers = [serverlib.read_response(sock) for _ in range(4)]
        self.assertEqual([a.status for a in answers], [200, 200, 200, 200])
        self.assertEqual(answers[0].json(), {"status": "ok"})
        self.assertEqual([answers[1].json()["log_id"], answers[3].json()["log_id"]], [1, 2])
        self.assertIs(answers[2].json()["ready"], True)

    def test_bad_tree_parameters_are_400(self):
        self.emit(make_event("t"))
        for path in ("/v1/root?size=99", "/v1/root?size=abc", "/v1/proof/inclusion/abc",
                     "/v1/proof/inclusion/1?size=0", "/v1/proof/consistency?from=0&to=1",
                     "/v1/proof/consistency?from=x"):
            with self.subTest(path=path):
                self.assert_error(self.get(path, self.admin), 400, "invalid_argument")
        self.assert_error(self.get("/v1/proof/inclusion/0", self.admin), 404)


if __name__ == "__main__":
    serverlib.main()
