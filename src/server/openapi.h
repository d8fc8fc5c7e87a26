// server/openapi.h — the OpenAPI 3.1 description of the server's routes:
// docs/openapi.json, compiled into the binary (CMake generates its
// definition), served at /v1/openapi.json and checked against the router by
// the tests.
#ifndef QUIPU_SERVER_OPENAPI_H_
#define QUIPU_SERVER_OPENAPI_H_

#include <string_view>

namespace quipu::server {

std::string_view OpenApiDocument();

}  // namespace quipu::server

#endif  // QUIPU_SERVER_OPENAPI_H_
