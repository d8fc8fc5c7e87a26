#include "cli/bench_baselines.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "io/errno_status.h"

namespace quipu::bench {

namespace {

// One scratch file, removed when done with (its unsynced pages are then
// dropped by the kernel instead of being written back under later runs).
class RawFile {
 public:
  explicit RawFile(std::string path) : path_(std::move(path)) {}
  ~RawFile() {
    if (fd_ >= 0) ::close(fd_);
    ::unlink(path_.c_str());
  }

  Status Open() {
    fd_ = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    return fd_ < 0 ? ErrnoStatus("open", path_, errno) : Status::OK();
  }

  Status Write(const char* p, size_t n) {
    while (n > 0) {
      const ssize_t done = ::write(fd_, p, n);
      if (done < 0 && errno == EINTR) continue;
      if (done < 0) return ErrnoStatus("write", path_, errno);
      p += done;
      n -= static_cast<size_t>(done);
    }
    return Status::OK();
  }

  Status Sync() {
    return ::fdatasync(fd_) == 0 ? Status::OK() : ErrnoStatus("fdatasync", path_, errno);
  }

 private:
  std::string path_;
  int fd_ = -1;
};

uint32_t Nanos(Clock::duration d) {
  return static_cast<uint32_t>(std::min<int64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(d).count(), UINT32_MAX));
}

// Write and sync every `batch` records; a record counts once synced.
Result<Baseline> BufferedSync(const BaselinePlan& plan, uint64_t batch) {
  RawFile file(plan.dir + "/baseline-buffer");
  QUIPU_RETURN_IF_ERROR(file.Open());
  const std::string record(plan.record_size, 'q');
  std::string buf;
  buf.reserve(batch * plan.record_size);
  std::vector<uint32_t> ns;
  Baseline b;
  b.name = batch == 1 ? "write+fdatasync" : "buffer+fdatasync:" + std::to_string(batch);
  const Clock::time_point start = Clock::now();
  const auto limit = std::chrono::duration<double>(plan.seconds);
  Clock::time_point now = start;
  while (now - start < limit && b.bytes < static_cast<double>(plan.max_bytes)) {
    buf.clear();
    for (uint64_t i = 0; i < batch; ++i) buf.append(record);
    const Clock::time_point t0 = Clock::now();
    QUIPU_RETURN_IF_ERROR(file.Write(buf.data(), buf.size()));
    QUIPU_RETURN_IF_ERROR(file.Sync());
    now = Clock::now();
    ns.push_back(Nanos(now - t0));
    b.m.records += batch;
    b.m.fsyncs += 1;
    b.bytes += static_cast<double>(buf.size());
  }
  b.m.seconds = Seconds(now - start);
  b.m.latency = Percentiles(&ns);  // per batch: for batch 1, the fdatasync time
  b.m.latency_to_durable = true;
  return b;
}

Result<Baseline> WritePerRecord(const BaselinePlan& plan) {
  RawFile file(plan.dir + "/baseline-write");
  QUIPU_RETURN_IF_ERROR(file.Open());
  const std::string record(plan.record_size, 'q');
  const uint64_t cap = std::max<uint64_t>(1, plan.max_bytes / plan.record_size);
  const auto limit = std::chrono::duration<double>(plan.seconds);
  Baseline b;
  b.name = "write";
  const Clock::time_point start = Clock::now();
  Clock::time_point now = start;
  while (b.m.records < cap && (b.m.records % 1024 != 0 || (now = Clock::now()) - start < limit)) {
    QUIPU_RETURN_IF_ERROR(file.Write(record.data(), record.size()));
    ++b.m.records;
  }
  b.m.seconds = Seconds(Clock::now() - start);
  b.bytes = static_cast<double>(b.m.records * plan.record_size);
  return b;
}

Result<Baseline> SequentialWrite(const BaselinePlan& plan) {
  RawFile file(plan.dir + "/baseline-seq");
  QUIPU_RETURN_IF_ERROR(file.Open());
  const std::string chunk(1 << 20, 'q');
  const auto limit = std::chrono::duration<double>(plan.seconds);
  Baseline b;
  b.name = "seq-write";
  const Clock::time_point start = Clock::now();
  while (b.bytes < static_cast<double>(plan.max_bytes) && Clock::now() - start < limit) {
    QUIPU_RETURN_IF_ERROR(file.Write(chunk.data(), chunk.size()));
    b.bytes += static_cast<double>(chunk.size());
  }
  QUIPU_RETURN_IF_ERROR(file.Sync());  // bandwidth to the device, not to the page cache
  b.m.fsyncs = 1;
  b.m.seconds = Seconds(Clock::now() - start);
  b.m.records = static_cast<uint64_t>(b.bytes) / plan.record_size;
  return b;
}

// The state the textbook group commit's writers share, all under mu.
struct SharedLog {
  std::mutex mu;
  std::condition_variable synced;
  std::string buf;
  uint64_t appended = 0;
  uint64_t durable = 0;
  bool syncing = false;
  uint64_t syncs = 0;
  Status error;
};

// One writer of the textbook group commit: append, then lead a sync or wait
// for one until the record is durable.
void TextbookWriter(RawFile* file, SharedLog* log, size_t record_size, RunClock* clock,
                    uint64_t* count, std::vector<uint32_t>* ns, Clock::time_point* end) {
  const std::string record(record_size, 'q');
  ns->reserve(1 << 16);
  clock->ready.count_down();
  clock->go.wait();
  while (!clock->stop.load(std::memory_order_relaxed)) {
    const Clock::time_point t0 = Clock::now();
    std::unique_lock<std::mutex> lock(log->mu);
    log->buf.append(record);
    const uint64_t mine = ++log->appended;
    while (log->durable < mine && log->error.ok()) {
      if (log->syncing) {
        log->synced.wait(lock);
        continue;
      }
      log->syncing = true;
      std::string out;
      out.swap(log->buf);
      const uint64_t target = log->appended;
      lock.unlock();
      Status s = file->Write(out.data(), out.size());
      if (s.ok()) s = file->Sync();
      lock.lock();
      log->syncing = false;
      ++log->syncs;
      if (s.ok()) {
        log->durable = target;
      } else {
        log->error = s;
      }
      log->synced.notify_all();
    }
    if (!log->error.ok()) break;
    lock.unlock();
    ns->push_back(Nanos(Clock::now() - t0));
    ++*count;
  }
  *end = Clock::now();
  clock->Finished();
}

}  // namespace

