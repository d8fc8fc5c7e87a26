// One crash of the drill: workload, injected fault, crash, power cut,
// recovery with a second crash, the checks of drill/model.h, and a check of
// the log's Merkle tree against the recovered records.
//
// The stack of Envs, top to bottom:
//   CrashAfterEnv   crashes at a random change (none when a fault is injected,
//                   so that the fault's own consequences are what is checked)
//   FaultEnv        remembers what is durable; Crash(), PowerLoss(), faults
//   NoSyncEnv       the real files, without paying for real fsyncs
#include <algorithm>
#include <atomic>
#include <filesystem>
#include <limits>
#include <memory>
#include <random>
#include <system_error>
#include <thread>

#include "drill/drill.h"
#include "drill/drill_env.h"
#include "drill/model.h"
#include "io/fault_env.h"
#include "quipu/log.h"
#include "quipu/tree.h"

namespace quipu::drill {

namespace {

namespace fs = std::filesystem;
using Kind = DurabilityPolicy::Kind;

constexpr uint64_t kMaxAppendsOneWriter = 600;
constexpr uint64_t kMaxAppendsPerThread = 300;
constexpr uint64_t kMaxChangesBeforeCrash = 1500;
constexpr uint64_t kMaxChangesInRecovery = 10;
constexpr int kAppendsAfterRecovery = 3;

uint64_t Uniform(std::mt19937_64& rng, uint64_t lo, uint64_t hi) {
  return std::uniform_int_distribution<uint64_t>(lo, hi)(rng);
}

bool Chance(std::mt19937_64& rng, double p) { return std::bernoulli_distribution(p)(rng); }

PowerLossOptions LossOptions(LossMode mode, uint64_t seed) {
  PowerLossOptions loss;
  loss.tear_last_write = mode == LossMode::kTorn;
  loss.keep_random_pages = mode == LossMode::kPages;
  loss.seed = seed;
  return loss;
}

uint64_t DirBytes(const std::string& dir) {
  std::error_code ec;
  uint64_t total = 0;
  for (const auto& file : fs::directory_iterator(dir, ec)) {
    if (file.is_regular_file(ec)) total += file.file_size(ec);
  }
  return total;
}

// The state one crash's writers share.
class Workload {
 public:
  Workload(const CrashOptions& options, Log* log, FaultEnv* fault, CrashAfterEnv* env,
           uint64_t segment_size, std::mt19937_64& rng)
      : options_(options),
        log_(log),
        fault_(fault),
        env_(env),
        segment_size_(segment_size),
        wait_calls_(Chance(rng, 0.25)),
        entries_(options.scenario.threads),
        violations_(options.scenario.threads) {
    const uint64_t most =
        options.scenario.threads == 1 ? kMaxAppendsOneWriter : kMaxAppendsPerThread;
    for (int w = 0; w < options.scenario.threads; ++w) {
      budgets_.push_back(Uniform(rng, 1, most));
      seeds_.push_back(rng());
    }
    fault_at_ = Uniform(rng, 0, budgets_[0] - 1);
    space_back_at_ = fault_at_ + Uniform(rng, 5, 60);
  }

