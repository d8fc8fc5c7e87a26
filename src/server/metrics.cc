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

std::string Metrics::Render(const StoreGauges& g) {
  durable_lag_->Set(static_cast<double>(g.appended_lsn - std::min(g.appended_lsn, g.durable_lsn)));
  {
    // The log counts its syncs; the counter catches up by the difference.
    std::lock_guard<std::mutex> lock(render_mu_);
    if (g.syncs > reported_syncs_)
      syncs_->Increment(static_cast<double>(g.syncs - reported_syncs_));
    reported_syncs_ = std::max(reported_syncs_, g.syncs);
  }
  pending_->Set(static_cast<double>(g.pending_acks));
  disk_free_->Set(static_cast<double>(g.disk_free_bytes));
  connections_->Set(static_cast<double>(g.open_connections));
  return prometheus::TextSerializer().Serialize(registry_->Collect());
}

}  // namespace quipu::server
