#!/usr/bin/python3
"""The route list three ways: the spec's table (serverlib.ROUTES), the
OpenAPI document the server serves (and docs/openapi.json it is built from),
and what the running server answers. Every documented route exists (it
answers something other than 404 or 405), an undocumented one is 404, and
the document is well-formed OpenAPI 3.1."""

import json
import os
import re

import serverlib
from serverlib import ROUTES, sample_request

DOC = os.path.join(serverlib.SOURCE_DIR, "docs", "openapi.json")
METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}


def operations(doc):
    for path, item in doc["paths"].items():
        for method, op in item.items():
            if method in METHODS:
                yield method.upper(), path, op


def resolve(doc, ref):
    assert ref.startswith("#/"), ref
    node = doc
    for part in ref[2:].split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def refs(node):
    if isinstance(node, dict):
        if isinstance(node.get("$ref"), str):
            yield node["$ref"]
        for value in node.values():
            yield from refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from refs(value)


class OpenApiDocumentTest(serverlib.unittest.TestCase):
    """docs/openapi.json alone; needs no server."""

    @classmethod
    def setUpClass(cls):
        with open(DOC) as f:
            cls.doc = json.load(f)

    def test_lists_exactly_the_spec_routes(self):
        documented = {(m, p) for m, p, _ in operations(self.doc)}
        self.assertEqual(documented, {(m, p) for m, p, _ in ROUTES})

    def test_is_openapi_3_1(self):
        doc = self.doc
        self.assertRegex(doc["openapi"], r"^3\.1\.\d+$")
        self.assertTrue(doc["info"]["title"] and doc["info"]["version"])
        self.assertLessEqual(set(doc), {"openapi", "info", "jsonSchemaDialect", "servers",
                                        "paths", "webhooks", "components", "security", "tags",
                                        "externalDocs"})
        for ref in refs(doc):
            with self.subTest(ref=ref):
                resolve(doc, ref)  # raises KeyError when dangling
        ids = [op["operationId"] for _, _, op in operations(doc)]
        self.assertEqual(len(ids), len(set(ids)))

    def test_every_operation_is_complete(self):
        doc = self.doc
        for method, path, op in operations(doc):
            with self.subTest(route=f"{method} {path}"):
                self.assertTrue(op["responses"])
                for code in op["responses"]:
                    self.assertRegex(code, r"^([1-5][0-9X]{2}|default)$")
                params = [resolve(doc, p["$ref"]) if "$ref" in p else p
                          for p in op.get("parameters", []) +
                          doc["paths"][path].get("parameters", [])]
                in_path = {p["name"] for p in params if p["in"] == "path"}
                self.assertEqual(in_path, set(re.findall(r"\{(\w+)\}", path)))
                for p in params:
                    self.assertIn(p["in"], ("query", "header", "path", "cookie"))
                    if p["in"] == "path":
                        self.assertIs(p.get("required"), True, p["name"])
                if method == "POST" and path not in ("/v1/admin/checkpoint",
                                                     "/v1/admin/verify"):
                    self.assertIn("requestBody", op)

    def test_security_matches_the_grants(self):
        doc = self.doc
        (scheme_name, scheme), = doc["components"]["securitySchemes"].items()
        self.assertEqual((scheme["type"], scheme["scheme"].lower()), ("http", "bearer"))
        self.assertEqual(doc["security"], [{scheme_name: []}])
        grants = {(m, p): g for m, p, g in ROUTES}
        for method, path, op in operations(doc):
            with self.subTest(route=f"{method} {path}"):
                public = op.get("security", doc["security"]) == []
                self.assertEqual(public, grants[(method, path)] is None)
                if not public:
                    for code in ("401", "403"):
                        self.assertIn(code, op["responses"])
                    response = op["responses"]["401"]
                    response = resolve(doc, response["$ref"]) if "$ref" in response else response
                    self.assertIn("WWW-Authenticate", response.get("headers", {}))

    def test_errors_use_the_error_schema(self):
        doc = self.doc
        error = doc["components"]["schemas"]["Error"]
        self.assertEqual(error["required"], ["error"])
        self.assertEqual(set(error["properties"]["error"]["required"]), {"code", "message"})
        for method, path, op in operations(doc):
            for code, response in op["responses"].items():
                if code[0] in "45" and path != "/readyz":
                    response = resolve(doc, response["$ref"]) if "$ref" in response else response
                    schema = response["content"]["application/json"]["schema"]
                    self.assertEqual(schema, {"$ref": "#/components/schemas/Error"},
                                     f"{method} {path} {code}")


class ServedRoutesTest(serverlib.ServerTest):

    def test_served_document_is_docs_openapi_json(self):
        r = self.get("/v1/openapi.json")
        self.assertEqual(r.status_code, 200)
        self.assertTrue(r.headers["Content-Type"].startswith("application/json"))
        with open(DOC) as f:
            self.assertEqual(r.json(), json.load(f))

    def test_every_documented_route_exists(self):
        self.emit(serverlib.make_event("seed"))  # row 1, actor alice
        doc = self.get("/v1/openapi.json").json()
        for method, template, _ in operations(doc):
            with self.subTest(route=f"{method} {template}"):
                path, body, content_type = sample_request(method, template)
                # Without a token: 401 for a protected route, 200 for a public
                # one; never "no such route".
                r = self.call(method, path, body=body, content_type=content_type)
                self.assertNotIn(r.status_code, (404, 405), r.text[:200])
                grant = dict(((m, p), g) for m, p, g in ROUTES).get((method, template))
                self.assertEqual(r.status_code, 200 if grant is None else 401, r.text[:200])
                r = self.call(method, path, self.admin, body=body, content_type=content_type)
                self.assertIn(r.status_code, (200, 409), r.text[:200])

    def test_undocumented_routes_are_404(self):
        for path in ("/v1/nope", "/v1/event", "/v1/events:nope", "/v1/admin/nope",
                     "/v1/proof", "/v1/entities", "/metrics/x", "/v1/openapi.yaml"):
            with self.subTest(path=path):
                self.assert_error(self.get(path, self.admin), 404)
                self.assert_error(self.post(path, {}, self.admin), 404)
                # Without a token the server may refuse before routing.
                self.assertIn(self.get(path).status_code, (401, 404))


if __name__ == "__main__":
    serverlib.main()
