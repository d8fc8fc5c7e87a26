#!/usr/bin/python3
"""A server given the master key (--key-file) seals protected fields on
write, shows them to readers and matches them by blind index; without the
key it shows them hidden and refuses to write them; after `quipu forget`
they read as erased, and the store still verifies."""

import json
import os
import tempfile

import serverlib
from serverlib import run_quipu

PERSON = {"name": "person", "fields": [
    {"name": "email", "indexed": True, "protection": "encrypted+indexed", "prefix_tokens": 2},
    {"name": "note", "protection": "encrypted"}]}


def person_event(person_id, email, note):
    return {"actor": {"type": "person", "id": person_id,
                      "fields": {"email": email, "note": note}},
            "method": "login"}


class PrivacyTest(serverlib.ServerTest):
    def setUp(self):
        self.key_dir = self.enterContext(tempfile.TemporaryDirectory())
        self.key = os.path.join(self.key_dir, "master.key")
        run_quipu("keys", "new", self.key)
        self.SERVER_ARGS = ("--key-file", self.key)
        super().setUp()

    def history(self, person_id):
        response = self.get(f"/v1/entities/person/{person_id}/history", self.admin)
        self.assertEqual(response.status_code, 200, response.text)
        return response.json()["versions"][-1]["fields"]

    def test_sealed_shown_matched_hidden_and_forgotten(self):
        self.assertEqual(self.post("/v1/types", PERSON, self.admin).status_code, 200)
        for event in (person_event("p-1", "ana@example.org", "VIP"),
                      person_event("p-2", "bo@example.org", "new")):
            response = self.post("/v1/events", event, self.admin)
            self.assertEqual(response.status_code, 200, response.text)
        self.assertEqual(self.history("p-1"), {"email": "ana@example.org", "note": "VIP"})
        query = {"actor": {"type": "person", "field": "email", "op": "exact_ci",
                           "value": "ANA@example.org"}}
        hits = self.post("/v1/query", query, self.admin).json()["hits"]
        self.assertEqual([h["actor"]["id"] for h in hits], ["p-1"])
        self.server.stop()
        for name in os.listdir(self.store):
            path = os.path.join(self.store, name)
            if os.path.isfile(path):
                with open(path, "rb") as f:
                    self.assertNotIn(b"ana@example.org", f.read(), name)

        # Without the key: hidden, and neither written nor matched.
        keyless = self.start_server(create=False)
        response = self.get("/v1/entities/person/p-1/history", self.admin, server=keyless)
        fields = response.json()["versions"][-1]["fields"]
        self.assertEqual(fields, {"email": {"encrypted": True}, "note": {"encrypted": True}})
        self.assertNotEqual(
            self.post("/v1/events", person_event("p-3", "c@example.org", "x"), self.admin,
                      server=keyless).status_code, 200)
        self.assertNotEqual(self.post("/v1/query", query, self.admin, server=keyless).status_code,
                            200)
        keyless.stop()

        forgot = json.loads(run_quipu("forget", self.store, "--subject", "person/p-1", "--json",
                                      "--key-file", self.key).stdout)
        self.assertEqual(forgot["keys"], 1)
        self.server = self.start_server("--key-file", self.key, create=False)
        self.assertEqual(self.history("p-1"), {"email": {"erased": True},
                                               "note": {"erased": True}})
        self.assertEqual(self.history("p-2"), {"email": "bo@example.org", "note": "new"})
        self.assertEqual(self.post("/v1/query", query, self.admin).json()["hits"], [])
        self.server.stop()
        run_quipu("verify", self.store)


if __name__ == "__main__":
    serverlib.main()
