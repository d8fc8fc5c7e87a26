// server/server.h — `quipu serve`: one audit store over HTTP/1.1 (and TLS),
// until SIGTERM or SIGINT.
//
// Model: Boost.Asio C++20 coroutines. Each connection is one coroutine on
// its own strand; `threads` I/O threads run them all. A request that writes
// appends without waiting and is answered from the durable watermark
// (server/acks.h), so no thread blocks per request. Reads that may take
// long run on a separate worker pool (server/service.h).
//
// Once it listens, the server prints one line on stdout —
// {"listening":"127.0.0.1:PORT","tls":false} — so a caller that asked for
// port 0 learns the port; after that stdout stays silent and stderr carries
// one JSON line per request and per lifecycle event.
//
// Signals: SIGTERM and SIGINT stop accepting, close idle connections, let
// requests in flight finish (durable acks included, up to shutdown_grace),
// then sync and close the store; RunServer returns its Close() status.
// SIGHUP re-reads the token file.
#ifndef QUIPU_SERVER_SERVER_H_
#define QUIPU_SERVER_SERVER_H_

#include "quipu/status.h"
#include "server/options.h"

namespace quipu::server {

// `restart` (may be null) is set when the server stopped because this node
// stepped down as its group's writer (docs/replication.md): the caller then
// starts it again with the same options.
Status RunServer(const ServerOptions& options, bool* restart = nullptr);

}  // namespace quipu::server

#endif  // QUIPU_SERVER_SERVER_H_
