#!/usr/bin/python3
"""Authentication and grants, route by route: no token, a malformed or
unknown token and an expired one are 401 with a Bearer challenge; a token
without the route's grant is 403; the public routes need nothing. Also the
token file's reload on SIGHUP."""

import json
import os
import signal
import time

import serverlib
from serverlib import ROUTES, add_token_entry, create_token, make_event, rfc3339, sample_request

# For each grant, a token holding the two others.
WITHOUT = {"emit": "query,admin", "query": "emit,admin", "admin": "emit,query"}


class AuthTest(serverlib.ServerTest):

    def setUp(self):
        self.tokens = {}
        # Tokens are read at start, so they are made before the server starts
        # (setUp of the base class); the admin token comes from there.
        super().setUp()

    def start_server(self, *args, **kwargs):
        if not self.tokens:
            config = os.path.join(self.dir, "tokens.json")
            for grant, others in WITHOUT.items():
                self.tokens["no_" + grant] = create_token(config, others)
            self.tokens["expired"] = add_token_entry(config, "emit,query,admin",
                                                     expires="2020-01-01T00:00:00Z")
            self.tokens["soon"] = create_token(config, "emit,query,admin",
                                               expires=rfc3339(time.time() + 3))
            self.soon_expires_at = time.time() + 3
        server = super().start_server(*args, **kwargs)
        if not hasattr(self, "server"):
            self.server = server
            self.emit(make_event("seed"))  # row 1, actor alice: what sample_request names
        return server

    def request(self, method, template, token=None, raw_authorization=None):
        path, body, content_type = sample_request(method, template)
        headers = {"Authorization": raw_authorization} if raw_authorization else None
        return self.call(method, path, token, body=body, content_type=content_type,
                         headers=headers)

    def assert_unauthorized(self, response):
        self.assert_error(response, 401)
        self.assertRegex(response.headers.get("WWW-Authenticate", ""), r"(?i)^bearer")

    def test_missing_malformed_and_unknown_tokens_are_401(self):
        unknown = "qpt_" + "0" * 64
        for method, template, grant in ROUTES:
            if grant is None:
                continue
            with self.subTest(route=f"{method} {template}"):
                self.assert_unauthorized(self.request(method, template))
                self.assert_unauthorized(self.request(method, template, unknown))
                for bad in ("Bearer", "Bearer qpt_xyz", "Basic dXNlcjpwYXNz",
                            f"Bearer {self.admin}x", f"Token {self.admin}"):
                    self.assert_unauthorized(self.request(method, template,
                                                          raw_authorization=bad))

    def test_expired_token_is_401(self):
        for method, template, grant in ROUTES:
            if grant is not None:
                with self.subTest(route=f"{method} {template}"):
                    self.assert_unauthorized(self.request(method, template,
                                                          self.tokens["expired"]))

    def test_token_expires_while_the_server_runs(self):
        r = self.request("POST", "/v1/query", self.tokens["soon"])
        self.assertEqual(r.status_code, 200, r.text)
        time.sleep(max(0.0, self.soon_expires_at - time.time()) + 1.2)
        self.assert_unauthorized(self.request("POST", "/v1/query", self.tokens["soon"]))

    def test_missing_grant_is_403(self):
        for method, template, grant in ROUTES:
            if grant is None:
                continue
            with self.subTest(route=f"{method} {template}"):
                r = self.request(method, template, self.tokens["no_" + grant])
                self.assert_error(r, 403)

    def test_the_right_grant_passes(self):
        holder = {"emit": "no_query", "query": "no_admin", "admin": "no_emit", None: None}
        for method, template, grant in ROUTES:
            token = self.tokens.get(holder[grant])
            with self.subTest(route=f"{method} {template}"):
                r = self.request(method, template, token)
                # 409: the checkpoint route without a signing key.
                self.assertIn(r.status_code, (200, 409), r.text[:300])

    def test_public_routes_ignore_a_bad_token(self):
        for method, template, grant in ROUTES:
            if grant is None:
                with self.subTest(route=template):
                    r = self.request(method, template, raw_authorization="Bearer nonsense")
                    self.assertEqual(r.status_code, 200)

    def test_sighup_reloads_tokens_and_a_bad_file_keeps_the_old_set(self):
        late = create_token(self.config, "query")
        self.assert_unauthorized(self.request("POST", "/v1/query", late))
        self.server.signal(signal.SIGHUP)
        self.assertTrue(self.wait_for_status("POST", "/v1/query", late, 200))
        with open(self.config) as f:
            good = f.read()
        with open(self.config, "w") as f:
            f.write('{"tokens": [{"id": "broken"}]}')
        self.server.signal(signal.SIGHUP)
        time.sleep(1)
        self.assertEqual(self.request("POST", "/v1/query", late).status_code, 200)
        metrics = self.get("/metrics", self.admin).text
        self.assertRegex(metrics,
                         r'(?m)^quipu_token_reloads_total\{[^}]*result="error"[^}]*\} [1-9]')
        with open(self.config, "w") as f:
            f.write(good)
        self.assert_healthy()

    def wait_for_status(self, method, template, token, status, seconds=5):
        deadline = time.time() + seconds
        while time.time() < deadline:
            if self.request(method, template, token).status_code == status:
                return True
            time.sleep(0.1)
        return False


class ScopeAuthTest(serverlib.ServerTest):
    """A scoped token may not step outside its scope: naming another value of
    its column is 403 on every route that takes filters or events."""

    def test_other_scope_value_is_403(self):
        acme = create_token(self.config, "emit,query", scope="tenant=acme")
        self.server.stop()
        self.server.start()  # reads the token file again
        other = {"columns": {"tenant": "globex"}}
        for path in ("/v1/query", "/v1/count", "/v1/export"):
            with self.subTest(path=path):
                self.assert_error(self.post(path, other, acme), 403)
        event = make_event("x", columns={"tenant": "globex"})
        self.assert_error(self.post_event(event, acme), 403)
        r = self.post("/v1/events:batch", serverlib.ndjson([event]), acme,
                      content_type=serverlib.NDJSON, params={"atomic": "true"})
        self.assertIn(r.status_code, (400, 403), r.text)
        self.assertEqual(self.count(), 0)
        self.assertEqual(json.loads(self.post("/v1/count", {}, acme).text), {"count": 0})


if __name__ == "__main__":
    serverlib.main()