  // Runs the writers until their budgets end or the env crashes.
  void Run() {
    if (entries_.size() == 1) {
      Write(0);
      return;
    }
    std::vector<std::thread> threads;
    for (uint32_t w = 0; w < entries_.size(); ++w) threads.emplace_back([this, w] { Write(w); });
    while (done_.load() < threads.size() && !env_->crashed()) {
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
    stop_.store(true);
    for (auto& t : threads) t.join();
  }

  // After Run, on writer 0's behalf: one more append, made durable.
  Entry& AppendOneMore(Status* status) {
    Append(0, Durability::kImmediate, status);
    return entries_[0].back();
  }

  void NoteDurable(Lsn lsn) {
    Lsn seen = durable_seen_.load();
    while (lsn > seen && !durable_seen_.compare_exchange_weak(seen, lsn)) {
    }
  }

  bool waited() const { return wait_calls_; }
  Lsn durable_seen() const { return durable_seen_.load(); }
  const std::vector<std::vector<Entry>>& entries() const { return entries_; }
  void TakeViolations(std::vector<std::string>* out) {
    for (auto& v : violations_) out->insert(out->end(), v.begin(), v.end());
  }

 private:
  void Write(uint32_t w) {
    std::mt19937_64 rng(seeds_[w]);
    const Scenario& sc = options_.scenario;
    const bool pauses = sc.policy.kind() == Kind::kEveryNOrInterval;
    for (uint64_t i = 0; i < budgets_[w] && !stop_.load() && !env_->crashed(); ++i) {
      if (w == 0 && i == fault_at_) StartFault();
      if (w == 0 && i == space_back_at_ && options_.fault == Fault::kFullDisk) EndFullDisk();
      const bool space_back = space_back_.load();
      const Durability d =
          Chance(rng, sc.immediate_share) ? Durability::kImmediate : Durability::kPolicy;
      Status s;
      const Entry& e = Append(w, d, &s, Size(rng));
      if (e.state == Entry::State::kRefused && space_back) {
        violations_[w].push_back("NoSpace after space returned: " + s.ToString());
      }
      if (e.state == Entry::State::kFailed) {
        if (options_.fault == Fault::kFullDisk && !env_->crashed()) {
          violations_[w].push_back("a full disk made Append fail with " + s.ToString());
        }
        break;
      }
      NoteDurable(log_->DurableLsn());
      if (wait_calls_ && e.state == Entry::State::kAcked && Chance(rng, 0.01) &&
          log_->WaitDurable(e.lsn).ok()) {
        NoteDurable(e.lsn);
      }
      if (pauses && Chance(rng, 0.03)) {
        const auto most = 2 * sc.policy.interval();
        std::this_thread::sleep_for(std::chrono::microseconds(Uniform(rng, 0, most.count())));
      }
    }
    done_.fetch_add(1);
  }

  size_t Size(std::mt19937_64& rng) const {
    return Chance(rng, 0.05) ? Uniform(rng, 200, 2000) : Uniform(rng, 0, 200);
  }

  const Entry& Append(uint32_t w, Durability d, Status* status, size_t size = 16) {
    const uint64_t seq = entries_[w].size();
    Result<Lsn> r = log_->Append(MakePayload(w, seq, size), d);
    Entry e;
    e.ack_time = Clock::now();
    if (r.ok()) {
      e.state = Entry::State::kAcked;
      e.lsn = *r;
      e.durable_on_return =
          d == Durability::kImmediate || options_.scenario.policy.SyncsEveryAppend();
    } else {
      e.state = r.status().IsNoSpace() ? Entry::State::kRefused : Entry::State::kFailed;
      *status = r.status();
    }
    entries_[w].push_back(e);
    return entries_[w].back();
  }

  void StartFault() {
    if (options_.fault == Fault::kFailedSync) fault_->FailSyncs(1);
    if (options_.fault == Fault::kFullDisk) {
      const std::string dir = options_.dir + "/log";
      fault_->SetSpaceLimit(DirBytes(dir) + (seeds_[0] % segment_size_));
    }
  }

  void EndFullDisk() {
    fault_->ClearSpaceLimit();
    space_back_.store(true);
  }

  const CrashOptions& options_;
  Log* const log_;
  FaultEnv* const fault_;
  CrashAfterEnv* const env_;
  const uint64_t segment_size_;
  const bool wait_calls_;
  std::vector<uint64_t> budgets_;
  std::vector<uint64_t> seeds_;
  uint64_t fault_at_ = 0;
  uint64_t space_back_at_ = 0;
  // entries_[w] and violations_[w] belong to writer w until Run returns.
  std::vector<std::vector<Entry>> entries_;
  std::vector<std::vector<std::string>> violations_;
  std::atomic<bool> stop_{false};
  std::atomic<bool> space_back_{false};
  std::atomic<size_t> done_{0};
  std::atomic<Lsn> durable_seen_{0};
};

// A failed fdatasync must poison the log: the append that needed it fails,
// and so does everything after, without another sync being tried, and the
// watermark stays where the failure found it. (Before the failure it may
// still move: a seal that finished first made its records durable.)
void CheckPoisoned(Log* log, FaultEnv* fault, Workload* work, CrashOutcome* out) {
  Status s;
  if (work->AppendOneMore(&s).state == Entry::State::kAcked) {
    // The tree's spine syncs on its own thread, and poisons the log just
    // after its sync failed: an append may succeed in between, needing
    // only its segment's sync, which did succeed.
    if (!fault->LastFailedSyncPath().ends_with(std::string(kSpineFileName))) {
      out->violations.push_back("an append that needed the failed fdatasync succeeded");
      return;
    }
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
    while (log->Flush().ok() && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  }
  const Lsn durable = log->DurableLsn();
  if (work->AppendOneMore(&s).state == Entry::State::kAcked || log->Sync().ok() ||
      log->Flush().ok()) {
    out->violations.push_back("the log is not poisoned after a failed fdatasync");
  }
  // Other files may still be synced (the tree's spine vouches only for what
  // was durable before the failure); the file whose sync failed never is.
  if (fault->RetriedFailedSyncs() != 0) {
    out->violations.push_back("a failed fdatasync was retried");
  }
  if (log->DurableLsn() != durable) {
    out->violations.push_back("the watermark moved past a failed fdatasync");
  }
}

// After a full disk, space returns and appends must work again.
void CheckResumes(Log* log, FaultEnv* fault, Workload* work, CrashOutcome* out) {
  fault->ClearSpaceLimit();
  Status s;
  const Entry& e = work->AppendOneMore(&s);
  if (e.state != Entry::State::kAcked) {
    out->violations.push_back("appends did not resume after space returned: " + s.ToString());
  } else {
    work->NoteDurable(log->DurableLsn());
  }
}

// Reads every record; a failure is a violation.
std::vector<std::string> ReadAll(Log* log, CrashOutcome* out) {
  std::vector<std::string> records;
  auto reader = log->NewReader(1);
  if (!reader.ok()) {
    out->violations.push_back("cannot read the recovered log: " + reader.status().ToString());
    return records;
  }
  for (;;) {
    Result<bool> more = (*reader)->Next();
    if (!more.ok()) {
      out->violations.push_back("reading the recovered log failed: " + more.status().ToString());
      break;
    }
    if (!*more) break;
    records.emplace_back((*reader)->payload());
  }
  return records;
}

// Invariant 4: after a crash during (or right after) recovery and another
// power cut, the log opens, holds what the first recovery found, and takes
// appends. Returns the opened log, or nullptr after recording why not.
std::unique_ptr<Log> RecoverTwice(const CrashOptions& options, LogOptions lo, FaultEnv* fault,
                                  std::mt19937_64& rng, CrashOutcome* out) {
  const std::string path = options.dir + "/log";
  Lsn first_last = 0;
  {
    CrashAfterEnv env(fault, Uniform(rng, 0, kMaxChangesInRecovery));
    lo.env = &env;
    auto first = Log::Open(path, lo);
    if (first.ok()) {
      first_last = (*first)->LastLsn();
    } else if (!env.crashed()) {
      out->violations.push_back("Open after the power cut failed: " + first.status().ToString());
    }
    fault->Crash();
  }
  Status s = fault->PowerLoss(LossOptions(options.mode, rng()));
  if (!s.ok()) {
    out->violations.push_back("second power cut failed: " + s.ToString());
    return nullptr;
  }
  lo.env = fault;
  auto log = Log::Open(path, lo);
  if (!log.ok()) {
    out->violations.push_back("the log does not reopen after a crash in recovery: " +
                              log.status().ToString());
    return nullptr;
  }
  if ((*log)->LastLsn() < first_last) {
    out->violations.push_back("recovery found " + std::to_string(first_last) +
                              " records, a crash right after it left " +
                              std::to_string((*log)->LastLsn()));
  }
  return std::move(*log);
}

// True if the recovered log took its appends and closed cleanly.
bool CheckAcceptsAppends(Log* log, Lsn recovered, CrashOutcome* out) {
  for (int i = 0; i < kAppendsAfterRecovery; ++i) {
    Result<Lsn> lsn = log->Append("after recovery", Durability::kImmediate);
    if (!lsn.ok() || *lsn != recovered + 1 + i) {
      out->violations.push_back(
          "the recovered log refuses appends: " +
          (lsn.ok() ? "LSN " + std::to_string(*lsn) : lsn.status().ToString()));
      return false;
    }
  }
  Status s = log->Close();
  if (!s.ok()) out->violations.push_back("closing the recovered log failed: " + s.ToString());
  return s.ok();
}

// The tree every log keeps survived the crashes too: after the clean close
// it covers every record, and every record matches it.
void CheckTree(const std::string& path, Env* env, Lsn records, CrashOutcome* out) {
  VerifyOptions options;
  options.env = env;
  Result<VerifyReport> report = VerifyIntegrity(path, options);
  if (!report.ok()) {
    out->violations.push_back("the recovered log does not verify: " + report.status().ToString());
  } else if (report->covered != records) {
    out->violations.push_back("the tree covers " + std::to_string(report->covered) + " of " +
                              std::to_string(records) + " records after a clean close");
  }
}

LogOptions DrillLogOptions(const Scenario& sc, std::mt19937_64& rng) {
  static constexpr size_t kBuffers[] = {1024, 4096, 256 << 10};
  LogOptions lo;
  lo.durability = sc.policy;
  lo.segment_size = Uniform(rng, 4096, 16384);
  lo.max_record_size = 2048;  // payloads stay under it (Size() tops out at 2000 + prefix)
  lo.buffer_size = kBuffers[Uniform(rng, 0, 2)];
  return lo;
}

}  // namespace

Result<CrashOutcome> RunCrash(const CrashOptions& options) {
  std::error_code ec;
  fs::remove_all(options.dir, ec);
  fs::create_directories(options.dir, ec);
  if (ec) return Status::IOError(options.dir + ": " + ec.message(), ec.value());
  std::mt19937_64 rng(options.seed);
  CrashOutcome out;
  NoSyncEnv base(Env::Default());
  FaultEnv fault(&base);
  const uint64_t crash_at = options.fault == Fault::kNone ? Uniform(rng, 0, kMaxChangesBeforeCrash)
                                                          : std::numeric_limits<uint64_t>::max();
  CrashAfterEnv env(&fault, std::numeric_limits<uint64_t>::max());
  LogOptions lo = DrillLogOptions(options.scenario, rng);
  lo.env = &env;
  auto opened = Log::Open(options.dir + "/log", lo);
  if (!opened.ok()) return opened.status();
  std::unique_ptr<Log> log = std::move(*opened);
  env.CrashAfter(crash_at);

  Workload work(options, log.get(), &fault, &env, lo.segment_size, rng);
  work.Run();
  if (options.fault == Fault::kFailedSync) CheckPoisoned(log.get(), &fault, &work, &out);
  if (options.fault == Fault::kFullDisk) CheckResumes(log.get(), &fault, &work, &out);

  CrashFacts facts;
  facts.crash_time = env.crashed() ? env.crash_time() : Clock::now();
  fault.Crash();
  facts.policy = options.scenario.policy;
  facts.time_allowance = options.time_allowance;
  facts.flushed = log->Stats().flushed_lsn;
  work.NoteDurable(log->DurableLsn());
  facts.durable_seen = work.durable_seen();
  const LogStats stats = log->Stats();
  out.policy_syncs = stats.syncs - std::min(stats.syncs, stats.rotations);
  out.waited = work.waited();
  log.reset();  // its Close fails: the process is dead
  work.TakeViolations(&out.violations);

  Status s = fault.PowerLoss(LossOptions(options.mode, rng()));
  if (!s.ok()) return s;
  fault.FailSyncs(0);
  fault.ClearSpaceLimit();
  log = RecoverTwice(options, lo, &fault, rng, &out);
  if (log == nullptr) return out;
  const std::vector<std::string> records = ReadAll(log.get(), &out);
  CheckRecovered(work.entries(), facts, records, &out);
  if (CheckAcceptsAppends(log.get(), records.size(), &out)) {
    CheckTree(options.dir + "/log", &fault, records.size() + kAppendsAfterRecovery, &out);
  }
  return out;
}

}  // namespace quipu::drill
