// cli/bench_baselines.h — what the device and the kernel allow, measured in
// the same run and directory as quipu so ratios mean something on a shared,
// noisy machine:
//   write+fdatasync        one write(2) and one fdatasync per record: the
//                          single-writer durable limit. Its mean time per
//                          record is the "measured fdatasync time".
//   buffer+fdatasync:B     records copied into a user-space buffer, written
//                          and fdatasynced every B records; counted when synced.
//   write                  one write(2) per record, no sync.
//   seq-write              1 MiB write(2)s then one fdatasync: bandwidth.
//   textbook-group (K)     K threads; each copies its record into one shared
//                          buffer under one mutex; the first that finds no
//                          sync running leads: it swaps the buffer out,
//                          writes and fdatasyncs it outside the mutex,
//                          publishes the durable count and wakes every
//                          waiter through one condition variable; a writer
//                          returns once the count covers its record. The
//                          group commit of LevelDB's and RocksDB's write
//                          path, with nothing else: the anchor of quipu's
//                          blocking group commit.
// These deliberately call POSIX directly (not through quipu::Env): they are
// the floor quipu is compared with, so nothing of quipu's may be in them.
#ifndef QUIPU_CLI_BENCH_BASELINES_H_
#define QUIPU_CLI_BENCH_BASELINES_H_

#include <functional>
#include <string>
#include <vector>

#include "cli/bench_workload.h"
#include "quipu/status.h"

namespace quipu::bench {

struct Baseline {
  std::string name;  // as in the file comment, e.g. "buffer+fdatasync:4096"
  Measurement m;     // records = record-sized units; latency per record (write+fdatasync only)
  double bytes = 0;  // bytes written
};

struct BaselinePlan {
  std::string dir;  // scratch directory, must exist; files are removed afterwards
  double seconds = 1.0;
  uint64_t max_bytes = 128ull << 20;  // caps the no-sync ones and seq-write
  size_t record_size = 128;
};

inline constexpr uint64_t kBufferBatches[] = {1, 8, 64, 512, 4096};

// The write+fdatasync baseline alone: run right before and after a durable
// quipu run, it gives that run a reference from the same minute, since this
// device's fdatasync time drifts by 2x within one matrix.
Result<Baseline> MeasureFdatasync(const BaselinePlan& plan);

// The textbook group commit with `writers` threads (latency: to durable).
Result<Baseline> MeasureTextbookGroup(const BaselinePlan& plan, int writers);

// Runs every baseline in order; `step` (may be empty) is told each name first.
Result<std::vector<Baseline>> RunBaselines(const BaselinePlan& plan,
                                           const std::function<void(const std::string&)>& step);

}  // namespace quipu::bench

#endif  // QUIPU_CLI_BENCH_BASELINES_H_
