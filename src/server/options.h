// server/options.h — how `quipu serve` runs: where it listens, which store,
// which tokens, and the limits that keep one client from holding the rest.
#ifndef QUIPU_SERVER_OPTIONS_H_
#define QUIPU_SERVER_OPTIONS_H_

#include <chrono>
#include <cstddef>
#include <memory>
#include <optional>
#include <string>

#include "quipu/audit.h"
#include "quipu/options.h"
#include "replication/replica.h"

namespace quipu::server {

struct ServerOptions {
  std::string dir;                 // the audit store
  bool create = false;             // create the store if missing
  std::string host = "127.0.0.1";  // numeric address to bind
  unsigned short port = 8080;      // 0: any free port
  std::string token_file;          // server/auth.h; re-read on SIGHUP
  DurabilityPolicy durability = DurabilityPolicy::GroupCommit();
  std::optional<std::string> tls_cert;  // PEM chain; with tls_key: HTTPS only
  std::optional<std::string> tls_key;
  std::optional<std::string> signing_key;   // checkpoint key (PEM), optional
  unsigned threads = 2;                     // I/O threads
  unsigned workers = 2;                     // threads for queries, exports, verify
  size_t max_body_bytes = 16 << 20;         // 413 beyond
  size_t max_header_bytes = 16 << 10;       // 431 beyond
  size_t max_batch_events = 10000;          // per /v1/events:batch
  size_t max_pending_acks = 65536;          // 503 beyond
  size_t max_connections = 1024;            // 503 and close beyond
  unsigned max_queries_per_token = 4;       // 429 beyond (query, count, export)
  std::chrono::seconds idle_timeout{30};    // keep-alive connection with no request
  std::chrono::seconds read_timeout{10};    // a request's first byte to its last
  std::chrono::seconds shutdown_grace{30};  // SIGTERM: longest wait for in-flight requests
  // Applied at start and then every retain_every (AuditStore::Retain);
  // nothing when empty.
  RetentionPolicy retention;
  std::chrono::seconds retain_every{3600};
  // Bytes per log segment: the unit retention drops.
  uint64_t segment_size = LogOptions().segment_size;
  // Master keys of protected fields (docs/privacy.md); null: none.
  std::shared_ptr<const MasterKeys> keys;
  // A node of a replicated group (docs/replication.md); nullopt: a single
  // node. Its log, on_writer and on_step_down are the server's own.
  std::optional<replication::ReplicaOptions> replica;
};

}  // namespace quipu::server

#endif  // QUIPU_SERVER_OPTIONS_H_
