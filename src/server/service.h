// server/service.h — one audit store served over HTTP: the state every
// route shares (store, durable acks, tokens, metrics, limits) and the
// request path common to all routes: route lookup, authentication, grant
// check, the handler, then metrics and one request-log line.
//
// Handlers (server/routes_*.cc) run on the connection's strand; anything
// that may take long (queries, exports, verification) they move to the
// worker pool with OnWorkers, so a slow read never stalls the I/O threads
// or a writer.
#ifndef QUIPU_SERVER_SERVICE_H_
#define QUIPU_SERVER_SERVICE_H_

#include <atomic>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "access/access_log.h"
#include "quipu/audit.h"
#include "replication/replica.h"
#include "server/acks.h"
#include "server/auth.h"
#include "server/http.h"
#include "server/metrics.h"
#include "server/options.h"
#include "server/router.h"

namespace quipu::server {

class Service {
 public:
  // Takes the open store, and its access log when it keeps one (reads are
  // then recorded there); `workers` must outlive the service.
  Service(const ServerOptions& options, std::unique_ptr<AuditStore> store, TokenSet tokens,
          boost::asio::thread_pool* workers, std::unique_ptr<access::AccessLog> access = nullptr);
  ~Service();
  Service(const Service&) = delete;
  Service& operator=(const Service&) = delete;

  // Answers one request on `reply`. `remote` names the peer in the log.
  boost::asio::awaitable<void> Handle(const Request& request, Reply& reply,
                                      std::string_view remote);

  const Router& router() const { return router_; }
  AuditStore& store() { return *store_; }
  DurableAcks& acks() { return *acks_; }
  Metrics& metrics() { return metrics_; }
  const ServerOptions& options() const { return options_; }

  // How handlers append: kBuffered when the acker causes the syncs, else
  // the policy's own rhythm.
  Durability emit_durability() const {
    return acker_syncs_ ? Durability::kBuffered : Durability::kPolicy;
  }
  // False under a policy that never syncs (os): writes are answered 202.
  bool acks_durable() const {
    return options_.durability.kind() != DurabilityPolicy::Kind::kOsManaged;
  }

  // Runs `fn` (returning a default-constructible value) on the worker pool
  // and resumes the caller on its own executor with the result.
  template <typename Fn>
  boost::asio::awaitable<std::invoke_result_t<Fn>> OnWorkers(Fn fn) {
    using T = std::invoke_result_t<Fn>;
    co_return co_await boost::asio::co_spawn(
        *workers_, [fn = std::move(fn)]() mutable -> boost::asio::awaitable<T> { co_return fn(); },
        boost::asio::use_awaitable);
  }

  // A slot among the caller's concurrent queries/exports; releases on
  // destruction. nullopt when the token already holds its maximum (429).
  class QuerySlot {
   public:
    QuerySlot(Service* service, std::string token) : service_(service), token_(std::move(token)) {}
    QuerySlot(QuerySlot&& other) noexcept
        : service_(other.service_), token_(std::move(other.token_)) {
      other.service_ = nullptr;
    }
    QuerySlot& operator=(QuerySlot&&) = delete;
    ~QuerySlot();

   private:
    Service* service_;
    std::string token_;
  };
  std::optional<QuerySlot> TakeQuerySlot(const Principal& principal);

  // Records a read by `principal` in the access log, if the store keeps
  // one (access/access_log.h); blocks until it is durable, so call it on a
  // worker. nullopt when recorded (or nothing to record); else the 500 the
  // route sends instead of its answer.
  std::optional<Response> RecordRead(const Principal& principal, std::string_view verb,
                                     const json::OrderedJson& shape, std::optional<uint64_t> rows);

  // The outcome of every write, for readiness: a full disk or a poisoned
  // log makes the server not ready until a write succeeds again.
  void NoteWrite(const Status& status);
  // Empty when ready; else why not.
  std::string NotReadyReason() const;

  // Re-reads the token file; a bad file keeps the current set.
  void ReloadTokens();
  std::shared_ptr<const TokenSet> tokens() const;

  std::atomic<uint64_t> open_connections{0};
  std::atomic<bool> verifying{false};
  std::atomic<bool> stopping{false};

  // --- replication (docs/replication.md) ---

  // This node's place in a replicated group; null on a single node.
  replication::Replica* replica() const { return replica_.get(); }
  // Takes the running replica: from then on a write is acknowledged once
  // the group committed it too (commit_acks), and followers redirect writes.
  void AttachReplica(std::unique_ptr<replication::Replica> replica);
  // The group's committed head as a watermark to wait for; null on a
  // single node.
  DurableAcks* commit_acks() { return commit_acks_.get(); }
  // What a write gets on a node that is not the group's writer: 307 to the
  // writer, or 503 while there is none. nullopt on the writer and on a
  // single node.
  std::optional<Response> RedirectWrite(const Request& request) const;

  // Completes every pending ack, stops the replica and closes the store.
  Status Close();

  // One JSON line on stderr.
  void Log(std::string_view line);

 private:
  const ServerOptions options_;
  std::unique_ptr<AuditStore> store_;
  std::unique_ptr<access::AccessLog> access_;  // null: reads are not recorded
  const bool acker_syncs_;
  std::unique_ptr<DurableAcks> acks_;
  std::unique_ptr<replication::Replica> replica_;  // null: a single node
  std::unique_ptr<DurableAcks> commit_acks_;       // with replica_
  boost::asio::thread_pool* workers_;
  Metrics metrics_;
  Router router_;

  mutable std::mutex mu_;
  // --- guarded by mu_ ---
  std::shared_ptr<const TokenSet> tokens_;
  std::map<std::string, unsigned> queries_by_token_;
  Status write_failure_;  // last write's failure (NoSpace or poison); OK once one succeeds
  // ---
  std::mutex log_mu_;
  bool closed_ = false;
};

// A route whose handler is a function of the service and the call.
using ServiceHandler = boost::asio::awaitable<void> (*)(Service&, Call&);
void AddRoute(Service& service, Router& router, http::verb method, std::string pattern,
              std::optional<Grant> grant, ServiceHandler handler);

// Route tables, one per file (server/routes_*.cc).
void AddEventRoutes(Service& service, Router& router);
void AddReadRoutes(Service& service, Router& router);
void AddTreeRoutes(Service& service, Router& router);
void AddOpsRoutes(Service& service, Router& router);
void AddClusterRoutes(Service& service, Router& router);

}  // namespace quipu::server

#endif  // QUIPU_SERVER_SERVICE_H_
