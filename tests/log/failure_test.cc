// fsync failures, a full disk and power cuts, through the fault-injecting Env.
#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "io/fault_env.h"
#include "log/engine.h"
#include "quipu/log.h"
#include "quipu/reader.h"
#include "read_log.h"
#include "test_dir.h"

namespace quipu {
namespace {

using testing::TestDir;

class FailureTest : public ::testing::Test {
 protected:
  FailureTest() : env_(Env::Default()) {}

  LogOptions Options(DurabilityPolicy policy) {
    LogOptions options;
    options.env = &env_;
    options.durability = policy;
    options.segment_size = 4096;
    options.max_record_size = 512;
    return options;
  }

  std::unique_ptr<Log> Open(DurabilityPolicy policy) {
    auto log = OpenLogEngine(dir_.log(), Options(policy));
    EXPECT_TRUE(log.ok()) << log.status().ToString();
    return log.ok() ? std::move(*log) : nullptr;
  }

  // Simulates a power cut: the process stops touching files, the Log object
  // goes away, and the disk forgets whatever was not synced.
  void PowerCut(std::unique_ptr<Log> log, bool tear = false) {
    env_.Crash();
    log.reset();
    PowerLossOptions loss;
    loss.tear_last_write = tear;
    loss.seed = 7;
    ASSERT_TRUE(env_.PowerLoss(loss).ok());
  }

  std::vector<std::string> ReadAll() { return testing::ReadPayloads(dir_.log()); }

  TestDir dir_;
  FaultEnv env_;
};

TEST_F(FailureTest, FailedFsyncPoisonsTheLog) {
  auto log = Open(DurabilityPolicy::Always());
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(log->Append("ok").ok());
  env_.FailSyncs(1);
  auto failed = log->Append("doomed");
  ASSERT_FALSE(failed.ok());
  EXPECT_TRUE(failed.status().IsIOError()) << failed.status().ToString();
  const uint64_t syncs = env_.SyncCount();
  // Every later call reports the same error; the sync is never retried.
  EXPECT_EQ(log->Append("later").status().message(), failed.status().message());
  EXPECT_EQ(log->Sync().message(), failed.status().message());
  EXPECT_EQ(log->Flush().message(), failed.status().message());
  EXPECT_FALSE(log->WaitDurable(6).ok());
  EXPECT_FALSE(log->AwaitDurableAbove(5, std::chrono::milliseconds(1)).ok());
  EXPECT_FALSE(log->Close().ok());
  EXPECT_EQ(env_.SyncCount(), syncs) << "a failed fsync must never be retried";
  EXPECT_EQ(log->DurableLsn(), 5u);

  // Reopening is the way back, and what was acknowledged is there.
  log.reset();
  auto reopened = Open(DurabilityPolicy::Always());
  ASSERT_NE(reopened, nullptr);
  EXPECT_GE(reopened->LastLsn(), 5u);
  ASSERT_TRUE(reopened->Append("fresh").ok());
}

TEST_F(FailureTest, FailedFsyncWakesEveryGroupCommitWaiter) {
  auto log = Open(DurabilityPolicy::GroupCommit());
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  env_.FailSyncs(1);
  for (int t = 0; t < 16; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 20; ++i) {
        if (!log->Append("w").ok()) {
          ++failures;
          return;
        }
      }
    });
  }
  for (auto& th : threads) th.join();  // no thread may hang
  EXPECT_EQ(failures.load(), 16);
  EXPECT_FALSE(log->Sync().ok());
}

