#include "cli/bench_workload.h"

#include <time.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <mutex>
#include <thread>

#include "quipu/log.h"

namespace quipu::bench {

namespace {

struct WriterResult {
  uint64_t appended = 0;
  Clock::time_point end;
  std::vector<uint32_t> ns;
  Status error;
};

void BlockingWriter(Log* log, const Workload& w, uint64_t quota, RunClock* clock,
                    WriterResult* out) {
  const std::string record(w.record_size, 'q');
  // Appends that may wait for a sync are all timed: their latency is the point.
  const bool time_all = w.policy.SyncsEveryAppend();
  out->ns.reserve(quota > 0 ? quota / (time_all ? 1 : kSampleEvery) + 1 : 1 << 16);
  clock->ready.count_down();
  clock->go.wait();
  // A time-bounded run with a cap has both a quota and a stop flag.
  for (uint64_t n = 0; (quota == 0 || n < quota) && !clock->stop.load(std::memory_order_relaxed);
       ++n) {
    const bool timed = time_all || n % kSampleEvery == 0;
    const Clock::time_point t0 = timed ? Clock::now() : Clock::time_point();
    Result<Lsn> lsn = log->Append(record);
    if (!lsn.ok()) {
      out->error = lsn.status();
      break;
    }
    if (timed) out->ns.push_back(NanosSince(t0, Clock::now()));
    out->appended = n + 1;
  }
  out->end = Clock::now();
  clock->Finished();
}

Result<Measurement> RunBlocking(Log* log, const Workload& w) {
  RunClock clock(w.writers);
  std::vector<WriterResult> results(static_cast<size_t>(w.writers));
  std::vector<std::thread> threads;
  for (int i = 0; i < w.writers; ++i) {
    const uint64_t total = w.records > 0 ? w.records : w.max_records;
    uint64_t quota = 0;
    if (total > 0) {
      quota = total / w.writers + (static_cast<uint64_t>(i) < total % w.writers ? 1 : 0);
      if (quota == 0) quota = 1;  // fewer records than writers: one each
    }
    threads.emplace_back(BlockingWriter, log, std::cref(w), quota, &clock, &results[i]);
  }
  const uint64_t syncs_before = log->Stats().syncs;
  const double cpu_before = ProcessCpuSeconds();
  clock.Run(w.records > 0 ? 0.0 : w.seconds);
  for (std::thread& t : threads) t.join();

  Measurement m;
  m.cpu_seconds = ProcessCpuSeconds() - cpu_before;
  m.fsyncs = log->Stats().syncs - syncs_before;
  m.latency_to_durable = w.policy.SyncsEveryAppend();
  std::vector<uint32_t> all;
  Clock::time_point end = clock.start;
  for (WriterResult& r : results) {
    if (!r.error.ok()) return r.error;
    m.records += r.appended;
    end = std::max(end, r.end);
    all.insert(all.end(), r.ns.begin(), r.ns.end());
  }
  m.seconds = Seconds(end - clock.start);
  m.latency = Percentiles(&all);
  return m;
}

// Makes pending appends durable, one Sync() at a time, like ingest's syncer.
class Syncer {
 public:
  explicit Syncer(Log* log) : log_(log), thread_([this] { Loop(); }) {}
  ~Syncer() { (void)Stop(); }

  void Poke() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      pending_ = true;
    }
    cv_.notify_one();
  }

  // Returns the sync error that stopped the thread, if any.
  Status Stop() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
    }
    cv_.notify_one();
    if (thread_.joinable()) thread_.join();
    return error_;
  }

 private:
  void Loop() {
    std::unique_lock<std::mutex> lock(mu_);
    for (;;) {
      cv_.wait(lock, [this] { return pending_ || stop_; });
      if (stop_) return;
      pending_ = false;  // appends after this poke again; Sync covers those before
      lock.unlock();
      Status s = log_->Sync();
      lock.lock();
      if (!s.ok()) {
        error_ = s;
        return;
      }
    }
  }

  Log* log_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool pending_ = false;  // guarded by mu_
  bool stop_ = false;     // guarded by mu_
  Status error_;          // written by the thread before it ends
  std::thread thread_;    // last: starts once the members above exist
};

// The pipelined producer: see the file comment of bench_workload.h.
class Producer {
 public:
  Producer(Log* log, const Workload& w)
      : log_(log), w_(w), record_(w.record_size, 'q'), sent_(w.pipeline + 1) {
    first_ = log->LastLsn() + 1;
    durable_ = first_ - 1;
    last_ = durable_;
  }

