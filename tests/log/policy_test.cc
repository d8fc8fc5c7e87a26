// Each durability policy, observed through the fsyncs it asks of the Env.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

#include "io/fault_env.h"
#include "log/engine.h"
#include "quipu/log.h"
#include "test_dir.h"

namespace quipu {
namespace {

using std::chrono::milliseconds;
using testing::TestDir;

class PolicyTest : public ::testing::Test {
 protected:
  PolicyTest() : env_(Env::Default()) {}

  std::unique_ptr<Log> Open(DurabilityPolicy policy) {
    LogOptions options;
    options.env = &env_;
    options.durability = policy;
    auto log = OpenLogEngine(dir_.log(), options);
    EXPECT_TRUE(log.ok()) << log.status().ToString();
    env_.ResetCounters();  // count only what the appends cause
    return log.ok() ? std::move(*log) : nullptr;
  }

  TestDir dir_;
  FaultEnv env_;
};

TEST_F(PolicyTest, AlwaysSyncsOncePerAppend) {
  auto log = Open(DurabilityPolicy::Always());
  for (int i = 1; i <= 50; ++i) {
    ASSERT_TRUE(log->Append("r").ok());
    EXPECT_EQ(env_.SyncCount(), uint64_t(i));
    EXPECT_EQ(log->DurableLsn(), Lsn(i));
  }
  EXPECT_EQ(log->Stats().syncs, 50u);
}

TEST_F(PolicyTest, EveryNSyncsOnEveryNthAppend) {
  auto log = Open(DurabilityPolicy::EveryN(64));
  for (int i = 1; i <= 6400; ++i) {
    ASSERT_TRUE(log->Append("record").ok());
    // At most n - 1 acknowledged records are ever not durable.
    ASSERT_LE(log->LastLsn() - log->DurableLsn(), 63u);
  }
  EXPECT_EQ(env_.SyncCount(), 100u);
  ASSERT_TRUE(log->Close().ok());
  // The 6400th append synced every record; Close adds only the closing sync
  // marker's fsync.
  EXPECT_EQ(env_.SyncCount(), 101u);
}

TEST_F(PolicyTest, OsManagedNeverSyncsUntilClose) {
  auto log = Open(DurabilityPolicy::OsManaged());
  // 60 000 frames of 14 bytes fill the 256 KiB buffer three times. The flusher
  // thread writes a full buffer in the background, but the second full one
  // waits for that write, so by now at least one has reached the OS.
  for (int i = 0; i < 60000; ++i) ASSERT_TRUE(log->Append("record").ok());
  EXPECT_EQ(env_.SyncCount(), 0u);
  EXPECT_EQ(log->DurableLsn(), 0u);
  EXPECT_GT(env_.AppendCount(), 0u) << "a full buffer is handed to the OS";
  ASSERT_TRUE(log->Close().ok());
  EXPECT_EQ(env_.SyncCount(), 2u) << "the records, then the closing sync marker";
}

TEST_F(PolicyTest, FlushHandsBytesToTheOsWithoutSyncing) {
  auto log = Open(DurabilityPolicy::OsManaged());
  ASSERT_TRUE(log->Append("a").ok());
  EXPECT_EQ(env_.AppendCount(), 0u);
  ASSERT_TRUE(log->Flush().ok());
  EXPECT_EQ(env_.AppendCount(), 1u);
  EXPECT_EQ(env_.SyncCount(), 0u);
  EXPECT_EQ(log->Stats().flushed_lsn, 1u);
  ASSERT_TRUE(log->Sync().ok());
  EXPECT_EQ(env_.SyncCount(), 1u);
  EXPECT_EQ(log->DurableLsn(), 1u);
}

TEST_F(PolicyTest, ImmediateOverrideIsDurableUnderAnyPolicy) {
  for (auto policy : {DurabilityPolicy::OsManaged(), DurabilityPolicy::EveryN(1000),
                      DurabilityPolicy::EveryNOrInterval(1000, std::chrono::seconds(60))}) {
    TestDir dir;
    LogOptions options;
    options.env = &env_;
    options.durability = policy;
    auto log = OpenLogEngine(dir.log(), options);
    ASSERT_TRUE(log.ok());
    for (int i = 0; i < 10; ++i) ASSERT_TRUE((*log)->Append("bulk").ok());
    EXPECT_EQ((*log)->DurableLsn(), 0u) << policy.ToString();
    auto critical = (*log)->Append("vote", Durability::kImmediate);
    ASSERT_TRUE(critical.ok());
    EXPECT_EQ(*critical, 11u);
    EXPECT_EQ((*log)->DurableLsn(), 11u) << "the record and all before it";
    ASSERT_TRUE((*log)->Close().ok());
  }
}

TEST_F(PolicyTest, BufferedOverrideNeverWaitsUnderAlways) {
  auto log = Open(DurabilityPolicy::Always());
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(log->Append("x", Durability::kBuffered).ok());
  EXPECT_EQ(env_.SyncCount(), 0u);
  EXPECT_EQ(log->DurableLsn(), 0u);
  ASSERT_TRUE(log->WaitDurable(3).ok());
  EXPECT_GE(log->DurableLsn(), 3u);
  EXPECT_EQ(env_.SyncCount(), 1u);
}

TEST_F(PolicyTest, WaitDurableRefusesAnLsnNotYetAppended) {
  auto log = Open(DurabilityPolicy::OsManaged());
  ASSERT_TRUE(log->Append("x").ok());
  EXPECT_EQ(log->WaitDurable(2).code(), Status::Code::kInvalidArgument);
  EXPECT_TRUE(log->WaitDurable(1).ok());
  EXPECT_TRUE(log->WaitDurable(0).ok());
}

TEST_F(PolicyTest, TimerSyncsEveryNOrIntervalWithoutFurtherAppends) {
  auto log = Open(DurabilityPolicy::EveryNOrInterval(1000, milliseconds(20)));
  const auto start = std::chrono::steady_clock::now();
  ASSERT_TRUE(log->Append("lonely").ok());
  EXPECT_EQ(log->DurableLsn(), 0u);
  // Nothing else is appended: only the timer can make it durable.
  auto durable = log->AwaitDurableAbove(0, milliseconds(5000));
  const auto waited = std::chrono::steady_clock::now() - start;
  ASSERT_TRUE(durable.ok());
  EXPECT_EQ(*durable, 1u);
  EXPECT_GE(waited, milliseconds(20)) << "not before the interval";
  EXPECT_LT(waited, milliseconds(2000)) << "the bound is the interval plus one fsync";
  EXPECT_EQ(env_.SyncCount(), 1u);
}

TEST_F(PolicyTest, TimerBoundsTheAgeOfUnsyncedRecordsUnderSteadyLoad) {
  auto log = Open(DurabilityPolicy::EveryNOrInterval(1000000, milliseconds(10)));
  const auto until = std::chrono::steady_clock::now() + milliseconds(300);
  while (std::chrono::steady_clock::now() < until) {
    ASSERT_TRUE(log->Append("tick").ok());
    std::this_thread::sleep_for(milliseconds(1));
  }
  // ~300 appends, n never reached: every sync came from the timer.
  EXPECT_GE(env_.SyncCount(), 5u);
  EXPECT_GT(log->DurableLsn(), 0u);
}

TEST_F(PolicyTest, EveryNOrIntervalStillSyncsOnCount) {
  auto log = Open(DurabilityPolicy::EveryNOrInterval(10, std::chrono::seconds(3600)));
  for (int i = 0; i < 100; ++i) ASSERT_TRUE(log->Append("r").ok());
  EXPECT_EQ(env_.SyncCount(), 10u);
}

TEST_F(PolicyTest, GroupCommitSharesOneSyncAcrossWaiters) {
  auto log = Open(DurabilityPolicy::GroupCommit());
  constexpr int kThreads = 64, kPerThread = 50;
  std::atomic<int> go{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      while (go.load() == 0) std::this_thread::yield();
      for (int i = 0; i < kPerThread; ++i) {
        auto lsn = log->Append("group");
        ASSERT_TRUE(lsn.ok());
        ASSERT_GE(log->DurableLsn(), *lsn) << "durable before Append returns";
      }
    });
  }
  go = 1;
  for (auto& th : threads) th.join();
  const uint64_t appends = kThreads * kPerThread;
  EXPECT_EQ(log->DurableLsn(), appends);
  EXPECT_LT(env_.SyncCount(), appends / 4) << "N waiters, one fsync";
  std::printf("GroupCommit: %llu appends, %llu fsyncs\n", static_cast<unsigned long long>(appends),
              static_cast<unsigned long long>(env_.SyncCount()));
}

