#!/usr/bin/python3
"""A store with an access log: every read route is recorded before it is
answered, with the token that read and the shape of what it asked, never the
searched values; and a CLI read beside the server, which cannot record
itself while the server holds the access log, fails without showing rows."""

import json
import os

import serverlib
from serverlib import make_event, run_quipu

SECRET = "needle-7f3a91"


class AccessLogTest(serverlib.ServerTest):

    def setUp(self):
        super().setUp()
        for i in range(3):
            self.emit(make_event(f"e{i}"))
        self.server.stop()
        run_quipu("access-log", "enable", self.store)
        self.server.start()

    def read_every_route(self):
        query = {"targets": [{"type": "default_target", "field": "id", "op": "exact",
                              "value": SECRET}]}
        calls = [
            ("POST", "/v1/query", query),
            ("POST", "/v1/count", query),
            ("POST", "/v1/export", query),
            ("GET", "/v1/entities/default_target", None),
            ("GET", "/v1/entities/default_target/doc-1/history", None),
            ("GET", "/v1/types", None),
            ("GET", "/v1/root", None),
            ("GET", "/v1/proof/inclusion/1", None),
            ("GET", "/v1/proof/consistency?from=1", None),
            ("GET", "/v1/checkpoints", None),
        ]
        for method, path, body in calls:
            response = self.call(method, path, self.admin, body=body)
            self.assertEqual(response.status_code, 200, (path, response.text))

    def access_rows(self):
        out = run_quipu("query", self.store, "--access", "--oldest-first", "--limit", "1000",
                        "--json").stdout
        return [json.loads(line) for line in out.splitlines() if '"log_id"' in line]

    def test_every_read_route_is_recorded_without_the_values_it_searched(self):
        self.read_every_route()
        self.server.stop()
        rows = self.access_rows()
        self.assertEqual([r["method"] for r in rows],
                         ["query", "count", "export", "entities", "history", "types", "root",
                          "prove", "consistency", "checkpoints"])
        tokens = json.loads(run_quipu("token", "list", "--config", self.config,
                                      "--json").stdout)["tokens"]
        admin_id = [t["id"] for t in tokens if t["name"] == "admin"][0]
        for row in rows:
            self.assertEqual(row["actor"]["id"], "token:" + admin_id, row)
        query = rows[0]["content"]
        self.assertEqual(query["rows"], 0)
        self.assertEqual(query["shape"]["targets"],
                         [{"type": "default_target", "field": "id", "op": "exact"}])
        self.assertIsNone(rows[2]["content"]["rows"], "an export is recorded before its rows")
        self.assertEqual(rows[3]["content"], {"rows": 1, "shape": {"type": "default_target"}})
        # Not one byte of the searched value anywhere in the access log.
        access = os.path.join(self.store, "access")
        for folder, _, files in os.walk(access):
            for name in files:
                with open(os.path.join(folder, name), "rb") as f:
                    self.assertNotIn(SECRET.encode(), f.read(), name)
        # The access log has a Merkle tree of its own, and it verifies.
        run_quipu("verify", access)

    def test_a_cli_read_beside_the_server_cannot_be_recorded_and_shows_nothing(self):
        done = run_quipu("query", self.store, "--json", check=False)
        self.assertEqual(done.returncode, 1, done.stderr)
        self.assertEqual(done.stdout, "")
        self.assertIn("access log", done.stderr)
        self.assertIn("Busy", done.stderr)
        # The server keeps answering (and recording) reads.
        self.assertEqual(self.post("/v1/query", {}, self.admin).status_code, 200)


if __name__ == "__main__":
    serverlib.main()