  Result<Measurement> Run() {
    Syncer syncer(log_);
    const uint64_t syncs_before = log_->Stats().syncs;
    const double cpu_before = ProcessCpuSeconds();
    const Clock::time_point start = Clock::now();
    const Clock::time_point deadline =
        start + std::chrono::duration_cast<Clock::duration>(
                    std::chrono::duration<double>(w_.records > 0 ? 0.0 : w_.seconds));
    Status s;
    const uint64_t quota = w_.records > 0 ? w_.records : w_.max_records;
    for (uint64_t n = 0; s.ok() && (quota == 0 || n < quota); ++n) {
      if (w_.records == 0 && n % 256 == 0 && Clock::now() >= deadline) break;
      s = AppendOne(&syncer);
      if (s.ok() && n % 256 == 255) s = Observe(&syncer);
    }
    while (s.ok() && durable_ < last_) s = WaitAbove(&syncer);
    const Clock::time_point end = Clock::now();
    Status stopped = syncer.Stop();
    if (!s.ok()) return s;
    if (!stopped.ok()) return stopped;

    Measurement m;
    m.records = last_ - first_ + 1;
    m.seconds = Seconds(end - start);
    m.fsyncs = log_->Stats().syncs - syncs_before;
    m.cpu_seconds = ProcessCpuSeconds() - cpu_before;
    m.latency_to_durable = true;
    m.latency = Percentiles(&ns_);
    return m;
  }

 private:
  Status AppendOne(Syncer* syncer) {
    while (last_ - durable_ >= w_.pipeline) QUIPU_RETURN_IF_ERROR(WaitAbove(syncer));
    const Lsn lsn = last_ + 1;
    if (lsn % kSampleEvery == 0) sent_[lsn % sent_.size()] = Clock::now();
    Result<Lsn> got = log_->Append(record_, Durability::kBuffered);
    if (!got.ok()) return got.status();
    last_ = *got;
    return Status::OK();
  }

  // Pokes the syncer and retires whatever the watermark has passed.
  Status Observe(Syncer* syncer) {
    syncer->Poke();
    Retire(log_->DurableLsn());
    return Status::OK();
  }

  Status WaitAbove(Syncer* syncer) {
    syncer->Poke();
    Result<Lsn> now = log_->AwaitDurableAbove(durable_, std::chrono::milliseconds(100));
    if (!now.ok()) return now.status();
    Retire(*now);
    return Status::OK();
  }

  void Retire(Lsn durable) {
    if (durable <= durable_) return;
    const Clock::time_point now = Clock::now();
    for (Lsn l = (durable_ / kSampleEvery + 1) * kSampleEvery; l <= durable; l += kSampleEvery) {
      if (l >= first_) ns_.push_back(NanosSince(sent_[l % sent_.size()], now));
    }
    durable_ = durable;
  }

  Log* log_;
  const Workload& w_;
  const std::string record_;
  std::vector<Clock::time_point> sent_;  // append time of sampled LSNs, by lsn % size
  std::vector<uint32_t> ns_;
  Lsn first_ = 1;    // first LSN of this run
  Lsn last_ = 0;     // last LSN appended
  Lsn durable_ = 0;  // watermark as last observed
};

}  // namespace

double ProcessCpuSeconds() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

Scratch::~Scratch() {
  std::error_code ec;
  if (!path_.empty()) std::filesystem::remove_all(path_, ec);
}

Status Scratch::Create(const std::string& parent, const std::string& prefix) {
  std::error_code ec;
  std::filesystem::create_directories(parent, ec);
  if (ec) return Status::IOError("mkdir " + parent + ": " + ec.message());
  std::string templ = parent + "/" + prefix + "-XXXXXX";
  if (mkdtemp(templ.data()) == nullptr) {
    return Status::IOError(templ + ": cannot create scratch directory", errno);
  }
  path_ = std::filesystem::absolute(templ).lexically_normal().string();
  return Status::OK();
}

std::string Scratch::NextLog() {
  std::error_code ec;
  if (runs_ > 0) std::filesystem::remove_all(path_ + "/log" + std::to_string(runs_), ec);
  return path_ + "/log" + std::to_string(++runs_);
}

Latency Percentiles(std::vector<uint32_t>* ns) {
  Latency l;
  l.samples = ns->size();
  if (ns->empty()) return l;
  std::sort(ns->begin(), ns->end());
  auto at = [&](double q) {
    const size_t i = std::min(ns->size() - 1, static_cast<size_t>(q * ns->size()));
    return (*ns)[i] / 1000.0;
  };
  l.p50_us = at(0.50);
  l.p99_us = at(0.99);
  l.p999_us = at(0.999);
  return l;
}

Result<Measurement> RunWorkload(const Workload& w) {
  if (w.writers < 1) return Status::InvalidArgument("writers must be at least 1");
  if (w.records == 0 && !(w.seconds > 0)) {
    return Status::InvalidArgument("give a record count or a positive duration");
  }
  if (w.pipeline > 0 && w.writers != 1) {
    return Status::InvalidArgument("the pipelined mode has one producer (writers must be 1)");
  }
  LogOptions options;
  options.durability = w.pipeline > 0 ? DurabilityPolicy::GroupCommit() : w.policy;
  options.create_if_missing = true;
  options.segment_size = w.segment_size;
  // Small segments take proportionally small records (as ingest does).
  options.max_record_size =
      static_cast<uint32_t>(std::min<uint64_t>(options.max_record_size, w.segment_size / 2));
  Result<std::unique_ptr<Log>> log = Log::Open(w.dir, options);
  if (!log.ok()) return log.status();
  Result<Measurement> m =
      w.pipeline > 0 ? Producer(log->get(), w).Run() : RunBlocking(log->get(), w);
  Status closed = (*log)->Close();
  if (m.ok() && !closed.ok()) return closed;
  return m;
}

}  // namespace quipu::bench
