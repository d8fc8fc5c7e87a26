// drill/drill.h — power-loss drills: evidence for every durability promise.
//
// One crash (RunCrash) runs a randomized workload against a Log on a FaultEnv
// with small segments (so crashes land around rotation), crashes it at a
// random point — inside an append, a rotation or a sync, or between appends —
// cuts the power, reopens (crashing once more during or right after
// recovery), and checks the invariants of the durability contract:
//   1. every record reported durable (an Append that returned under Always,
//      GroupCommit or Durability::kImmediate, or an LSN at or below an observed
//      DurableLsn()) is present, intact and in order;
//   2. the recovered log is a prefix of what was appended: every payload is
//      one that was appended (payloads carry their writer, sequence number
//      and a CRC), never one whose Append was refused, with no holes and no
//      reordering;
//   3. acknowledged records lost stay within the policy's bound: n-1 for
//      EveryN(n); for EveryNOrInterval(n, t) also younger than t plus an
//      allowance at the crash;
//   4. the log reopens after the second crash and accepts appends.
// A crash may first inject a failed fdatasync (the log must be poisoned and
// lose nothing acknowledged as durable) or a full disk (appends fail with
// NoSpace without poisoning and resume once space returns).
//
// RunDrill repeats RunCrash with derived seeds and sums the figures that go
// into docs/durability.md. Both are deterministic for a seed as far as thread
// scheduling and timers allow; every violation names the seed of its crash.
#ifndef QUIPU_DRILL_DRILL_H_
#define QUIPU_DRILL_DRILL_H_

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "quipu/options.h"
#include "quipu/status.h"

namespace quipu::drill {

// What the power cut keeps of data that was written but not synced.
enum class LossMode {
  kPlain,  // nothing
  kTorn,   // a 512-byte-aligned prefix of the first unsynced write
  kPages,  // a random subset of the unsynced 4 KiB pages (reordered write-back)
};
std::string_view LossModeName(LossMode mode);
Result<LossMode> ParseLossMode(std::string_view name);  // "plain", "torn", "pages"

// What a crash injects before the power goes.
enum class Fault {
  kNone,
  kFailedSync,  // one fdatasync fails at a random point
  kFullDisk,    // the disk fills at a random point, then space returns
};

// A policy with the way the workload drives it.
struct Scenario {
  std::string name;  // e.g. "every:16", "group-x4"
  DurabilityPolicy policy = DurabilityPolicy::Always();
  int threads = 1;
  double immediate_share = 0;  // of appends made with Durability::kImmediate
};

// The scenarios the risk table covers: always, every:16, every:16,5, group,
// group-x4 (4 threads), os, os+immediate (a tenth of appends kImmediate).
std::vector<Scenario> StandardScenarios();
// A standard scenario by name, or one thread under any DurabilityPolicy
// spelling ("every:100").
Result<Scenario> FindScenario(std::string_view name);

struct CrashOptions {
  std::string dir;  // scratch directory; created, and emptied first
  Scenario scenario;
  LossMode mode = LossMode::kPlain;
  Fault fault = Fault::kNone;
  uint64_t seed = 0;
  // Slack over EveryNOrInterval's interval for timer wake-up and scheduling.
  std::chrono::milliseconds time_allowance{250};
};

struct CrashOutcome {
  uint64_t acked = 0;                   // appends that returned an LSN before the crash
  uint64_t must_survive = 0;            // highest LSN reported durable
  uint64_t recovered = 0;               // records in the log after recovery
  uint64_t durable_lost = 0;            // reported durable but missing: must be 0
  uint64_t acked_lost = 0;              // acknowledged, not durable, lost to the power cut
  uint64_t buffered_lost = 0;           // acknowledged, still in the user-space buffer:
                                        // what a process crash would have lost
  double max_lost_age_ms = 0;           // age of the oldest lost acknowledged record
  uint64_t policy_syncs = 0;            // fdatasyncs the policy asked for (not seals)
  bool waited = false;                  // the workload called WaitDurable itself
  std::vector<std::string> violations;  // empty when every invariant held
};

// Runs one crash. Fails only when the drill itself cannot run (no scratch
// directory); broken invariants are reported in CrashOutcome::violations.
Result<CrashOutcome> RunCrash(const CrashOptions& options);

struct DrillOptions {
  std::string dir;  // scratch directory, reused by every crash
  Scenario scenario;
  LossMode mode = LossMode::kPlain;
  uint64_t seed = 0;
  uint64_t iterations = 100;
  // Every fourth crash injects a failed sync or a full disk first.
  bool inject_faults = true;
};

struct DrillSummary {
  std::string scenario;
  std::string mode;
  uint64_t seed = 0;
  uint64_t crashes = 0;
  uint64_t failed_sync_crashes = 0;
  uint64_t full_disk_crashes = 0;
  uint64_t durable_lost = 0;  // summed over crashes: must be 0
  uint64_t max_acked_lost = 0;
  double mean_acked_lost = 0;
  uint64_t max_buffered_lost = 0;
  double max_lost_age_ms = 0;
  // Over plain crashes whose workload made no WaitDurable call.
  uint64_t rate_appends = 0;
  uint64_t rate_syncs = 0;
  uint64_t violation_count = 0;
  std::vector<std::string> violations;  // the first few, each naming its seed

  double SyncsPer1000() const {
    return rate_appends == 0 ? 0 : 1000.0 * static_cast<double>(rate_syncs) / rate_appends;
  }
};

Result<DrillSummary> RunDrill(const DrillOptions& options);

// Where drills should put their scratch directories: $QUIPU_DRILL_TMP if
// set, else /dev/shm when it is writable (a drill truncates and removes
// thousands of files, which tmpfs does in microseconds), else $TMPDIR or /tmp.
std::string ScratchParent();

// The seed of crash `i` of a drill seeded with `seed` (splitmix64).
uint64_t CrashSeed(uint64_t seed, uint64_t i);

}  // namespace quipu::drill

#endif  // QUIPU_DRILL_DRILL_H_
