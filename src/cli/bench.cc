// quipu bench: append throughput and latency per durability policy, next to
// raw-syscall baselines measured in the same run on the same filesystem.
//
// Modes:
//   (default)     one workload: --durability P with --writers K threads, or
//                 --pipeline W (one producer, W appends in flight).
//   --baselines   also measures the baselines (bench_baselines.h) and prints
//                 each quipu figure with its ratio to the matching one.
//   --matrix      baselines, then every policy at K = 1, 4, 16, 64, then the
//                 pipelined mode; one table plus the goals of issue 6.
//   --events      audit events through AuditStore::Emit from --writers K
//                 threads (bench_events.h; --durability defaults to group):
//                 wall-clock events/s, fsyncs and CPU per event, latency,
//                 and this directory's fdatasync time measured around it.
// With baselines, each always/group run is also bracketed by two short
// write+fdatasync probes: this device's fdatasync time drifts by 2x within a
// minute, so the run is compared with the mean of those two.
// Every log lives in a scratch directory under --dir (which is created if
// missing, and stays), removed afterwards.
// Absolute figures on a shared machine mean little: read the ratios.
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <system_error>
#include <vector>

#include "cli/bench_baselines.h"
#include "cli/bench_events.h"
#include "cli/bench_report.h"
#include "cli/bench_workload.h"
#include "cli/common.h"
#include "cli/verbs.h"

namespace quipu::cli {

namespace {

constexpr uint64_t kDefaultPipeline = 16384;
const char* const kMatrixPolicies[] = {"always", "every:64", "every:1000,20", "group", "os"};
constexpr int kMatrixWriters[] = {1, 4, 16, 64};

struct BenchFlags {
  std::string durability;
  int writers = 1;
  uint64_t records = 0;
  double seconds = 2.0;
  size_t size = 128;
  std::string dir = ".";
  uint64_t max_mb = 128;
  uint64_t segment_mb = LogOptions().segment_size >> 20;
  uint64_t pipeline = 0;
  bool matrix = false;
  bool baselines = false;
  bool events = false;
  bool json = false;
};

// Names each step on stderr when it is a terminal; silent otherwise, so
// piped output and tests see only the report.
class Progress {
 public:
  explicit Progress(size_t steps) : steps_(steps), tty_(isatty(STDERR_FILENO) == 1) {}
  ~Progress() {
    if (tty_ && done_ > 0) std::fprintf(stderr, "\r\033[K");
  }
  void Step(const std::string& what) {
    ++done_;
    if (tty_) std::fprintf(stderr, "\r\033[Kquipu bench [%zu/%zu] %s", done_, steps_, what.c_str());
  }