TEST_F(FailureTest, GroupWritersOnAFullDiskEachHearTheTruth) {
  // Groups of writers meet the full disk part-way: each writer hears either
  // an LSN, and its record is durable there, or NoSpace, and it is not in
  // the log at all.
  LogOptions options = Options(DurabilityPolicy::GroupCommit());
  options.buffer_size = 1024;  // buffers fill, and are written, within a group
  auto opened = OpenLogEngine(dir_.log(), options);
  ASSERT_TRUE(opened.ok()) << opened.status().ToString();
  std::unique_ptr<Log> log = std::move(*opened);
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(log->Append("before").ok());
  env_.SetSpaceLimit(6000);
  std::mutex mu;
  std::map<Lsn, std::string> acknowledged;
  std::set<std::string> refused;
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 100; ++i) {
        const std::string payload =
            "t" + std::to_string(t) + "-" + std::to_string(i) + std::string(200, 'p');
        Result<Lsn> lsn = log->Append(payload);
        std::lock_guard<std::mutex> guard(mu);
        if (lsn.ok()) {
          acknowledged[*lsn] = payload;
        } else {
          ASSERT_TRUE(lsn.status().IsNoSpace()) << lsn.status().ToString();
          refused.insert(payload);
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  ASSERT_FALSE(refused.empty()) << "the disk never filled";
  PowerCut(std::move(log));

  const std::vector<std::string> records = ReadAll();
  ASSERT_EQ(records.size(), 5 + acknowledged.size()) << "LSNs stay dense";
  for (const auto& [lsn, payload] : acknowledged) {
    ASSERT_LE(lsn, records.size());
    EXPECT_EQ(records[lsn - 1], payload) << "LSN " << lsn;
  }
  for (const std::string& record : records) EXPECT_EQ(refused.count(record), 0u);
}

TEST_F(FailureTest, FailedFsyncDuringRotationPoisons) {
  auto log = Open(DurabilityPolicy::OsManaged());
  env_.FailSyncs(1);
  Status first;
  for (int i = 0; i < 1000 && first.ok(); ++i) first = log->Append(std::string(100, 'r')).status();
  EXPECT_TRUE(first.IsIOError()) << "the seal's fsync failed";
  EXPECT_FALSE(log->Append("x").ok());
}

TEST_F(FailureTest, FullDiskFailsTheAppendAndAppendsResumeWhenSpaceReturns) {
  auto log = Open(DurabilityPolicy::Always());
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(log->Append("before").ok());
  env_.SetSpaceLimit(0);  // no byte more fits
  // Records first fill the zeros the log wrote ahead of them (space the
  // file already holds: io/zero_ahead_file.h), then meet the full disk.
  const std::string record(500, 'n');
  Result<Lsn> full = Lsn{0};
  Lsn last = 10;
  for (int i = 0; i < 1000 && full.ok(); ++i) {
    full = log->Append(record);
    if (full.ok()) last = *full;
  }
  ASSERT_FALSE(full.ok());
  EXPECT_TRUE(full.status().IsNoSpace()) << full.status().ToString();
  EXPECT_EQ(log->LastLsn(), last) << "the refused record is not in the log";
  EXPECT_EQ(ReadAll().size(), last) << "still consistent and readable";

  env_.ClearSpaceLimit();
  auto lsn = log->Append("after");
  ASSERT_TRUE(lsn.ok()) << lsn.status().ToString();
  EXPECT_EQ(*lsn, last + 1);
  ASSERT_TRUE(log->Close().ok());
  auto records = ReadAll();
  ASSERT_EQ(records.size(), last + 1);
  EXPECT_EQ(records.back(), "after");
}

TEST_F(FailureTest, FullDiskKeepsAcknowledgedBufferedRecords) {
  auto log = Open(DurabilityPolicy::EveryN(1000));
  for (int i = 0; i < 20; ++i) ASSERT_TRUE(log->Append("acked").ok());
  env_.SetSpaceLimit(0);
  EXPECT_TRUE(log->Sync().IsNoSpace());
  EXPECT_TRUE(log->Append("critical", Durability::kImmediate).status().IsNoSpace());
  EXPECT_EQ(log->LastLsn(), 20u);
  env_.ClearSpaceLimit();
  ASSERT_TRUE(log->Sync().ok());
  EXPECT_EQ(log->DurableLsn(), 20u);
  ASSERT_TRUE(log->Close().ok());
  EXPECT_EQ(ReadAll(), std::vector<std::string>(20, "acked"));
}

// Regression: a group leader whose own record had been written (by the
// flusher) but not synced, and whose flush of later records hit a full disk,
// returned NoSpace, though its record stayed in the log and became durable
// later (found by the drill: "returned NoSpace, yet it is in the log"). What
// was written is synced anyway; only what could not be written is refused.
TEST_F(FailureTest, FullDiskStillSyncsWhatWasWritten) {
  auto log = Open(DurabilityPolicy::OsManaged());
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(log->Append("written").ok());
  ASSERT_TRUE(log->Flush().ok());
  ASSERT_TRUE(log->Append("buffered").ok());
  env_.SetSpaceLimit(0);
  EXPECT_TRUE(log->WaitDurable(10).ok()) << "record 10 is in the file: syncing it needs no room";
  EXPECT_EQ(log->DurableLsn(), 10u);
  EXPECT_TRUE(log->Sync().IsNoSpace()) << "record 11 cannot be written";
  EXPECT_EQ(log->LastLsn(), 11u) << "acknowledged, so kept";
  env_.ClearSpaceLimit();
  ASSERT_TRUE(log->Close().ok());
  auto records = ReadAll();
  ASSERT_EQ(records.size(), 11u);
  EXPECT_EQ(records.back(), "buffered");
}

// Room that comes back while a write fails is used at once: the write is
// tried again, holding the log's mutex, before any record is taken back out.
// Otherwise an append made after the disk had room again could be refused
// for an attempt that began before (the drill's "NoSpace after space
// returned", a few times in a thousand full-disk crashes with four writers).
TEST_F(FailureTest, ADiskFullForAMomentRefusesNothing) {
  auto log = Open(DurabilityPolicy::Always());
  ASSERT_TRUE(log->Append("before").ok());
  env_.FailWritesWithNoSpace(1);
  auto lsn = log->Append("during");
  ASSERT_TRUE(lsn.ok()) << lsn.status().ToString();
  EXPECT_EQ(log->DurableLsn(), 2u);
  ASSERT_TRUE(log->Close().ok());
  EXPECT_EQ(ReadAll(), (std::vector<std::string>{"before", "during"}));
}

// A full buffer is written by the flusher thread. When that write hits a
// full disk, no appender is there to see it: the next append needing room
// must write inline and get the NoSpace itself, so buffering stays bounded
// (the buffer filling plus the one that failed) instead of growing forever.
TEST_F(FailureTest, FullDiskDuringABackgroundFlushFailsAnAppendSoon) {
  LogOptions options = Options(DurabilityPolicy::OsManaged());
  options.buffer_size = 1024;
  options.segment_size = 1 << 20;
  auto opened = OpenLogEngine(dir_.log(), options);
  ASSERT_TRUE(opened.ok()) << opened.status().ToString();
  auto log = std::move(*opened);
  const std::string record(100, 'r');
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(log->Append(record).ok());
  env_.SetSpaceLimit(0);
  int accepted = 5;
  Status s;
  for (int i = 0; i < 1000 && s.ok(); ++i) {
    s = log->Append(record).status();
    if (s.ok()) ++accepted;
  }
  EXPECT_TRUE(s.IsNoSpace()) << s.ToString();
  // Frames are 108 bytes: two 1 KiB buffers hold at most 18 of them.
  EXPECT_LE(accepted, 20);

  env_.ClearSpaceLimit();
  for (int i = 0; i < 30; ++i) ASSERT_TRUE(log->Append(record).ok());
  ASSERT_TRUE(log->Close().ok());
  EXPECT_EQ(ReadAll(), std::vector<std::string>(accepted + 30, record))
      << "every acknowledged record, in order, nothing refused";
}

TEST_F(FailureTest, FullDiskAtRotationLeavesTheLogUsable) {
  auto log = Open(DurabilityPolicy::Always());
  Lsn last = 0;
  // Fill the first segment almost completely, then forbid any new file.
  for (int i = 0; i < 30; ++i) {
    auto lsn = log->Append(std::string(100, 'a'));
    ASSERT_TRUE(lsn.ok());
    last = *lsn;
  }
  env_.SetSpaceLimit(0);
  Status s;
  for (int i = 0; i < 20 && s.ok(); ++i) s = log->Append(std::string(100, 'b')).status();
  EXPECT_TRUE(s.IsNoSpace()) << s.ToString();
  env_.ClearSpaceLimit();
  for (int i = 0; i < 50; ++i) ASSERT_TRUE(log->Append(std::string(100, 'c')).ok());
  ASSERT_TRUE(log->Close().ok());
  EXPECT_GE(ReadAll().size(), last + 50);
}

TEST_F(FailureTest, PowerLossKeepsEveryAcknowledgedRecord) {
  auto log = Open(DurabilityPolicy::Always());
  for (int i = 0; i < 200; ++i) ASSERT_TRUE(log->Append("r" + std::to_string(i)).ok());
  PowerCut(std::move(log), /*tear=*/true);
  auto reopened = Open(DurabilityPolicy::Always());
  ASSERT_NE(reopened, nullptr);
  EXPECT_EQ(reopened->LastLsn(), 200u);
  ASSERT_TRUE(reopened->Close().ok());
  auto records = ReadAll();
  ASSERT_EQ(records.size(), 200u);
  for (int i = 0; i < 200; ++i) EXPECT_EQ(records[i], "r" + std::to_string(i));
}

TEST_F(FailureTest, PowerLossUnderOsManagedLeavesAPrefixThatAcceptsAppends) {
  auto log = Open(DurabilityPolicy::OsManaged());
  for (int i = 0; i < 500; ++i) ASSERT_TRUE(log->Append("r" + std::to_string(i)).ok());
  ASSERT_TRUE(log->Flush().ok());
  PowerCut(std::move(log), /*tear=*/true);
  auto reopened = Open(DurabilityPolicy::OsManaged());
  ASSERT_NE(reopened, nullptr);
  const Lsn survived = reopened->LastLsn();
  EXPECT_LT(survived, 500u) << "the unsynced tail is gone";
  auto lsn = reopened->Append("after");
  ASSERT_TRUE(lsn.ok());
  EXPECT_EQ(*lsn, survived + 1);
  ASSERT_TRUE(reopened->Close().ok());
  auto records = ReadAll();
  ASSERT_EQ(records.size(), survived + 1);
  for (Lsn i = 0; i < survived; ++i) EXPECT_EQ(records[i], "r" + std::to_string(i));
}

TEST_F(FailureTest, PowerLossRightAfterRecoveryIsSurvived) {
  auto log = Open(DurabilityPolicy::EveryN(8));
  for (int i = 0; i < 100; ++i) ASSERT_TRUE(log->Append("x").ok());
  const Lsn durable = log->DurableLsn();
  PowerCut(std::move(log), /*tear=*/true);
  auto recovered = Open(DurabilityPolicy::EveryN(8));
  ASSERT_NE(recovered, nullptr);
  PowerCut(std::move(recovered));
  auto again = Open(DurabilityPolicy::EveryN(8));
  ASSERT_NE(again, nullptr);
  EXPECT_GE(again->LastLsn(), durable);
}

}  // namespace
}  // namespace quipu
