#include "server/metrics.h"

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include <algorithm>
#include <mutex>
#include <string>

namespace quipu::server {

namespace {

using prometheus::BuildCounter;
using prometheus::BuildGauge;
using prometheus::BuildHistogram;

// 100 µs .. ~13 s: a durable ack on a fast disk is a fraction of a
// millisecond, an export of a large store takes seconds.
prometheus::Histogram::BucketBoundaries LatencyBuckets() {
  prometheus::Histogram::BucketBoundaries bounds;
  for (double b = 0.0001; b < 15; b *= 2) bounds.push_back(b);
  return bounds;
}

}  // namespace

Metrics::Metrics() : registry_(std::make_shared<prometheus::Registry>()) {
  auto& r = *registry_;
  requests_ = &BuildCounter()
                   .Name("quipu_http_requests_total")
                   .Help("HTTP requests answered, by method, route and status")
                   .Register(r);
  durations_ =
      &BuildHistogram()
           .Name("quipu_http_request_duration_seconds")
           .Help("Time from request read to response sent (for writes: to the durable ack)")
           .Register(r);
  reloads_ = &BuildCounter()
                  .Name("quipu_token_reloads_total")
                  .Help("Token file reloads (SIGHUP), by result")
                  .Register(r);
  request_bytes_ = &BuildCounter()
                        .Name("quipu_http_request_bytes_total")
                        .Help("Request body bytes read")
                        .Register(r)
                        .Add({});
  response_bytes_ = &BuildCounter()
                         .Name("quipu_http_response_bytes_total")
                         .Help("Response body bytes sent")
                         .Register(r)
                         .Add({});
  appended_ = &BuildCounter()
                   .Name("quipu_events_appended_total")
                   .Help("Events appended to the log by this server")
                   .Register(r)
                   .Add({});
  durable_ = &BuildCounter()
                  .Name("quipu_events_durable_total")
                  .Help("Events acknowledged as durable")
                  .Register(r)
                  .Add({});
  durable_lag_ = &BuildGauge()
                      .Name("quipu_durable_lag_records")
                      .Help("Records appended but not yet durable")
                      .Register(r)
                      .Add({});
  syncs_ = &BuildCounter()
                .Name("quipu_log_syncs_total")
                .Help("fdatasync calls on the log's segments since the server opened it")
                .Register(r)
                .Add({});
  pending_ = &BuildGauge()
                  .Name("quipu_pending_acks")
                  .Help("Requests waiting for their records to become durable")
                  .Register(r)
                  .Add({});
  disk_free_ = &BuildGauge()
                    .Name("quipu_disk_free_bytes")
                    .Help("Free bytes on the store's file system (-1 if unknown)")
                    .Register(r)
                    .Add({});
  connections_ = &BuildGauge()
                      .Name("quipu_connections_open")
                      .Help("Client connections open")
                      .Register(r)
                      .Add({});
  replica_writer_ = &BuildGauge()
                         .Name("quipu_replica_writer")
                         .Help("1 while this node is its replicated group's writer")
                         .Register(r)
                         .Add({});
  replica_fenced_ = &BuildGauge()
                         .Name("quipu_replica_fenced")
                         .Help("1 once this node fenced itself: its root differs from its peers'")
                         .Register(r)
                         .Add({});
  replica_head_ = &BuildGauge()
                       .Name("quipu_replica_head_lsn")
                       .Help("The group's last committed LSN, as this node last learned it")
                       .Register(r)
                       .Add({});
  replica_applied_ = &BuildGauge()
                          .Name("quipu_replica_applied_lsn")
                          .Help("The last committed LSN durable in this node's log")
                          .Register(r)
                          .Add({});
  replica_commits_ = &BuildCounter()
                          .Name("quipu_replica_batches_committed_total")
                          .Help("Batches this node committed to etcd as the writer")
                          .Register(r)
                          .Add({});
  replica_commit_bytes_ = &BuildCounter()
                               .Name("quipu_replica_batch_bytes_committed_total")
                               .Help("Bytes of the batches this node committed to etcd")
                               .Register(r)
                               .Add({});
  replica_applied_batches_ = &BuildCounter()
                                  .Name("quipu_replica_batches_applied_total")
                                  .Help("Committed batches this node applied as a follower")
                                  .Register(r)
                                  .Add({});
  replica_commit_seconds_ = &BuildCounter()
                                 .Name("quipu_replica_commit_seconds_total")
                                 .Help("Time in etcd transactions of the committed batches")
                                 .Register(r)
                                 .Add({});
  reloads_->Add({{"result", "ok"}});
  reloads_->Add({{"result", "error"}});
}

Metrics::~Metrics() = default;

void Metrics::Request(std::string_view method, std::string_view route, unsigned status,
                      double seconds, uint64_t request_bytes, uint64_t response_bytes) {
  const std::string method_label(method), route_label(route);
  requests_
      ->Add({{"method", method_label}, {"route", route_label}, {"status", std::to_string(status)}})
      .Increment();
  durations_->Add({{"method", method_label}, {"route", route_label}}, LatencyBuckets())
      .Observe(seconds);
  request_bytes_->Increment(static_cast<double>(request_bytes));
  response_bytes_->Increment(static_cast<double>(response_bytes));
}

void Metrics::EventsAppended(uint64_t n) { appended_->Increment(static_cast<double>(n)); }
void Metrics::EventsDurable(uint64_t n) { durable_->Increment(static_cast<double>(n)); }

void Metrics::TokenReload(bool ok) { reloads_->Add({{"result", ok ? "ok" : "error"}}).Increment(); }

namespace {

// A counter fed from a running total catches up by the difference.
void CatchUp(prometheus::Counter* counter, uint64_t total, uint64_t* reported) {
  if (total > *reported) counter->Increment(static_cast<double>(total - *reported));
  *reported = std::max(*reported, total);
}

}  // namespace

std::string Metrics::Render(const StoreGauges& g) {
  durable_lag_->Set(static_cast<double>(g.appended_lsn - std::min(g.appended_lsn, g.durable_lsn)));
  {
    std::lock_guard<std::mutex> lock(render_mu_);
    CatchUp(syncs_, g.syncs, &reported_syncs_);
    CatchUp(replica_commits_, g.replica_commits, &reported_commits_);
    CatchUp(replica_commit_bytes_, g.replica_commit_bytes, &reported_commit_bytes_);
    CatchUp(replica_applied_batches_, g.replica_applied_batches, &reported_applied_batches_);
    if (g.replica_commit_micros > reported_commit_micros_) {
      replica_commit_seconds_->Increment(
          static_cast<double>(g.replica_commit_micros - reported_commit_micros_) / 1e6);
    }
    reported_commit_micros_ = std::max(reported_commit_micros_, g.replica_commit_micros);
  }
  replica_writer_->Set(g.replica_writer ? 1 : 0);
  replica_fenced_->Set(g.replica_fenced ? 1 : 0);
  replica_head_->Set(static_cast<double>(g.replica_head));
  replica_applied_->Set(static_cast<double>(g.replica_applied));
  pending_->Set(static_cast<double>(g.pending_acks));
  disk_free_->Set(static_cast<double>(g.disk_free_bytes));
  connections_->Set(static_cast<double>(g.open_connections));
  return prometheus::TextSerializer().Serialize(registry_->Collect());
}

}  // namespace quipu::server
