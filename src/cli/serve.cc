// quipu serve DIR: the audit store over HTTP/JSON (server/server.h,
// docs/server.md). The verb turns flags into ServerOptions and runs the
// server until SIGTERM or SIGINT.
#include <charconv>
#include <memory>
#include <string>

#include "cli/common.h"
#include "cli/key_flags.h"
#include "cli/replica_flags.h"
#include "cli/retention_flags.h"
#include "cli/verbs.h"
#include "server/server.h"

namespace quipu::cli {

namespace {

struct ServeFlags {
  server::ServerOptions options;
  std::string listen = "127.0.0.1:8080";
  std::string durability = "group";
  std::string tls_cert, tls_key, signing_key;
  uint64_t idle_seconds = 30, read_seconds = 10, grace_seconds = 30;
  RetentionFlags retention;
  uint64_t retain_every_seconds = 3600;
  ReplicaFlags replica;
};

// "HOST:PORT" with a numeric host ("[::1]:8080" for IPv6).
Status ParseListen(const std::string& text, server::ServerOptions* options) {
  size_t colon = text.rfind(':');
  if (colon == std::string::npos || colon == 0) {
    return Status::InvalidArgument("--listen wants HOST:PORT, e.g. 127.0.0.1:8080");
  }
  std::string host = text.substr(0, colon);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  unsigned port = 0;
  const char* begin = text.data() + colon + 1;
  const char* end = text.data() + text.size();
  auto [stop, ec] = std::from_chars(begin, end, port);
  if (begin == end || ec != std::errc() || stop != end || port > 65535) {
    return Status::InvalidArgument("--listen: bad port in " + text);
  }
  options->host = host;
  options->port = static_cast<unsigned short>(port);
  return Status::OK();
}

Status Serve(ServeFlags& flags) {
  server::ServerOptions& options = flags.options;
  QUIPU_RETURN_IF_ERROR(ParseListen(flags.listen, &options));
  Result<DurabilityPolicy> policy = DurabilityPolicy::Parse(flags.durability);
  if (!policy.ok()) return policy.status();
  if (policy->kind() == DurabilityPolicy::Kind::kEveryN) {
    // A durable ack under every:N waits for N - 1 other events, maybe forever.
    return Status::InvalidArgument(
        "serve acknowledges writes when durable, so every:N needs a time bound: use every:N,MS");
  }
  options.durability = *policy;
  if (!flags.tls_cert.empty()) options.tls_cert = flags.tls_cert;
  if (!flags.tls_key.empty()) options.tls_key = flags.tls_key;
  if (!flags.signing_key.empty()) options.signing_key = flags.signing_key;
  options.idle_timeout = std::chrono::seconds(flags.idle_seconds);
  options.read_timeout = std::chrono::seconds(flags.read_seconds);
  options.shutdown_grace = std::chrono::seconds(flags.grace_seconds);
  options.retention = flags.retention.Policy();
  options.retain_every = std::chrono::seconds(flags.retain_every_seconds);
  auto keys = LoadKeys();
  if (!keys.ok()) return keys.status();
  options.keys = *keys;
  auto replica = flags.replica.Options();
  if (!replica.ok()) return replica.status();
  options.replica = *replica;
  if (options.replica) options.replica->dir = options.dir;
  bool restart = false;
  Status s = server::RunServer(options, &restart);
  // A node that stepped down as its group's writer starts again, cutting
  // what the group did not commit (docs/replication.md).
  if (s.ok() && restart) return RestartSelf();
  return s;
}

}  // namespace

void RegisterServe(CLI::App& app) {
  auto flags = std::make_shared<ServeFlags>();
  server::ServerOptions& o = flags->options;
  CLI::App* verb = app.add_subcommand(
      "serve",
      "Serve the audit store in DIR over HTTP/JSON (docs/server.md) until SIGTERM or SIGINT. "
      "Prints {\"listening\":\"HOST:PORT\"} on stdout once it accepts connections.");
  verb->add_option("dir", o.dir, "store directory")->required();
  verb->add_flag("--create", o.create, "create the store if DIR holds none");
  verb->add_option("--listen", flags->listen, "HOST:PORT to listen on (port 0: any free port)")
      ->capture_default_str();
  verb->add_option("--config", o.token_file, "token file (quipu token create); re-read on SIGHUP")
      ->required();
  verb->add_option("--durability", flags->durability,
                   "when a write is durable: group (default), always, every:N,MS or os "
                   "(os never syncs: writes are answered 202, not durable)")
      ->capture_default_str();
  verb->add_option("--tls-cert", flags->tls_cert, "PEM certificate chain: serve HTTPS only");
  verb->add_option("--tls-key", flags->tls_key, "PEM private key of --tls-cert");
  verb->add_option("--signing-key", flags->signing_key,
                   "Ed25519 private key (quipu keygen) for POST /v1/admin/checkpoint");
  verb->add_option("--threads", o.threads, "I/O threads")
      ->check(Unsigned(1, 256))
      ->capture_default_str();
  verb->add_option("--workers", o.workers, "threads for queries, exports and verification")
      ->check(Unsigned(1, 256))
      ->capture_default_str();
  verb->add_option("--max-body", o.max_body_bytes, "largest request body in bytes (413 beyond)")
      ->check(Unsigned(1, 1ULL << 32))
      ->capture_default_str();
  verb->add_option("--max-header", o.max_header_bytes,
                   "largest request header in bytes (431 beyond)")
      ->check(Unsigned(256, 1 << 20))
      ->capture_default_str();
  verb->add_option("--max-batch", o.max_batch_events, "most events in one /v1/events:batch")
      ->check(Unsigned(1, 1000000))
      ->capture_default_str();
  verb->add_option("--max-pending", o.max_pending_acks,
                   "most requests waiting for durability (503 beyond)")
      ->check(Unsigned(1, 1 << 24))
      ->capture_default_str();
  verb->add_option("--max-connections", o.max_connections, "most open connections (503 beyond)")
      ->check(Unsigned(1, 1 << 20))
      ->capture_default_str();
  verb->add_option("--max-queries-per-token", o.max_queries_per_token,
                   "most concurrent queries/exports per token (429 beyond)")
      ->check(Unsigned(1, 1 << 16))
      ->capture_default_str();
  verb->add_option("--idle-timeout", flags->idle_seconds,
                   "seconds a keep-alive connection may wait for its next request")
      ->check(Unsigned(1, 86400))
      ->capture_default_str();
  verb->add_option("--read-timeout", flags->read_seconds,
                   "seconds from a request's first byte to its last (408 beyond)")
      ->check(Unsigned(1, 3600))
      ->capture_default_str();
  verb->add_option("--shutdown-grace", flags->grace_seconds,
                   "seconds SIGTERM waits for requests in flight")
      ->check(Unsigned(0, 3600))
      ->capture_default_str();
  AddRetentionFlags(verb, &flags->retention, "--retain-");
  verb->add_option("--segment-size", o.segment_size,
                   "bytes per log segment file, the unit retention drops; records may use up "
                   "to half of it, at most 1 MiB")
      ->check(Unsigned(64 << 10, uint64_t{1} << 40))
      ->capture_default_str();
  verb->add_option("--retain-every", flags->retain_every_seconds,
                   "seconds between two applications of the retention policy (also applied "
                   "at start)")
      ->check(Unsigned(1, 86400 * 366))
      ->capture_default_str();
  AddReplicaFlags(verb, &flags->replica);
  SetAction(verb, [flags] { return Serve(*flags); });
}

}  // namespace quipu::cli