TEST_F(PolicyTest, GroupCommitWithDelayGathersMoreWritersPerSync) {
  auto log = Open(DurabilityPolicy::GroupCommit(milliseconds(2)));
  constexpr int kThreads = 16, kPerThread = 20;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < kPerThread; ++i) ASSERT_TRUE(log->Append("g").ok());
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(log->DurableLsn(), Lsn{kThreads * kPerThread});
  EXPECT_LT(env_.SyncCount(), uint64_t{kThreads * kPerThread} / 4);
}

TEST_F(PolicyTest, AlwaysWithConcurrentThreadsIsDurableOnReturn) {
  auto log = Open(DurabilityPolicy::Always());
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 50; ++i) {
        auto lsn = log->Append("a");
        ASSERT_TRUE(lsn.ok());
        ASSERT_GE(log->DurableLsn(), *lsn);
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(log->DurableLsn(), 400u);
}

TEST_F(PolicyTest, CloseSyncsWhateverRemainsUnderEveryPolicy) {
  for (auto policy : {DurabilityPolicy::OsManaged(), DurabilityPolicy::EveryN(1000),
                      DurabilityPolicy::EveryNOrInterval(1000, std::chrono::seconds(60))}) {
    TestDir dir;
    FaultEnv env(Env::Default());
    LogOptions options;
    options.env = &env;
    options.durability = policy;
    auto log = OpenLogEngine(dir.log(), options);
    ASSERT_TRUE(log.ok());
    for (int i = 0; i < 10; ++i) ASSERT_TRUE((*log)->Append("r").ok());
    ASSERT_TRUE((*log)->Close().ok());
    // A power cut right after Close loses nothing.
    ASSERT_TRUE(env.PowerLoss().ok());
    auto reopened = OpenLogEngine(dir.log(), options);
    ASSERT_TRUE(reopened.ok()) << reopened.status().ToString();
    EXPECT_EQ((*reopened)->LastLsn(), 10u) << policy.ToString();
  }
}

TEST_F(PolicyTest, AwaitDurableAboveDoesNotCauseASync) {
  auto log = Open(DurabilityPolicy::OsManaged());
  ASSERT_TRUE(log->Append("x").ok());
  auto durable = log->AwaitDurableAbove(0, milliseconds(30));
  ASSERT_TRUE(durable.ok());
  EXPECT_EQ(*durable, 0u);
  EXPECT_EQ(env_.SyncCount(), 0u);
}

}  // namespace
}  // namespace quipu
