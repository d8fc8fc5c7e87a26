// cli/bench_workload.h — the append workloads behind `quipu bench` (and the
// RocksDB peer program, which compiles bench_workload.cc next to its own code
// so both measure quipu the same way).
//
// Two shapes:
//   blocking   K writer threads call Append() in a loop; an append counts when
//              it returns (under Always/GroupCommit that means durable).
//   pipelined  one producer appends with Durability::kBuffered and keeps up to
//              W records in flight; a syncer thread calls Sync() whenever
//              appends are pending (as `quipu ingest --durability group`
//              does), and a record counts only once the durable watermark has
//              passed it. The producer learns that from DurableLsn() and
//              blocks in AwaitDurableAbove() when W records are in flight.
//
// Latency: for policies that are durable on return, and for the pipelined
// shape, from the start of Append to durability; otherwise of Append itself.
// Appends that cannot block on a sync are timed one in kSampleEvery, so the
// clock reads do not dominate a ~100 ns append.
#ifndef QUIPU_CLI_BENCH_WORKLOAD_H_
#define QUIPU_CLI_BENCH_WORKLOAD_H_

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <latch>
#include <mutex>
#include <string>
#include <vector>

#include "quipu/options.h"
#include "quipu/status.h"

namespace quipu::bench {

inline constexpr uint32_t kSampleEvery = 16;

struct Workload {
  DurabilityPolicy policy = DurabilityPolicy::Always();
  int writers = 1;
  // Total records; 0 means run for `seconds` instead.
  uint64_t records = 0;
  double seconds = 1.0;
  // A time-bounded run also stops after this many records (0: no cap), so
  // that a fast policy does not leave gigabytes for Close() to sync.
  uint64_t max_records = 0;
  size_t record_size = 128;
  // > 0: the pipelined shape with this many appends in flight (writers is 1).
  uint64_t pipeline = 0;
  // The log's segment size (LogOptions::segment_size).
  uint64_t segment_size = LogOptions().segment_size;
  // The log directory; must not exist yet. The caller removes it.
  std::string dir;
};

using Clock = std::chrono::steady_clock;

inline uint32_t NanosSince(Clock::time_point start, Clock::time_point now) {
  const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(now - start).count();
  return static_cast<uint32_t>(std::min<int64_t>(ns, UINT32_MAX));  // 4.3 s caps a sample
}

inline double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

// CPU time of the whole process so far (every thread), as `perf stat -e
// task-clock` counts it.
double ProcessCpuSeconds();

// Starts K workers together and stops a time-bounded run: `stop` is set by
// the main thread and polled by the workers, which call Finished() when done.
class RunClock {
 public:
  explicit RunClock(int workers) : ready(workers), workers_(workers) {}

  std::latch ready;
  std::latch go{1};
  std::atomic<bool> stop{false};
  Clock::time_point start;

  // Releases the workers and, when `seconds` > 0, stops them after that long
  // (or returns early once all of them reached their cap).
  void Run(double seconds) {
    ready.wait();
    start = Clock::now();
    go.count_down();
    if (seconds <= 0) return;
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait_for(lock, std::chrono::duration<double>(seconds),
                 [this] { return finished_ == workers_; });
    stop.store(true, std::memory_order_relaxed);
  }

  void Finished() {
    std::lock_guard<std::mutex> lock(mu_);
    if (++finished_ == workers_) cv_.notify_one();
  }

 private:
  const int workers_;
  std::mutex mu_;
  std::condition_variable cv_;
  int finished_ = 0;  // guarded by mu_
};

// A scratch directory for benchmark runs, removed with everything in it
// when the object goes.
class Scratch {
 public:
  Scratch() = default;
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;
  ~Scratch();
  // Creates `parent` if missing, then a fresh <parent>/<prefix>-XXXXXX.
  Status Create(const std::string& parent, const std::string& prefix);
  // A fresh directory name for the next run's log; the previous run's is
  // removed first so runs do not compete with each other's files.
  std::string NextLog();
  const std::string& path() const { return path_; }

 private:
  std::string path_;  // absolute
  int runs_ = 0;
};

// Percentiles in microseconds over the timed appends.
struct Latency {
  double p50_us = 0;
  double p99_us = 0;
  double p999_us = 0;
  uint64_t samples = 0;
};

struct Measurement {
  uint64_t records = 0;    // appends counted (durable ones, when pipelined)
  double seconds = 0;      // from the first append to the last one counted
  uint64_t fsyncs = 0;     // LogStats::syncs during the run (Close excluded)
  double cpu_seconds = 0;  // the process's CPU time during the run (0: not measured)
  Latency latency;
  bool latency_to_durable = false;  // see the file comment

  double PerSecond() const { return seconds > 0 ? static_cast<double>(records) / seconds : 0; }
  double CpuMicrosPerRecord() const {
    return records > 0 ? 1e6 * cpu_seconds / static_cast<double>(records) : 0;
  }
  double FsyncsPer1000() const {
    return records > 0 ? 1000.0 * static_cast<double>(fsyncs) / static_cast<double>(records) : 0;
  }
};

// Opens a log in w.dir, runs the workload, closes the log. Errors are the
// log's (or InvalidArgument for a workload that makes no sense).
Result<Measurement> RunWorkload(const Workload& w);

// Percentiles of `ns` (sorted in place); all zero when empty.
Latency Percentiles(std::vector<uint32_t>* ns);

}  // namespace quipu::bench

#endif  // QUIPU_CLI_BENCH_WORKLOAD_H_
