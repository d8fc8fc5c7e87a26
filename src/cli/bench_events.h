// cli/bench_events.h — the audit-event workload behind `quipu bench --events`
// (and bench/event_bench, which compiles bench_events.cc next to its SQLite and
// PostgreSQL baselines so all three store the same events).
//
// The event: user u<K> (field name) updates document d<N> (field title) in
// folder f<N % 10> (field name), 1 000 documents, a 96-byte content, the URL
// /api/documents/d<N>. Entity fields never change, so in steady state every
// event pins existing versions and creates none.
//
// K threads call AuditStore::Emit in a loop until the run's time is up.
// Rates are wall-clock: every event that returned, over the time from the
// common start until the last writer stopped (never an average of per-thread
// times, which overstates a run whose threads finish unevenly). CPU is the
// whole process's (every thread: writers, the log's flusher, the index's
// committer and RocksDB's), read from CLOCK_PROCESS_CPUTIME_ID around the run,
// as `perf stat -e task-clock` would count it.
#ifndef QUIPU_CLI_BENCH_EVENTS_H_
#define QUIPU_CLI_BENCH_EVENTS_H_

#include <cstdint>
#include <string>

#include "cli/bench_workload.h"
#include "quipu/audit.h"

namespace quipu::bench {

inline constexpr int kEventDocuments = 1000;
inline constexpr int kEventFolders = 10;

// The event writer `writer` emits as its `i`th, in plain strings, for the
// baselines that store it in another database.
struct EventShape {
  std::string user, user_name;
  std::string document, title;
  std::string folder, folder_name;
  std::string method, url, content;
};
EventShape ShapeOf(int writer, int64_t i);

// The same as a quipu event.
Event EventOf(const EventShape& shape);

// Declares the types the event uses (user.name, document.title, folder.name,
// all indexed text).
Status DefineEventTypes(AuditStore* store);

struct EventWorkload {
  DurabilityPolicy policy = DurabilityPolicy::GroupCommit();
  int writers = 1;
  double seconds = 1.0;
  uint64_t max_events = 0;  // a run also stops after this many (0: no cap)
  std::string dir;          // the store's directory; must not exist yet
};

struct EventMeasurement {
  uint64_t events = 0;
  double seconds = 0;      // wall clock, first Emit to the last writer's stop
  uint64_t fsyncs = 0;     // the log's syncs during the run
  double cpu_seconds = 0;  // the process's CPU time during the run
  Latency latency;         // of every Emit (to durable, under GroupCommit/Always)

  double PerSecond() const { return seconds > 0 ? static_cast<double>(events) / seconds : 0; }
  double FsyncsPerEvent() const {
    return events > 0 ? static_cast<double>(fsyncs) / static_cast<double>(events) : 0;
  }
  double CpuMicrosPerEvent() const {
    return events > 0 ? 1e6 * cpu_seconds / static_cast<double>(events) : 0;
  }
};

// Opens a store in w.dir, defines the types, emits until the time is up,
// closes the store. The caller removes w.dir.
Result<EventMeasurement> RunEventWorkload(const EventWorkload& w);

}  // namespace quipu::bench

#endif  // QUIPU_CLI_BENCH_EVENTS_H_
