#include "server/server.h"

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <csignal>
#include <cstdio>
#include <memory>
#include <thread>
#include <vector>

#include "json/audit.h"
#include "quipu/audit.h"
#include "server/auth.h"
#include "server/connection.h"
#include "server/service.h"

namespace quipu::server {

namespace {

namespace asio = boost::asio;
using asio::awaitable;
using asio::use_awaitable;
using tcp = asio::ip::tcp;

constexpr auto kTuple = asio::as_tuple(use_awaitable);

awaitable<void> AcceptLoop(Service& service, tcp::acceptor& acceptor, asio::ssl::context* tls,
                           Connections& connections) {
  while (acceptor.is_open()) {
    // Each connection gets a strand: its coroutine never runs on two
    // threads at once, and the shutdown path can post to it.
    tcp::socket socket(asio::make_strand(acceptor.get_executor()));
    auto [ec] = co_await acceptor.async_accept(socket, kTuple);
    if (ec == asio::error::operation_aborted || !acceptor.is_open()) co_return;
    if (ec) {
      // Out of descriptors, or a connection reset before accept: back off
      // briefly rather than spin.
      asio::steady_timer pause(acceptor.get_executor(), std::chrono::milliseconds(50));
      co_await pause.async_wait(kTuple);
      continue;
    }
    boost::system::error_code ignored;
    socket.set_option(tcp::no_delay(true), ignored);  // responses are small: never wait for Nagle
    auto executor = socket.get_executor();
    if (service.open_connections.load() >= service.options().max_connections) {
      if (tls == nullptr)
        asio::co_spawn(executor, RefuseConnection(std::move(socket)), asio::detached);
      continue;  // over TLS there is no plain answer to give: just close
    }
    asio::co_spawn(executor, ServeConnection(service, std::move(socket), tls, connections),
                   asio::detached);
  }
}

void LogLine(Service& service, json::OrderedJson line) {
  line["time"] = FormatRfc3339Utc(std::chrono::duration_cast<std::chrono::microseconds>(
                                      std::chrono::system_clock::now().time_since_epoch())
                                      .count());
  service.Log(json::JsonLine(line));
}

// Stops accepting, lets requests in flight finish and stops the I/O loop.
awaitable<void> Drain(Service& service, tcp::acceptor& acceptor, Connections& connections,
                      asio::io_context& io) {
  if (service.stopping.exchange(true)) co_return;  // already draining
  LogLine(service, {{"event", "shutdown"}, {"connections", connections.size()}});
  boost::system::error_code ignored;
  acceptor.close(ignored);
  // Idle connections close now; busy ones finish their request (its durable
  // ack included) and then close, because stopping turns keep-alive off.
  const auto deadline = std::chrono::steady_clock::now() + service.options().shutdown_grace;
  asio::steady_timer tick(io);
  while (connections.size() > 0 && std::chrono::steady_clock::now() < deadline) {
    connections.CloseIdle();
    tick.expires_after(std::chrono::milliseconds(20));
    co_await tick.async_wait(kTuple);
  }
  io.stop();
}

awaitable<void> WatchSignals(Service& service, asio::signal_set& signals, tcp::acceptor& acceptor,
                             Connections& connections, asio::io_context& io) {
  while (true) {
    auto [ec, number] = co_await signals.async_wait(kTuple);
    if (ec) co_return;
    if (number != SIGHUP) {
      LogLine(service, {{"event", "signal"}, {"signal", number == SIGTERM ? "SIGTERM" : "SIGINT"}});
      co_return co_await Drain(service, acceptor, connections, io);
    }
    service.ReloadTokens();
  }
}

// Applies the retention policy every retain_every, on a worker (a purge
// holds the store's writer lock meanwhile), and logs what it did.
awaitable<void> RetainLoop(Service& service, asio::io_context& io) {
  asio::steady_timer tick(io);
  while (!service.stopping.load()) {
    tick.expires_after(service.options().retain_every);
    auto [ec] = co_await tick.async_wait(kTuple);
    if (ec || service.stopping.load()) co_return;
    RetainReport report;
    Status s = co_await service.OnWorkers([&service, &report] {
      Result<RetainReport> done = service.store().Retain(service.options().retention);
      if (done.ok()) report = *done;
      return done.status();
    });
    if (!s.ok()) {
      LogLine(service, {{"event", "retain"}, {"error", s.ToString()}});
    } else if (report.purged) {
      LogLine(service, {{"event", "retain"},
                        {"segments", report.segments},
                        {"bytes", report.bytes},
                        {"first_kept", report.first_kept},
                        {"last_log_id", report.last_log_id},
                        {"purge_lsn", report.purge_lsn}});
    }
  }
}

Result<std::unique_ptr<asio::ssl::context>> MakeTlsContext(const ServerOptions& options) {
  if (!options.tls_cert && !options.tls_key) return std::unique_ptr<asio::ssl::context>();
  if (!options.tls_cert || !options.tls_key) {
    return Status::InvalidArgument("TLS needs both --tls-cert and --tls-key");
  }
  auto context = std::make_unique<asio::ssl::context>(asio::ssl::context::tls_server);
  boost::system::error_code ec;
  context->set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                           asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 |
                           asio::ssl::context::no_tlsv1_1,
                       ec);
  if (!ec) context->use_certificate_chain_file(*options.tls_cert, ec);
  if (ec)
    return Status::InvalidArgument("TLS certificate " + *options.tls_cert + ": " + ec.message());
  context->use_private_key_file(*options.tls_key, asio::ssl::context::pem, ec);
  if (ec) return Status::InvalidArgument("TLS key " + *options.tls_key + ": " + ec.message());
  return context;
}

// A replicated node refuses what acts beyond its log (docs/replication.md).
Status CheckReplicated(const ServerOptions& options) {
  if (!options.replica) return Status::OK();
  if (options.keys)
    return Status::InvalidArgument(
        "a replicated group cannot hold protected fields yet (no --key-file)");
  if (!options.retention.empty())
    return Status::InvalidArgument("a replicated group cannot purge yet (no --retain-*)");
  if (options.signing_key)
    return Status::InvalidArgument("a replicated node signs no checkpoints yet (no --signing-key)");
  return replication::Replica::CheckOptions(*options.replica);
}

// Scoped tokens' columns must exist before their first write: a single node
// registers them at open, a replicated one when it becomes the writer.
Status RegisterScopeColumns(AuditStore& store, const TokenSet& tokens) {
  for (const TokenEntry& entry : tokens.entries()) {
    if (!entry.scope) continue;
    Status s = store.RegisterColumn(ColumnSpec{entry.scope->column, FieldKind::kText});
    if (!s.ok()) return s.WithContext("token " + entry.id + "'s scope column");
  }
  return Status::OK();
}

Result<std::unique_ptr<AuditStore>> OpenServedStore(const ServerOptions& options,
                                                    const TokenSet& tokens) {
  AuditOptions audit;
  audit.log.durability = options.durability;
  audit.log.create_if_missing = options.create;
  // As the CLI's writers: an open that does not grow with the log.
  audit.log.verify_sealed_segments = false;
  if (options.signing_key) audit.log.tree.signing_key_path = *options.signing_key;
  audit.retention = options.retention;
  audit.keys = options.keys;
  audit.log.segment_size = options.segment_size;
  // Records may use up to half a segment (at most the default 1 MiB).
  audit.log.max_record_size = static_cast<uint32_t>(
      std::min<uint64_t>(audit.log.max_record_size, options.segment_size / 2));
  if (options.replica) {
    // A record must fit one batch; and what the group never committed goes.
    audit.log.max_record_size = static_cast<uint32_t>(std::min<uint64_t>(
        audit.log.max_record_size, options.replica->max_batch_bytes - replication::kBatchOverhead -
                                       replication::kRecordOverhead));
    auto rejoin = replication::Replica::RejoinPoint(*options.replica);
    if (!rejoin.ok()) return rejoin.status().WithContext("reading the group's head from etcd");
    audit.log.discard_after = *rejoin;
  }
  Result<std::unique_ptr<AuditStore>> store = AuditStore::Open(options.dir, audit);
  if (!store.ok()) return store.status();
  if (!options.replica) QUIPU_RETURN_IF_ERROR(RegisterScopeColumns(**store, tokens));
  return store;
}

// Starts this node's part in its group; on a step-down the server drains
// and sets `restart`.
Status StartReplica(Service& service, tcp::acceptor& acceptor, Connections& connections,
                    asio::io_context& io, std::atomic<bool>* restart) {
  replication::ReplicaOptions options = *service.options().replica;
  options.log = [&service](json::OrderedJson line) { LogLine(service, std::move(line)); };
  options.on_writer = [&service] {
    return RegisterScopeColumns(service.store(), *service.tokens());
  };
  options.on_step_down = [&service, &acceptor, &connections, &io, restart](const std::string&) {
    restart->store(true);
    asio::co_spawn(io, Drain(service, acceptor, connections, io), asio::detached);
  };
  const RecoveryReport& recovery = service.store().log()->Recovery();
  if (recovery.discarded_records > 0) {
    LogLine(service, {{"event", "replica_discarded"},
                      {"records", recovery.discarded_records},
                      {"reason", recovery.reason}});
  }
  auto replica = replication::Replica::Start(options, &service.store());
  if (!replica.ok()) return replica.status();
  service.AttachReplica(std::move(*replica));
  return Status::OK();
}

Status Listen(tcp::acceptor& acceptor, const ServerOptions& options) {
  boost::system::error_code ec;
  asio::ip::address address = asio::ip::make_address(options.host, ec);
  if (ec) return Status::InvalidArgument("--listen: " + options.host + " is not an IP address");
  tcp::endpoint endpoint(address, options.port);
  acceptor.open(endpoint.protocol(), ec);
  if (!ec) acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) acceptor.bind(endpoint, ec);
  if (!ec) acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    return Status::IOError("listen on " + options.host + ":" + std::to_string(options.port) + ": " +
                           ec.message());
  }
  return Status::OK();
}

}  // namespace

