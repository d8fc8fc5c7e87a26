// server/metrics.h — what `quipu serve` exports at /metrics, in the
// Prometheus text format (prometheus-cpp's core library renders it; the
// server serves it from its own route, not from a second HTTP server).
//
// Counters and histograms are updated as requests complete; gauges that
// mirror the store (durable lag, syncs, disk free, pending acks) are read
// when the page is rendered, so they cost nothing between scrapes.
#ifndef QUIPU_SERVER_METRICS_H_
#define QUIPU_SERVER_METRICS_H_

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

namespace prometheus {
class Registry;
class Counter;
class Gauge;
template <typename T>
class Family;
class Histogram;
}  // namespace prometheus

namespace quipu::server {

// The store's side of the page, read at render time.
struct StoreGauges {
  uint64_t appended_lsn = 0;
  uint64_t durable_lsn = 0;
  uint64_t syncs = 0;
  uint64_t pending_acks = 0;
  int64_t disk_free_bytes = -1;  // -1: unknown
  uint64_t open_connections = 0;
  // A node of a replicated group (docs/replication.md); zeros otherwise.
  bool replica_writer = false;
  bool replica_fenced = false;
  uint64_t replica_head = 0;
  uint64_t replica_applied = 0;
  uint64_t replica_commits = 0;
  uint64_t replica_commit_bytes = 0;
  uint64_t replica_applied_batches = 0;
  uint64_t replica_commit_micros = 0;
};

class Metrics {
 public:
  Metrics();
  ~Metrics();

  // One finished request. `route` is the route's pattern (bounded label
  // values), or "unmatched".
  void Request(std::string_view method, std::string_view route, unsigned status, double seconds,
               uint64_t request_bytes, uint64_t response_bytes);
  void EventsAppended(uint64_t n);
  void EventsDurable(uint64_t n);
  void TokenReload(bool ok);

  std::string Render(const StoreGauges& gauges);

 private:
  std::shared_ptr<prometheus::Registry> registry_;
  prometheus::Family<prometheus::Counter>* requests_;
  prometheus::Family<prometheus::Histogram>* durations_;
  prometheus::Family<prometheus::Counter>* reloads_;
  prometheus::Counter* request_bytes_;
  prometheus::Counter* response_bytes_;
  prometheus::Counter* appended_;
  prometheus::Counter* durable_;
  prometheus::Gauge* durable_lag_;
  prometheus::Counter* syncs_;
  prometheus::Gauge* pending_;
  prometheus::Gauge* disk_free_;
  prometheus::Gauge* connections_;
  prometheus::Gauge* replica_writer_;
  prometheus::Gauge* replica_fenced_;
  prometheus::Gauge* replica_head_;
  prometheus::Gauge* replica_applied_;
  prometheus::Counter* replica_commits_;
  prometheus::Counter* replica_commit_bytes_;
  prometheus::Counter* replica_applied_batches_;
  prometheus::Counter* replica_commit_seconds_;
  std::mutex render_mu_;
  // --- guarded by render_mu_: what the counters fed from totals reported ---
  uint64_t reported_syncs_ = 0;
  uint64_t reported_commits_ = 0;
  uint64_t reported_commit_bytes_ = 0;
  uint64_t reported_applied_batches_ = 0;
  uint64_t reported_commit_micros_ = 0;
};

}  // namespace quipu::server

#endif  // QUIPU_SERVER_METRICS_H_
