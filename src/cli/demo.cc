// quipu demo: the same workload under each durability policy, side by side.
//
// For every policy it writes <dir>/<policy>, appends generated records, closes
// the log and prints one row: throughput, fdatasyncs, and what a power loss could have taken.
// Policies whose appends each wait for an fdatasync (always, group) run from 4 threads, so appends
// share syncs, and on a twentieth of the records, so the whole demo takes seconds, not minutes.
// Then the audit store (cli/demo_audit.cc): 16 emitters under group commit,
// a query by a renamed document's old name, and a checked inclusion proof.
//
// The demo never removes anything. Before any work it checks that each
// directory it will write is absent, empty or a log without records, and
// otherwise refuses naming it: a mistyped --dir, or a second run into the
// same one, must not cost anybody a store.
#include "cli/demo.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <limits>
#include <memory>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include "cli/common.h"
#include "cli/verbs.h"
#include "quipu/inspect.h"
#include "quipu/log.h"

namespace quipu::cli {

namespace {

struct DemoFlags {
  std::string dir = "./quipu-data";
  uint64_t records = 200000;
  uint32_t size = 128;
};

struct PolicyCase {
  const char* spec;         // DurabilityPolicy::Parse spelling
  const char* loss_window;  // what a power loss can take, per options.h
};

constexpr PolicyCase kCases[] = {
    {"always", "0 records"},
    {"every:64", "\u2264 63 records"},
    {"every:1000,20", "\u2264 999 records or 20 ms + 1 fsync"},
    {"group", "0 records"},
    {"os", "unbounded until OS writeback"},
};

constexpr int kBlockingThreads = 4;
constexpr uint64_t kBlockingShare = 20;  // blocking policies run records / 20
constexpr int kAuditWriters = 16;        // concurrent emitters of the audit part

struct Outcome {
  int threads = 0;
  uint64_t records = 0;
  double seconds = 0;
  uint64_t syncs = 0;
  Lsn durable = 0;
};

// "every:1000,20" -> "every-1000-20": a directory name without shell specials.
std::string DirName(std::string_view spec) {
  std::string name(spec);
  std::replace_if(
      name.begin(), name.end(), [](char c) { return c == ':' || c == ','; }, '-');
  return name;
}

// Record `i` of thread `t`: a readable label padded with letters to `size` bytes.
void FillPayload(int t, uint64_t i, std::string* payload) {
  size_t size = payload->size();
  std::string label = "t" + std::to_string(t) + " #" + std::to_string(i) + " ";
  for (size_t k = 0; k < size; k++) {
    (*payload)[k] = k < label.size() ? label[k] : static_cast<char>('a' + (i + k) % 26);
  }
}

// Appends `count` records as thread `t`; returns the first error.
Status AppendRecords(Log* log, int t, uint64_t count, uint32_t size) {
  std::string payload(size, ' ');
  for (uint64_t i = 0; i < count; i++) {
    FillPayload(t, i, &payload);
    Result<Lsn> lsn = log->Append(payload);
    if (!lsn.ok()) return lsn.status();
  }
  return Status::OK();
}

// Splits `records` over `threads` and runs them; returns the first error.
Status AppendConcurrently(Log* log, int threads, uint64_t records, uint32_t size) {
  std::vector<Status> errors(threads);
  {
    std::vector<std::jthread> workers;
    for (int t = 0; t < threads; t++) {
      uint64_t count = records / threads + (static_cast<uint64_t>(t) < records % threads);
      workers.emplace_back([=, &errors] { errors[t] = AppendRecords(log, t, count, size); });
    }
  }
  for (const Status& s : errors) QUIPU_RETURN_IF_ERROR(s);
  return Status::OK();
}

Status Refuse(const std::string& dir, const std::string& what) {
  return Status::FailedPrecondition(dir + " " + what + "; remove it or pick another --dir");
}

// OK if the demo may write a store at `dir`: nothing there, an empty
// directory, or a log without records (what a run that failed before its
// first append leaves), which the demo then simply appends to.
Status CheckUnused(const std::string& dir) {
  namespace fs = std::filesystem;
  std::error_code ec;
  const fs::file_status status = fs::status(dir, ec);
  if (status.type() == fs::file_type::not_found) return Status::OK();
  if (ec) return Status::IOError("stat " + dir + ": " + ec.message(), ec.value());
  if (!fs::is_directory(status)) return Refuse(dir, "exists and is not a directory");
  bool empty = true;
  for (const fs::directory_entry& entry : fs::directory_iterator(dir, ec)) {
    const std::string name = entry.path().filename().string();
    if (!IsLogFileName(name)) return Refuse(dir, "holds " + name + ", which quipu did not write");
    empty = false;
  }
  if (ec) return Status::IOError("list " + dir + ": " + ec.message(), ec.value());
  if (empty) return Status::OK();  // no log to inspect: nothing in it to lose
  Result<LogSummary> log = InspectLog(dir);
  if (!log.ok()) return log.status().WithContext("will not write " + dir);
  if (log->records > 0) {
    return Refuse(dir, "holds a log with " + std::to_string(log->records) + " records");
  }
  return Status::OK();
}

Result<Outcome> RunCase(const std::string& dir, const DurabilityPolicy& policy,
                        const DemoFlags& flags) {
  LogOptions options;
  options.durability = policy;
  options.max_record_size = std::max(options.max_record_size, flags.size);
  Result<std::unique_ptr<Log>> opened = Log::Open(dir, options);
  if (!opened.ok()) return opened.status();
  Log* log = opened->get();

  Outcome out;
  bool blocking = policy.SyncsEveryAppend();
  out.threads = blocking ? kBlockingThreads : 1;
  out.records = blocking ? std::max<uint64_t>(1, flags.records / kBlockingShare) : flags.records;
  auto start = std::chrono::steady_clock::now();
  Status s = AppendConcurrently(log, out.threads, out.records, flags.size);
  out.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  // Sync before reading the counters so the row includes the sync that
  // Close would do; Stats() may not be called after Close().
  if (s.ok()) s = log->Sync();
  LogStats stats = log->Stats();
  out.syncs = stats.syncs;
  out.durable = stats.durable_lsn;
  Status closed = log->Close();
  if (!s.ok()) return s;
  if (!closed.ok()) return closed;
  return out;
}

void PrintRow(FdWriter* out, const char* policy, const std::string& threads,
              const std::string& records, const std::string& seconds, const std::string& rate,
              const std::string& syncs, const std::string& durable, const char* loss) {
  char line[256];
  std::snprintf(line, sizeof(line), "%-14s %7s %9s %8s %11s %11s %15s  %s\n", policy,
                threads.c_str(), records.c_str(), seconds.c_str(), rate.c_str(), syncs.c_str(),
                durable.c_str(), loss);
  (void)out->Write(line);  // a write error sticks and is returned by Flush
}

Status Demo(const DemoFlags& flags) {
  const std::filesystem::path parent(flags.dir);
  for (const PolicyCase& c : kCases) {
    QUIPU_RETURN_IF_ERROR(CheckUnused((parent / DirName(c.spec)).string()));
  }
  const std::string audit_dir = (parent / "audit").string();
  QUIPU_RETURN_IF_ERROR(CheckUnused(audit_dir));
  std::error_code ec;
  std::filesystem::create_directories(flags.dir, ec);
  if (ec) return Status::IOError("create " + flags.dir + ": " + ec.message(), ec.value());

  FdWriter out(STDOUT_FILENO);
  (void)out.Write("quipu demo: " + std::to_string(flags.records) + " records of " +
                  std::to_string(flags.size) + " bytes per policy (always and group: " +
                  std::to_string(std::max<uint64_t>(1, flags.records / kBlockingShare)) +
                  " records from " + std::to_string(kBlockingThreads) +
                  " threads, as each append waits for an fdatasync)\n\n");
  PrintRow(&out, "policy", "threads", "records", "seconds", "appends/s", "fdatasyncs",
           "durable(close)", "loss window on power loss");
  QUIPU_RETURN_IF_ERROR(out.Flush());

  for (const PolicyCase& c : kCases) {
    Result<DurabilityPolicy> policy = DurabilityPolicy::Parse(c.spec);
    if (!policy.ok()) return policy.status();
    std::string dir = (parent / DirName(c.spec)).string();
    Result<Outcome> run = RunCase(dir, *policy, flags);
    if (!run.ok()) return run.status().WithContext(c.spec);
    char seconds[32];
    std::snprintf(seconds, sizeof(seconds), "%.3f", run->seconds);
    double rate = run->seconds > 0 ? run->records / run->seconds : 0;
    PrintRow(&out, c.spec, std::to_string(run->threads), std::to_string(run->records), seconds,
             std::to_string(static_cast<uint64_t>(rate)), std::to_string(run->syncs),
             std::to_string(run->durable), c.loss_window);
    QUIPU_RETURN_IF_ERROR(out.Flush());  // one row at a time: the slow policies take a while
  }
  (void)out.Write("\n");
  uint64_t events = std::max<uint64_t>(1, flags.records / kBlockingShare);
  QUIPU_RETURN_IF_ERROR(RunAuditDemo(audit_dir, kAuditWriters, events, &out).WithContext("audit"));
  std::string os_dir = (parent / "os").string();
  (void)out.Write("\nThe logs are in " + flags.dir + "/<policy>; `quipu dump " + os_dir +
                  " | head` shows the records. The audit store is " + audit_dir +
                  ": try `quipu query " + audit_dir +
                  " --target 'default_target.name=Document 7' --limit 3` and `quipu verify " +
                  audit_dir + "`.\n");
  return out.Flush();
}

}  // namespace

void RegisterDemo(CLI::App& app) {
  auto flags = std::make_shared<DemoFlags>();
  CLI::App* verb = app.add_subcommand(
      "demo",
      "Append the same generated records under each durability policy (always, every:64, "
      "every:1000,20, group, os) and compare throughput, fdatasyncs and the loss window on "
      "power loss. Writes <dir>/<policy> for each and <dir>/audit; refuses, before any work, "
      "if one of them holds records or anything quipu did not write (it never removes "
      "anything).");
  verb->add_option("--dir", flags->dir, "parent directory of the demo logs")->capture_default_str();
  verb->add_option("--records", flags->records,
                   "records per policy (always and group use a twentieth, from 4 threads)")
      ->check(Unsigned(1))
      ->capture_default_str();
  verb->add_option("--size", flags->size, "payload bytes per record")
      ->check(Unsigned(0, std::numeric_limits<uint32_t>::max()))
      ->capture_default_str();
  SetAction(verb, [flags] { return Demo(*flags); });
}

}  // namespace quipu::cli
