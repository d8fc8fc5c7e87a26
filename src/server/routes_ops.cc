// server/routes_ops.cc — what operators and orchestrators call: liveness,
// readiness, metrics and the API's own description.
#include <sys/statvfs.h>

#include <string>

#include "quipu/log.h"
#include "server/openapi.h"
#include "server/service.h"

namespace quipu::server {

namespace {

using boost::asio::awaitable;

awaitable<void> GetHealth(Service&, Call& call) {
  json::OrderedJson body;
  body["status"] = "ok";
  co_await call.reply.Send(JsonResponse(http::status::ok, body));
}

awaitable<void> GetReady(Service& service, Call& call) {
  std::string reason = service.NotReadyReason();
  json::OrderedJson body;
  body["ready"] = reason.empty();
  if (!reason.empty()) body["reason"] = reason;
  co_await call.reply.Send(
      JsonResponse(reason.empty() ? http::status::ok : http::status::service_unavailable, body));
}

awaitable<void> GetMetrics(Service& service, Call& call) {
  StoreGauges gauges;
  LogStats stats = service.store().log()->Stats();
  gauges.appended_lsn = stats.last_lsn;
  gauges.durable_lsn = stats.durable_lsn;
  gauges.syncs = stats.syncs;
  gauges.pending_acks = service.acks().Pending();
  gauges.open_connections = service.open_connections.load();
  if (const replication::Replica* replica = service.replica()) {
    const replication::ClusterView view = replica->View();
    gauges.replica_writer = view.role == replication::Role::kWriter;
    gauges.replica_fenced = view.role == replication::Role::kFenced;
    gauges.replica_head = view.head;
    gauges.replica_applied = view.applied;
    gauges.replica_commits = replica->commits();
    gauges.replica_commit_bytes = replica->committed_bytes();
    gauges.replica_applied_batches = replica->applied_batches();
    gauges.replica_commit_micros = replica->commit_micros();
  }
  struct statvfs fs;
  if (statvfs(service.options().dir.c_str(), &fs) == 0) {
    gauges.disk_free_bytes = static_cast<int64_t>(fs.f_bavail) * static_cast<int64_t>(fs.f_frsize);
  }
  Response response{http::status::ok, 11};
  response.set(http::field::content_type, "text/plain; version=0.0.4; charset=utf-8");
  response.body() = service.metrics().Render(gauges);
  response.prepare_payload();
  co_await call.reply.Send(std::move(response));
}

awaitable<void> GetOpenApi(Service&, Call& call) {
  Response response{http::status::ok, 11};
  response.set(http::field::content_type, "application/json");
  response.body() = std::string(OpenApiDocument());
  response.prepare_payload();
  co_await call.reply.Send(std::move(response));
}

}  // namespace

void AddOpsRoutes(Service& service, Router& router) {
  AddRoute(service, router, http::verb::get, "/healthz", std::nullopt, GetHealth);
  AddRoute(service, router, http::verb::get, "/readyz", std::nullopt, GetReady);
  AddRoute(service, router, http::verb::get, "/metrics", Grant::kAdmin, GetMetrics);
  AddRoute(service, router, http::verb::get, "/v1/openapi.json", std::nullopt, GetOpenApi);
}

}  // namespace quipu::server
