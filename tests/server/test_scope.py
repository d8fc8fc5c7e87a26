#!/usr/bin/python3
"""Two tenants on one store, each with a token scoped to tenant=<name>: no
route shows one tenant another's rows, counts, entities, versions or proofs;
a write naming the other tenant is refused, and one naming none is filled in."""

import json
import urllib.parse

import serverlib
from serverlib import NDJSON, create_token, make_event, ndjson

TENANTS = ("acme", "globex")


class ScopeTest(serverlib.ServerTest):

    def setUp(self):
        super().setUp()
        self.tok = {t: create_token(self.config, "emit,query", scope=f"tenant={t}")
                    for t in TENANTS}
        self.server.stop()
        self.server.start()  # reads the new tokens; registers the column
        self.rows = {t: [] for t in TENANTS}
        # Each tenant writes its own documents, one shared document and one
        # shared actor. globex changes the shared document's fields.
        for t in TENANTS:
            for i in range(3):
                ack = self.emit(make_event(f"{t}-{i}", actor=f"{t}-user",
                                           targets=[("default_target", f"{t}-doc")]),
                                self.tok[t])
                self.rows[t].append(ack["log_id"])
        for t, name in (("acme", "first"), ("globex", "second")):
            event = make_event(f"{t}-shared", actor="shared-user")
            event["targets"] = [{"type": "default_target", "id": "shared-doc",
                                 "fields": {"name": name}}]
            self.rows[t].append(self.emit(event, self.tok[t])["log_id"])

    def other(self, tenant):
        return TENANTS[1 - TENANTS.index(tenant)]

    def test_writes_fill_in_the_tenant(self):
        hits = self.query_all(self.admin)
        for hit in hits:
            tenant = hit["url"].split("/")[2].split("-")[0]
            self.assertEqual(hit["columns"], {"tenant": tenant}, hit)

    def test_writes_naming_another_tenant_are_refused(self):
        before = self.count(self.admin)
        event = make_event("steal", columns={"tenant": "globex"})
        self.assert_error(self.post_event(event, self.tok["acme"]), 403)
        ok = make_event("own", columns={"tenant": "acme"})
        self.assertEqual(self.post_event(ok, self.tok["acme"]).status_code, 200)
        r = self.post("/v1/events:batch", ndjson([ok, event, ok]), self.tok["acme"],
                      content_type=NDJSON)
        self.assertEqual(r.status_code, 200, r.text)
        body = r.json()
        self.assertEqual((body["written"], body["failed"]), (2, 1))
        self.assertIn("error", body["results"][1])
        self.assertEqual(self.count(self.admin), before + 3)

    def test_queries_counts_and_exports_see_only_their_rows(self):
        for t in TENANTS:
            with self.subTest(tenant=t):
                hits = self.query_all(self.tok[t])
                self.assertEqual(sorted(h["log_id"] for h in hits), sorted(self.rows[t]))
                self.assertEqual(self.count(self.tok[t]), len(self.rows[t]))
                # A filter that would match the other tenant's rows finds nothing.
                other_doc = {"targets": [{"type": "default_target", "field": "id",
                                          "value": f"{self.other(t)}-doc"}]}
                self.assertEqual(self.query_all(self.tok[t], other_doc), [])
                self.assertEqual(self.count(self.tok[t], other_doc), 0)
                r = self.post("/v1/export", {}, self.tok[t])
                exported = [json.loads(x)["log_id"] for x in r.text.splitlines() if x]
                self.assertEqual(exported, sorted(self.rows[t]))
                # Naming its own value is allowed, the other's is 403.
                own = {"columns": {"tenant": t}}
                self.assertEqual(self.count(self.tok[t], own), len(self.rows[t]))
                self.assert_error(self.post("/v1/query",
                                            {"columns": {"tenant": self.other(t)}},
                                            self.tok[t]), 403)

    def test_entities_list_only_in_scope_versions(self):
        for t in TENANTS:
            with self.subTest(tenant=t):
                for kind in ("default_target", "default_actor"):
                    r = self.get(f"/v1/entities/{kind}", self.tok[t])
                    self.assertEqual(r.status_code, 200, r.text)
                    for entity in r.json()["entities"]:
                        self.assertIn(entity["created_log_id"], self.rows[t], entity)
                        self.assertNotIn(self.other(t), entity["id"], entity)
                ids = {e["id"] for e in self.get("/v1/entities/default_target",
                                                 self.tok[t]).json()["entities"]}
                self.assertEqual(ids, {f"{t}-doc", "shared-doc"})

    def test_history_shows_only_in_scope_versions(self):
        for t in TENANTS:
            with self.subTest(tenant=t):
                r = self.get(f"/v1/entities/default_target/{self.other(t)}-doc/history",
                             self.tok[t])
                missing = self.get("/v1/entities/default_target/never-written/history",
                                   self.tok[t])
                self.assert_error(r, 404)
                self.assertEqual(r.json()["error"]["code"], missing.json()["error"]["code"])
                r = self.get(f"/v1/entities/default_target/{t}-doc/history", self.tok[t])
                self.assertEqual(r.status_code, 200, r.text)
                r = self.get("/v1/entities/default_target/shared-doc/history", self.tok[t])
                self.assertEqual(r.status_code, 200, r.text)
                for version in r.json()["versions"]:
                    self.assertIn(version["created_log_id"], self.rows[t], version)
                name = urllib.parse.quote(f"{self.other(t)}-user")
                self.assert_error(self.get(f"/v1/entities/default_actor/{name}/history",
                                           self.tok[t]), 404)

    def test_inclusion_proofs_of_other_rows_are_404_like_missing_rows(self):
        for t in TENANTS:
            with self.subTest(tenant=t):
                for log_id in self.rows[t]:
                    r = self.get(f"/v1/proof/inclusion/{log_id}", self.tok[t])
                    self.assertEqual(r.status_code, 200, r.text)
                missing = self.get("/v1/proof/inclusion/100000", self.tok[t])
                self.assert_error(missing, 404)
                for log_id in self.rows[self.other(t)]:
                    r = self.get(f"/v1/proof/inclusion/{log_id}", self.tok[t])
                    self.assert_error(r, 404)
                    self.assertEqual(r.json()["error"]["code"],
                                     missing.json()["error"]["code"])

    def test_idempotency_keys_do_not_cross_tenants(self):
        acme_ack = self.emit(make_event("keyed"), self.tok["acme"], key="same-key")
        r = self.post_event(make_event("keyed"), self.tok["globex"], key="same-key")
        # globex must not be handed acme's row as "its" duplicate.
        if r.status_code == 200:
            self.assertFalse(r.json()["duplicate"] and r.json()["log_id"] == acme_ack["log_id"],
                             r.text)
        else:
            self.assertIn(r.status_code, (403, 409), r.text)
        self.assertEqual(self.count(self.tok["acme"], {"method": "doc.update"}),
                         len(self.rows["acme"]) + 1)


if __name__ == "__main__":
    serverlib.main()
