// The durable watcher behind `quipu ingest`'s "durable <lsn>" lines, in-process.
#include "cli/acks.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "quipu/log.h"
#include "test_dir.h"

namespace quipu::cli {
namespace {

using namespace std::chrono_literals;

// A log whose DurableLsn() holds any thread but the one that made it until
// Release(): it plays a watcher thread that the scheduler starts late.
class LateThreadLog final : public Log {
 public:
  explicit LateThreadLog(Log* log) : log_(log), owner_(std::this_thread::get_id()) {}

  void Release() {
    std::lock_guard<std::mutex> lock(mu_);
    released_ = true;
    cv_.notify_all();
  }

  Lsn DurableLsn() const override {
    if (std::this_thread::get_id() != owner_) {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [this] { return released_; });
    }
    return log_->DurableLsn();
  }
  Result<Lsn> AwaitDurableAbove(Lsn seen, std::chrono::milliseconds timeout) override {
    if (std::this_thread::get_id() != owner_) {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [this] { return released_; });
    }
    return log_->AwaitDurableAbove(seen, timeout);
  }
  Result<Lsn> Append(std::string_view payload, Durability durability) override {
    return log_->Append(payload, durability);
  }
  Status Flush() override { return log_->Flush(); }
  Status Sync() override { return log_->Sync(); }
  Lsn LastLsn() const override { return log_->LastLsn(); }
  Status WaitDurable(Lsn lsn) override { return log_->WaitDurable(lsn); }
  Result<std::unique_ptr<LogReader>> NewReader(Lsn from) override { return log_->NewReader(from); }
  Status DropSegmentsBefore(Lsn first_kept, std::string_view note) override {
    return log_->DropSegmentsBefore(first_kept, note);
  }
  Lsn FirstLsn() const override { return log_->FirstLsn(); }
  Result<std::vector<SegmentInfo>> Segments() const override { return log_->Segments(); }
  LogStats Stats() const override { return log_->Stats(); }
  const RecoveryReport& Recovery() const override { return log_->Recovery(); }
  LogTree* tree() override { return log_->tree(); }
  Status Close() override { return log_->Close(); }

 private:
  Log* log_;
  const std::thread::id owner_;
  mutable std::mutex mu_;
  mutable std::condition_variable cv_;
  bool released_ = false;
};

// Records made durable after the watcher was made but before its thread ran
// are reported all the same (they were once taken as reported already, so
// `ingest --durability always` printed no "durable" line until EOF).
TEST(DurableWatcherTest, ReportsRecordsMadeDurableBeforeItsThreadRuns) {
  testing::TestDir dir;
  LogOptions options;
  options.durability = DurabilityPolicy::Always();
  auto opened = Log::Open(dir.log(), options);
  ASSERT_TRUE(opened.ok()) << opened.status().ToString();
  LateThreadLog log(opened->get());

  std::atomic<Lsn> reported{0};
  DurableWatcher watcher(&log, [&](Lsn lsn) {
    reported.store(lsn);
    return Status::OK();
  });
  ASSERT_TRUE(log.Append("a", Durability::kPolicy).ok());
  ASSERT_TRUE(log.Append("b", Durability::kPolicy).ok());
  ASSERT_EQ(log.DurableLsn(), 2u);
  log.Release();
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (reported.load() < 2 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(5ms);
  }
  EXPECT_EQ(reported.load(), 2u);
  EXPECT_TRUE(watcher.Stop().ok());
  ASSERT_TRUE(log.Close().ok());
}

}  // namespace
}  // namespace quipu::cli
