// quipu drill: the power-loss drill (drill/drill.h), run per policy, with the
// figures of the measured risk table in docs/durability.md.
//
// Each policy runs --iterations crashes in a scratch directory (removed
// afterwards). The verb fails (exit 1) if any invariant broke, above all if a
// record reported durable was lost; the table is printed first either way.
#include "drill/drill.h"

#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <system_error>
#include <vector>

#include "cli/common.h"
#include "cli/verbs.h"

namespace quipu::cli {

namespace {

struct DrillFlags {
  std::string policy = "all";
  uint64_t iterations = 100;
  std::optional<uint64_t> seed;
  std::string mode = "plain";
  bool json = false;
};

std::string Fixed(double v, int digits) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.*f", digits, v);
  return buf;
}

std::string DrillText(const std::vector<drill::DrillSummary>& sums) {
  std::vector<std::vector<std::string>> rows = {{"policy", "crashes", "durable lost", "max lost",
                                                 "mean lost", "max lost (process crash)",
                                                 "max window ms", "fsyncs/1000", "violations"}};
  for (const drill::DrillSummary& s : sums) {
    rows.push_back({s.scenario, std::to_string(s.crashes), std::to_string(s.durable_lost),
                    std::to_string(s.max_acked_lost), Fixed(s.mean_acked_lost, 2),
                    std::to_string(s.max_buffered_lost), Fixed(s.max_lost_age_ms, 1),
                    Fixed(s.SyncsPer1000(), 1), std::to_string(s.violation_count)});
  }
  return FormatTable(rows, /*text_last=*/false);
}

// One JSON line per policy, each complete on its own (seed, mode and the
// command that reruns just that policy), like the other verbs' JSON lines.
std::string DrillJson(const DrillFlags& flags, uint64_t seed,
                      const std::vector<drill::DrillSummary>& sums) {
  std::string lines;
  for (const drill::DrillSummary& s : sums) {
    nlohmann::ordered_json p;
    p["policy"] = s.scenario;
    p["seed"] = seed;
    p["mode"] = flags.mode;
    p["iterations"] = flags.iterations;
    p["crashes"] = s.crashes;
    p["failed_sync_crashes"] = s.failed_sync_crashes;
    p["full_disk_crashes"] = s.full_disk_crashes;
    p["durable_lost"] = s.durable_lost;
    p["max_unsynced_lost"] = s.max_acked_lost;
    p["mean_unsynced_lost"] = s.mean_acked_lost;
    p["max_lost_process_crash"] = s.max_buffered_lost;
    p["max_window_ms"] = s.max_lost_age_ms;
    p["fsyncs_per_1000_appends"] = s.SyncsPer1000();
    p["violations"] = s.violation_count;
    p["first_violations"] = s.violations;
    p["command"] = "quipu drill --policy " + s.scenario + " --iterations " +
                   std::to_string(flags.iterations) + " --seed " + std::to_string(seed) +
                   " --mode " + flags.mode + " --json";
    lines += p.dump() + "\n";
  }
  return lines;
}

Status Drill(const DrillFlags& flags) {
  Result<drill::LossMode> mode = drill::ParseLossMode(flags.mode);
  if (!mode.ok()) return mode.status();
  std::vector<drill::Scenario> scenarios;
  if (flags.policy == "all") {
    scenarios = drill::StandardScenarios();
  } else {
    Result<drill::Scenario> sc = drill::FindScenario(flags.policy);
    if (!sc.ok()) return sc.status();
    scenarios.push_back(*sc);
  }
  const uint64_t seed = flags.seed.value_or(std::random_device()());
  std::string templ = drill::ScratchParent() + "/quipu-drill-XXXXXX";
  if (mkdtemp(templ.data()) == nullptr) return Status::IOError(templ + ": cannot create", errno);
  std::vector<drill::DrillSummary> sums;
  Status status;
  uint64_t violations = 0;
  for (const drill::Scenario& sc : scenarios) {
    drill::DrillOptions options;
    options.dir = templ + "/log";
    options.scenario = sc;
    options.mode = *mode;
    options.seed = seed;
    options.iterations = flags.iterations;
    Result<drill::DrillSummary> sum = drill::RunDrill(options);
    if (!sum.ok()) {
      status = sum.status();
      break;
    }
    violations += sum->violation_count;
    if (!sum->violations.empty() && status.ok()) {
      status = Status::Corruption(sc.name + ": " + sum->violations.front());
    }
    sums.push_back(std::move(*sum));
  }
  std::error_code ec;
  std::filesystem::remove_all(templ, ec);
  FdWriter out(STDOUT_FILENO);
  QUIPU_RETURN_IF_ERROR(out.Write(flags.json ? DrillJson(flags, seed, sums)
                                             : "seed " + std::to_string(seed) + ", mode " +
                                                   flags.mode + "\n" + DrillText(sums)));
  QUIPU_RETURN_IF_ERROR(out.Flush());
  if (violations > 0 && status.IsCorruption()) {
    return Status::Corruption(std::to_string(violations) +
                              " invariant violations; first: " + std::string(status.message()));
  }
  return status;
}

}  // namespace

void RegisterDrill(CLI::App& app) {
  auto flags = std::make_shared<DrillFlags>();
  CLI::App* verb = app.add_subcommand(
      "drill",
      "Power-loss drill: crash a log at random points under a policy, cut the power, recover, "
      "and check that nothing reported durable was lost; prints what each policy did lose.");
  verb->add_option("--policy", flags->policy,
                   "all, a standard scenario (always, every:16, every:16,5, group, group-x4, os, "
                   "os+immediate) or any --durability spelling")
      ->capture_default_str();
  verb->add_option("--iterations", flags->iterations, "crashes per policy")
      ->check(Unsigned(1, 10000000))
      ->capture_default_str();
  verb->add_option("--seed", flags->seed, "seed (default: random, printed)")->check(Unsigned());
  verb->add_option("--mode", flags->mode, "what a power cut keeps of unsynced writes")
      ->check(CLI::IsMember({"plain", "torn", "pages"}))
      ->capture_default_str();
  verb->add_flag("--json", flags->json,
                 "JSON lines instead of a table: one object per policy, with the seed, the mode "
                 "and the command that reruns it");
  SetAction(verb, [flags] { return Drill(*flags); });
}

}  // namespace quipu::cli