Result<Baseline> MeasureTextbookGroup(const BaselinePlan& plan, int writers) {
  RawFile file(plan.dir + "/baseline-group");
  QUIPU_RETURN_IF_ERROR(file.Open());
  SharedLog log;
  RunClock clock(writers);
  std::vector<uint64_t> counts(static_cast<size_t>(writers));
  std::vector<std::vector<uint32_t>> ns(static_cast<size_t>(writers));
  std::vector<Clock::time_point> ends(static_cast<size_t>(writers));
  std::vector<std::thread> threads;
  for (int i = 0; i < writers; ++i) {
    threads.emplace_back(TextbookWriter, &file, &log, plan.record_size, &clock, &counts[i], &ns[i],
                         &ends[i]);
  }
  const double cpu_before = ProcessCpuSeconds();
  clock.Run(plan.seconds);
  for (std::thread& t : threads) t.join();
  QUIPU_RETURN_IF_ERROR(log.error);
  Baseline b;
  b.name = "textbook-group";
  b.m.cpu_seconds = ProcessCpuSeconds() - cpu_before;
  std::vector<uint32_t> all;
  Clock::time_point end = clock.start;
  for (int i = 0; i < writers; ++i) {
    b.m.records += counts[i];
    end = std::max(end, ends[i]);
    all.insert(all.end(), ns[i].begin(), ns[i].end());
  }
  b.m.seconds = Seconds(end - clock.start);
  b.m.fsyncs = log.syncs;
  b.m.latency = Percentiles(&all);
  b.m.latency_to_durable = true;
  b.bytes = static_cast<double>(b.m.records * plan.record_size);
  return b;
}

Result<Baseline> MeasureFdatasync(const BaselinePlan& plan) { return BufferedSync(plan, 1); }

Result<std::vector<Baseline>> RunBaselines(const BaselinePlan& plan,
                                           const std::function<void(const std::string&)>& step) {
  std::vector<Baseline> out;
  auto add = [&](const std::string& name, auto run) -> Status {
    if (step) step(name);
    Result<Baseline> b = run();
    if (!b.ok()) return b.status().WithContext("baseline " + name);
    out.push_back(std::move(*b));
    return Status::OK();
  };
  for (uint64_t batch : kBufferBatches) {
    const std::string name =
        batch == 1 ? "write+fdatasync" : "buffer+fdatasync:" + std::to_string(batch);
    QUIPU_RETURN_IF_ERROR(add(name, [&] { return BufferedSync(plan, batch); }));
  }
  QUIPU_RETURN_IF_ERROR(add("write", [&] { return WritePerRecord(plan); }));
  QUIPU_RETURN_IF_ERROR(add("seq-write", [&] { return SequentialWrite(plan); }));
  return out;
}

}  // namespace quipu::bench
