#!/usr/bin/python3
"""The main routes driven by curl, as an operator's script would: post an
event, query it, count it, and prove it, with -H 'Authorization: Bearer ...'."""

import json
import os

import serverlib
from serverlib import curl, make_event, run_quipu


class CurlTest(serverlib.ServerTest):

    def curl_json(self, method, path, body=None, content_type="application/json"):
        args = ["-X", method, "-H", f"Authorization: Bearer {self.admin}"]
        if body is not None:
            args += ["-H", f"Content-Type: {content_type}", "--data-binary", body]
        rc, status, text = curl(*args, self.server.url(path))
        self.assertEqual(rc, 0, text)
        return status, text

    def test_post_query_count_prove(self):
        status, text = self.curl_json("POST", "/v1/events", json.dumps(make_event("curl")))
        self.assertEqual(status, 200, text)
        ack = json.loads(text)
        self.assertEqual((ack["log_id"], ack["durable"]), (1, True))

        status, text = self.curl_json("POST", "/v1/events:batch",
                                      serverlib.ndjson([make_event("c2"), make_event("c3")]),
                                      "application/x-ndjson")
        self.assertEqual((status, json.loads(text)["written"]), (200, 2), text)

        status, text = self.curl_json("POST", "/v1/query", json.dumps(
            {"targets": [{"type": "default_target", "field": "id", "value": "doc-1"}],
             "order": "oldest_first"}))
        self.assertEqual(status, 200, text)
        self.assertEqual([h["url"] for h in json.loads(text)["hits"]],
                         ["/t/curl", "/t/c2", "/t/c3"])

        status, text = self.curl_json("POST", "/v1/count", "{}")
        self.assertEqual((status, json.loads(text)), (200, {"count": 3}))

        status, text = self.curl_json("GET", "/v1/root")
        root = json.loads(text)
        status, text = self.curl_json("GET", "/v1/proof/inclusion/1")
        self.assertEqual(status, 200, text)
        proof = os.path.join(self.dir, "proof.json")
        with open(proof, "w") as f:
            f.write(text)
        run_quipu("verify-proof", "--proof", proof, "--root", root["root"],
                  "--size", str(root["tree_size"]), "--leaf-hash", json.loads(text)["leaf_hash"])

    def test_no_token_is_401_with_challenge(self):
        rc, status, head = curl("-o", "/dev/null", "-D", "-", "-X", "POST",
                                "-H", "Content-Type: application/json", "--data-binary", "{}",
                                self.server.url("/v1/query"))
        self.assertEqual((rc, status), (0, 401))
        self.assertRegex(head.lower(), r"(?m)^www-authenticate: bearer")

    def test_healthz_without_token(self):
        rc, status, text = curl(self.server.url("/healthz"))
        self.assertEqual((rc, status, json.loads(text)), (0, 200, {"status": "ok"}))


if __name__ == "__main__":
    serverlib.main()
