// The standard scenarios and the drill loop that sums crashes into the
// figures of the risk table.
#include "drill/drill.h"

#include <unistd.h>

#include <algorithm>
#include <cstdlib>

#include "util/quote.h"

namespace quipu::drill {

namespace {

constexpr size_t kViolationsKept = 5;

using std::chrono::milliseconds;

// Every fourth crash injects a fault, alternating the two kinds.
Fault FaultFor(uint64_t i, bool inject) {
  if (!inject) return Fault::kNone;
  switch (i % 8) {
    case 3:
      return Fault::kFailedSync;
    case 7:
      return Fault::kFullDisk;
    default:
      return Fault::kNone;
  }
}

void Add(const CrashOutcome& c, Fault fault, uint64_t seed, DrillSummary* sum) {
  ++sum->crashes;
  if (fault == Fault::kFailedSync) ++sum->failed_sync_crashes;
  if (fault == Fault::kFullDisk) ++sum->full_disk_crashes;
  sum->durable_lost += c.durable_lost;
  sum->max_acked_lost = std::max(sum->max_acked_lost, c.acked_lost);
  sum->mean_acked_lost += static_cast<double>(c.acked_lost);  // divided at the end
  sum->max_buffered_lost = std::max(sum->max_buffered_lost, c.buffered_lost);
  sum->max_lost_age_ms = std::max(sum->max_lost_age_ms, c.max_lost_age_ms);
  if (fault == Fault::kNone && !c.waited) {
    sum->rate_appends += c.acked;
    sum->rate_syncs += c.policy_syncs;
  }
  sum->violation_count += c.violations.size();
  for (const std::string& v : c.violations) {
    if (sum->violations.size() == kViolationsKept) break;
    sum->violations.push_back("seed " + std::to_string(seed) + ": " + v);
  }
}

}  // namespace

std::string_view LossModeName(LossMode mode) {
  switch (mode) {
    case LossMode::kPlain:
      return "plain";
    case LossMode::kTorn:
      return "torn";
    case LossMode::kPages:
      return "pages";
  }
  return "?";
}

Result<LossMode> ParseLossMode(std::string_view name) {
  for (LossMode m : {LossMode::kPlain, LossMode::kTorn, LossMode::kPages}) {
    if (LossModeName(m) == name) return m;
  }
  return Status::InvalidArgument("unknown power-loss mode " + QuoteInput(name) +
                                 " (plain, torn or pages)");
}

std::vector<Scenario> StandardScenarios() {
  using P = DurabilityPolicy;
  return {
      {"always", P::Always()},
      {"every:16", P::EveryN(16)},
      {"every:16,5", P::EveryNOrInterval(16, milliseconds(5))},
      {"group", P::GroupCommit()},
      {"group-x4", P::GroupCommit(), 4},
      {"os", P::OsManaged()},
      {"os+immediate", P::OsManaged(), 1, 0.1},
  };
}

Result<Scenario> FindScenario(std::string_view name) {
  for (Scenario& sc : StandardScenarios()) {
    if (sc.name == name) return sc;
  }
  Result<DurabilityPolicy> policy = DurabilityPolicy::Parse(name);
  if (!policy.ok()) return policy.status();
  return Scenario{std::string(name), *policy};
}

std::string ScratchParent() {
  if (const char* dir = std::getenv("QUIPU_DRILL_TMP"); dir != nullptr && *dir != '\0') return dir;
  if (access("/dev/shm", W_OK | X_OK) == 0) return "/dev/shm";
  if (const char* dir = std::getenv("TMPDIR"); dir != nullptr && *dir != '\0') return dir;
  return "/tmp";
}

uint64_t CrashSeed(uint64_t seed, uint64_t i) {
  uint64_t z = seed + (i + 1) * 0x9e3779b97f4a7c15ull;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

Result<DrillSummary> RunDrill(const DrillOptions& options) {
  DrillSummary sum;
  sum.scenario = options.scenario.name;
  sum.mode = std::string(LossModeName(options.mode));
  sum.seed = options.seed;
  for (uint64_t i = 0; i < options.iterations; ++i) {
    CrashOptions crash;
    crash.dir = options.dir;
    crash.scenario = options.scenario;
    crash.mode = options.mode;
    crash.fault = FaultFor(i, options.inject_faults);
    crash.seed = CrashSeed(options.seed, i);
    Result<CrashOutcome> outcome = RunCrash(crash);
    if (!outcome.ok()) return outcome.status();
    Add(*outcome, crash.fault, crash.seed, &sum);
  }
  if (sum.crashes > 0) sum.mean_acked_lost /= static_cast<double>(sum.crashes);
  return sum;
}

}  // namespace quipu::drill