 private:
  size_t steps_;
  size_t done_ = 0;
  bool tty_;
};

bench::Workload BaseWorkload(const BenchFlags& flags) {
  bench::Workload w;
  w.records = flags.records;
  w.seconds = flags.seconds;
  w.record_size = flags.size;
  w.max_records = (flags.max_mb << 20) / (flags.size + 8);
  w.segment_size = flags.segment_mb << 20;
  return w;
}

// Probes of the raw write+fdatasync rate around one durable run.
constexpr double kProbeSeconds = 0.3;

Result<double> ProbeFdatasync(const BenchFlags& flags, bench::Scratch* scratch) {
  bench::BaselinePlan plan;
  plan.dir = scratch->path();
  plan.seconds = std::min(kProbeSeconds, flags.seconds);
  plan.record_size = flags.size;
  Result<bench::Baseline> b = bench::MeasureFdatasync(plan);
  if (!b.ok()) return b.status().WithContext("fdatasync probe");
  return b->m.PerSecond();
}

// The textbook group commit at K writers, right after quipu's group run
// at K, for the ratio the goals ask of it.
Status RunTextbookGroup(const BenchFlags& flags, bench::Scratch* scratch, int writers,
                        std::vector<bench::Row>* rows) {
  bench::BaselinePlan plan;
  plan.dir = scratch->path();
  plan.seconds = flags.seconds;
  plan.record_size = flags.size;
  Result<bench::Baseline> b = bench::MeasureTextbookGroup(plan, writers);
  if (!b.ok()) return b.status().WithContext("textbook group commit K=" + std::to_string(writers));
  rows->push_back(bench::BaselineRow(*b));
  rows->back().writers = writers;
  return Status::OK();
}

// Runs one quipu workload. With `probe`, an always/group run is bracketed by
// two write+fdatasync probes whose mean becomes its reference.
Status RunQuipu(const BenchFlags& flags, bench::Scratch* scratch, const std::string& config,
                int writers, uint64_t pipeline, bool probe, std::vector<bench::Row>* rows) {
  bench::Workload w = BaseWorkload(flags);
  w.writers = writers;
  w.pipeline = pipeline;
  if (pipeline == 0) {
    Result<DurabilityPolicy> policy = DurabilityPolicy::Parse(config);
    if (!policy.ok()) return policy.status();
    w.policy = *policy;
  }
  w.dir = scratch->NextLog();
  probe = probe && pipeline == 0 && w.policy.SyncsEveryAppend();
  double before = 0;
  if (probe) {
    Result<double> rate = ProbeFdatasync(flags, scratch);
    if (!rate.ok()) return rate.status();
    before = *rate;
  }
  Result<bench::Measurement> m = bench::RunWorkload(w);
  if (!m.ok()) return m.status().WithContext(config + " K=" + std::to_string(writers));
  rows->push_back(bench::QuipuRow(config, writers, *m, flags.size));
  if (probe) {
    Result<double> after = ProbeFdatasync(flags, scratch);
    if (!after.ok()) return after.status();
    rows->back().adjacent_fsync_rate = (before + *after) / 2;
  }
  if (probe && writers > 1 && w.policy.kind() == DurabilityPolicy::Kind::kGroupCommit) {
    return RunTextbookGroup(flags, scratch, writers, rows);
  }
  return Status::OK();
}

Status RunBaselines(const BenchFlags& flags, bench::Scratch* scratch, Progress* progress,
                    std::vector<bench::Row>* rows) {
  bench::BaselinePlan plan;
  plan.dir = scratch->path();
  plan.seconds = flags.seconds;
  plan.max_bytes = flags.max_mb << 20;
  plan.record_size = flags.size;
  Result<std::vector<bench::Baseline>> got =
      bench::RunBaselines(plan, [&](const std::string& name) { progress->Step(name); });
  if (!got.ok()) return got.status();
  for (const bench::Baseline& b : *got) rows->push_back(bench::BaselineRow(b));
  return Status::OK();
}

constexpr size_t kBaselineSteps = std::size(bench::kBufferBatches) + 2;

Status RunMatrix(const BenchFlags& flags, bench::Scratch* scratch, std::vector<bench::Row>* rows) {
  Progress progress(kBaselineSteps + std::size(kMatrixPolicies) * std::size(kMatrixWriters) + 1);
  QUIPU_RETURN_IF_ERROR(RunBaselines(flags, scratch, &progress, rows));
  for (const char* policy : kMatrixPolicies) {
    for (int k : kMatrixWriters) {
      progress.Step(std::string(policy) + " K=" + std::to_string(k));
      QUIPU_RETURN_IF_ERROR(RunQuipu(flags, scratch, policy, k, 0, /*probe=*/true, rows));
    }
  }
  const uint64_t w = flags.pipeline > 0 ? flags.pipeline : kDefaultPipeline;
  progress.Step("pipeline:" + std::to_string(w));
  return RunQuipu(flags, scratch, "pipeline:" + std::to_string(w), 1, w, false, rows);
}

Status RunSingle(const BenchFlags& flags, bench::Scratch* scratch, std::vector<bench::Row>* rows) {
  Progress progress((flags.baselines ? kBaselineSteps : 0) + 1);
  if (flags.baselines) QUIPU_RETURN_IF_ERROR(RunBaselines(flags, scratch, &progress, rows));
  if (flags.pipeline > 0) {
    const std::string config = "pipeline:" + std::to_string(flags.pipeline);
    progress.Step(config);
    return RunQuipu(flags, scratch, config, 1, flags.pipeline, false, rows);
  }
  progress.Step(flags.durability + " K=" + std::to_string(flags.writers));
  return RunQuipu(flags, scratch, flags.durability, flags.writers, 0, flags.baselines, rows);
}

std::string EventsText(const BenchFlags& flags, const bench::EventMeasurement& m,
                       double fsync_rate) {
  const double fsync_us = fsync_rate > 0 ? 1e6 / fsync_rate : 0;
  const double per_fsync = m.fsyncs > 0 ? static_cast<double>(m.events) / m.fsyncs : 0;
  if (flags.json) {
    nlohmann::ordered_json j;
    j["system"] = "quipu";
    j["config"] = "events " + flags.durability;
    j["writers"] = flags.writers;
    j["events"] = m.events;
    j["seconds"] = m.seconds;
    j["events_per_s"] = m.PerSecond();
    j["fsyncs"] = m.fsyncs;
    j["fsyncs_per_event"] = m.FsyncsPerEvent();
    j["cpu_us_per_event"] = m.CpuMicrosPerEvent();
    j["p50_us"] = m.latency.p50_us;
    j["p99_us"] = m.latency.p99_us;
    j["adjacent_fdatasync_us"] = fsync_us;
    return j.dump() + "\n";
  }
  char line[512];
  std::snprintf(line, sizeof line, "| %s | %d | %.0f | %.3f | %.1f | %.1f | %.0f | %.0f | %.0f |\n",
                flags.durability.c_str(), flags.writers, m.PerSecond(), m.FsyncsPerEvent(),
                per_fsync, m.CpuMicrosPerEvent(), m.latency.p50_us, m.latency.p99_us, fsync_us);
  return std::string(
             "| policy | writers | events/s | fsyncs/event | events/fsync | CPU µs/event | "
             "p50 µs | p99 µs | fdatasync µs |\n"
             "|---|--:|--:|--:|--:|--:|--:|--:|--:|\n") +
         line;
}

// Events through the audit store, bracketed by two fdatasync probes (their
// mean is the run's fdatasync time: ratios to other databases depend on it).
Status RunEvents(const BenchFlags& flags, bench::Scratch* scratch) {
  Progress progress(3);
  progress.Step("fdatasync probe");
  Result<double> before = ProbeFdatasync(flags, scratch);
  if (!before.ok()) return before.status();
  bench::EventWorkload w;
  Result<DurabilityPolicy> policy = DurabilityPolicy::Parse(flags.durability);
  if (!policy.ok()) return policy.status();
  w.policy = *policy;
  w.writers = flags.writers;
  w.seconds = flags.records > 0 ? 0 : flags.seconds;
  w.max_events = flags.records;
  w.dir = scratch->NextLog();
  progress.Step("events " + flags.durability + " K=" + std::to_string(flags.writers));
  Result<bench::EventMeasurement> m = bench::RunEventWorkload(w);
  if (!m.ok()) return m.status().WithContext("events");
  progress.Step("fdatasync probe");
  Result<double> after = ProbeFdatasync(flags, scratch);
  if (!after.ok()) return after.status();
  FdWriter out(STDOUT_FILENO);
  QUIPU_RETURN_IF_ERROR(out.Write(EventsText(flags, *m, (*before + *after) / 2)));
  return out.Flush();
}

Status Bench(const BenchFlags& flags) {
  QUIPU_RETURN_IF_ERROR(CreateDirectories(flags.dir));
  bench::Scratch scratch;
  QUIPU_RETURN_IF_ERROR(scratch.Create(flags.dir, "quipu-bench"));
  if (flags.events) return RunEvents(flags, &scratch);
  std::vector<bench::Row> rows;
  QUIPU_RETURN_IF_ERROR(flags.matrix ? RunMatrix(flags, &scratch, &rows)
                                     : RunSingle(flags, &scratch, &rows));
  bench::MatchBaselines(&rows);
  std::vector<bench::Goal> goals;
  if (flags.matrix) goals = bench::CheckGoals(rows);
  std::string text;
  if (flags.json) {
    text = bench::JsonLines(rows, goals);
  } else {
    text = bench::MarkdownTable(rows);
    if (!goals.empty()) text += "\n" + bench::MarkdownGoals(goals);
  }
  FdWriter out(STDOUT_FILENO);
  QUIPU_RETURN_IF_ERROR(out.Write(text));
  return out.Flush();
}

}  // namespace

void RegisterBench(CLI::App& app) {
  auto flags = std::make_shared<BenchFlags>();
  CLI::App* verb = app.add_subcommand(
      "bench",
      "Measure append throughput, fsyncs and latency per durability policy, with ratios to raw "
      "write/fdatasync baselines measured in the same run and directory.");
  AddDurabilityFlag(verb, &flags->durability);
  CLI::Option* writers =
      verb->add_option("--writers", flags->writers, "threads appending concurrently (K)")
          ->check(Unsigned(1, 1024))
          ->capture_default_str();
  CLI::Option* records = verb->add_option("--records", flags->records,
                                          "total records to append (instead of --seconds)")
                             ->check(Unsigned(1, uint64_t{1} << 40));
  CLI::Option* seconds = verb->add_option("--seconds", flags->seconds,
                                          "duration of each run (baselines always run this long)")
                             ->check(CLI::Range(0.001, 3600.0))
                             ->capture_default_str();
  verb->add_option("--size", flags->size, "payload bytes per record")
      ->check(Unsigned(1, uint64_t{1} << 20))
      ->capture_default_str();
  verb->add_option("--dir", flags->dir,
                   "directory (filesystem) to benchmark in; created if missing")
      ->capture_default_str();
  verb->add_option("--max-mb", flags->max_mb,
                   "stop a timed run after this many MiB (keeps what Close must sync small)")
      ->check(Unsigned(1, uint64_t{1} << 20))
      ->capture_default_str();
  verb->add_option("--segment-mb", flags->segment_mb,
                   "segment size of the quipu log in MiB (rotations: every this many MiB)")
      ->check(Unsigned(1, 4096))
      ->capture_default_str();
  CLI::Option* pipeline =
      verb->add_option("--pipeline", flags->pipeline,
                       "one producer keeping up to W appends in flight; a record counts once "
                       "durable (policy: group)")
          ->check(Unsigned(1, uint64_t{1} << 22));
  CLI::Option* matrix = verb->add_flag(
      "--matrix", flags->matrix,
      "baselines, every policy at K = 1, 4, 16, 64 and the pipelined mode, in one table");
  verb->add_flag("--baselines", flags->baselines, "also measure the raw baselines");
  CLI::Option* events = verb->add_flag(
      "--events", flags->events,
      "audit events through the store's Emit from --writers threads (durability: group unless "
      "given): events/s, fsyncs and CPU per event, latency to durable");
  verb->add_flag("--json", flags->json, "JSON lines instead of a markdown table");
  records->excludes(seconds);
  pipeline->excludes(writers);
  pipeline->excludes(verb->get_option("--durability"));
  matrix->excludes(writers);
  matrix->excludes(verb->get_option("--durability"));
  events->excludes(matrix);
  events->excludes(pipeline);
  events->excludes(verb->get_option("--baselines"));
  CLI::Option* durability = verb->get_option("--durability");
  SetAction(verb, [flags, durability] {
    if (flags->events && durability->count() == 0) flags->durability = "group";
    return Bench(*flags);
  });
}

}  // namespace quipu::cli