Status RunServer(const ServerOptions& options, bool* restart) {
  QUIPU_RETURN_IF_ERROR(CheckReplicated(options));
  Result<TokenSet> tokens = TokenSet::Load(options.token_file);
  if (!tokens.ok()) return tokens.status();
  auto tls = MakeTlsContext(options);
  if (!tls.ok()) return tls.status();
  // Listen before the store is opened (or created): an address that cannot
  // be bound leaves no new store behind.
  auto io = std::make_unique<asio::io_context>(static_cast<int>(options.threads));
  auto acceptor = std::make_unique<tcp::acceptor>(*io);
  QUIPU_RETURN_IF_ERROR(Listen(*acceptor, options));
  auto store = OpenServedStore(options, *tokens);
  if (!store.ok()) return store.status();

  // Reads are recorded before they are answered, when the store keeps an
  // access log; this process then holds it for the whole run.
  auto access = access::AccessLog::Open(options.dir);
  if (!access.ok()) {
    (void)(*store)->Close();
    return access.status();
  }
  asio::thread_pool workers(options.workers);
  Service service(options, std::move(*store), std::move(*tokens), &workers, std::move(*access));
  auto signals = std::make_unique<asio::signal_set>(*io, SIGTERM, SIGINT, SIGHUP);
  Connections connections;
  std::atomic<bool> restart_wanted{false};
  if (options.replica) {
    Status started = StartReplica(service, *acceptor, connections, *io, &restart_wanted);
    if (!started.ok()) {
      (void)service.Close();
      return started.WithContext("joining replicated group " + options.replica->group);
    }
  }

  const tcp::endpoint bound = acceptor->local_endpoint();
  json::OrderedJson ready;
  ready["listening"] = bound.address().to_string() + ":" + std::to_string(bound.port());
  ready["tls"] = *tls != nullptr;
  std::string line = json::JsonLine(ready);
  std::fwrite(line.data(), 1, line.size(), stdout);
  std::fflush(stdout);

  asio::co_spawn(*io, AcceptLoop(service, *acceptor, tls->get(), connections), asio::detached);
  asio::co_spawn(*io, WatchSignals(service, *signals, *acceptor, connections, *io), asio::detached);
  if (!options.retention.empty()) asio::co_spawn(*io, RetainLoop(service, *io), asio::detached);
  std::vector<std::thread> threads;
  for (unsigned i = 1; i < options.threads; ++i) threads.emplace_back([&io] { io->run(); });
  io->run();
  for (std::thread& t : threads) t.join();
  workers.join();
  Status closed = service.Close();
  // Connections still open after the grace end here, while the service
  // their coroutines refer to still exists.
  signals.reset();
  acceptor.reset();
  io.reset();
  LogLine(service, {{"event", "stopped"}, {"ok", closed.ok()}, {"restart", restart_wanted.load()}});
  if (restart != nullptr) *restart = restart_wanted.load();
  return closed;
}

}  // namespace quipu::server
