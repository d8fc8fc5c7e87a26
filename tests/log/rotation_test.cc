// Rotation: the next segment starts under a pending name and is linked in by
// the seal (log/rotation.cc); what readers and recovery make of a pending
// segment a crash left behind.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "drill/drill_env.h"
#include "io/fault_env.h"
#include "log/engine.h"
#include "log/format.h"
#include "quipu/inspect.h"
#include "quipu/log.h"
#include "quipu/reader.h"
#include "test_dir.h"

namespace quipu {
namespace {

namespace fs = std::filesystem;
using testing::TestDir;

std::string Payload(Lsn i) { return "rotation-payload-" + std::to_string(i); }

LogOptions SmallSegments(Env* env = nullptr) {
  LogOptions options;
  options.env = env;
  options.durability = DurabilityPolicy::OsManaged();
  options.segment_size = 4096;
  options.max_record_size = 256;
  return options;
}

void WriteLog(const std::string& dir, Lsn records) {
  auto log = OpenLogEngine(dir, SmallSegments());
  ASSERT_TRUE(log.ok()) << log.status().ToString();
  for (Lsn i = 1; i <= records; ++i) ASSERT_TRUE((*log)->Append(Payload(i)).ok());
  ASSERT_TRUE((*log)->Close().ok());
}

// Names in `dir` that end with `suffix`, sorted.
std::vector<std::string> Files(const std::string& dir, std::string_view suffix) {
  std::vector<std::string> names;
  for (const auto& entry : fs::directory_iterator(dir)) {
    const std::string name = entry.path().filename();
    if (name.ends_with(suffix)) names.push_back(name);
  }
  std::sort(names.begin(), names.end());
  return names;
}

// Turns the newest segment back into the pending segment of a rotation
// whose seal had not finished; returns its base.
Lsn UnlinkNewest(const std::string& dir) {
  const std::vector<std::string> segments = Files(dir, ".qlog");
  Lsn base = 0;
  EXPECT_TRUE(format::ParseSegmentFileName(segments.back(), &base));
  fs::rename(fs::path(dir) / segments.back(), fs::path(dir) / format::PendingSegmentFileName(base));
  return base;
}

// Cuts the last `bytes` bytes off `name` in `dir`.
void CutTail(const std::string& dir, const std::string& name, uint64_t bytes) {
  const fs::path path = fs::path(dir) / name;
  fs::resize_file(path, fs::file_size(path) - bytes);
}

std::vector<std::string> ReadAll(const std::string& dir, Status* status) {
  std::vector<std::string> out;
  auto reader = OpenLogReader(dir, 1);
  if (!reader.ok()) {
    *status = reader.status();
    return out;
  }
  for (;;) {
    auto more = (*reader)->Next();
    if (!more.ok()) {
      *status = more.status();
      return out;
    }
    if (!*more) return out;
    out.emplace_back((*reader)->payload());
  }
}

TEST(RotationTest, AClosedLogLeavesNoPendingSegment) {
  TestDir dir;
  WriteLog(dir.log(), 400);
  EXPECT_GE(Files(dir.log(), ".qlog").size(), 3u);
  EXPECT_TRUE(Files(dir.log(), format::kPendingSuffix).empty());
}

TEST(RotationTest, APendingSegmentThatContinuesTheChainIsReadAndLinkedIn) {
  TestDir dir;
  WriteLog(dir.log(), 400);
  const Lsn base = UnlinkNewest(dir.log());

  // A reader of the directory as the crash left it sees every record.
  Status read_status;
  std::vector<std::string> records = ReadAll(dir.log(), &read_status);
  ASSERT_TRUE(read_status.ok()) << read_status.ToString();
  ASSERT_EQ(records.size(), 400u);
  EXPECT_EQ(records.back(), Payload(400));
  auto summary = CheckLog(dir.log());
  ASSERT_TRUE(summary.ok()) << summary.status().ToString();
  EXPECT_EQ(summary->records, 400u);

  // Open finishes the rotation: nothing dropped, the segment has its name.
  auto log = OpenLogEngine(dir.log(), SmallSegments());
  ASSERT_TRUE(log.ok()) << log.status().ToString();
  EXPECT_EQ((*log)->LastLsn(), 400u);
  EXPECT_EQ((*log)->Recovery().dropped_bytes, 0u);
  EXPECT_EQ((*log)->Recovery().dropped_segments, 0u);
  EXPECT_TRUE(Files(dir.log(), format::kPendingSuffix).empty());
  EXPECT_TRUE(fs::exists(fs::path(dir.log()) / format::SegmentFileName(base)));
  ASSERT_TRUE((*log)->Append(Payload(401)).ok());
  ASSERT_TRUE((*log)->Close().ok());
  records = ReadAll(dir.log(), &read_status);
  ASSERT_TRUE(read_status.ok()) << read_status.ToString();
  EXPECT_EQ(records.size(), 401u);
}

TEST(RotationTest, APendingSegmentAfterLostRecordsIsDroppedAndReported) {
  TestDir dir;
  WriteLog(dir.log(), 400);
  const Lsn base = UnlinkNewest(dir.log());
  const std::string pending = format::PendingSegmentFileName(base);
  // The segment before it lost its last record (its seal never synced it).
  const std::string before = Files(dir.log(), ".qlog").back();
  CutTail(dir.log(), before, 10);
  const uint64_t pending_size = fs::file_size(fs::path(dir.log()) / pending);

  // A reader stops at the torn tail, before the pending segment, without error.
  Status read_status;
  std::vector<std::string> records = ReadAll(dir.log(), &read_status);
  ASSERT_TRUE(read_status.ok()) << read_status.ToString();
  const size_t kept = records.size();
  EXPECT_EQ(kept, base - 2);
  auto checked = CheckLog(dir.log());
  ASSERT_FALSE(checked.ok());
  EXPECT_NE(checked.status().ToString().find("torn tail"), std::string::npos)
      << checked.status().ToString();

  auto log = OpenLogEngine(dir.log(), SmallSegments());
  ASSERT_TRUE(log.ok()) << log.status().ToString();
  EXPECT_EQ((*log)->LastLsn(), kept);
  const RecoveryReport& report = (*log)->Recovery();
  EXPECT_EQ(report.dropped_segments, 1u);
  EXPECT_GE(report.dropped_bytes, pending_size);
  EXPECT_EQ(report.file, pending);
  EXPECT_NE(report.reason.find("unfinished rotation"), std::string::npos) << report.reason;
  EXPECT_FALSE(fs::exists(fs::path(dir.log()) / pending));
  ASSERT_TRUE((*log)->Close().ok());
  auto journal = InspectLog(dir.log());
  ASSERT_TRUE(journal.ok()) << journal.status().ToString();
  EXPECT_NE(journal->last_recovery.find(pending), std::string::npos) << journal->last_recovery;
}

TEST(RotationTest, TwoPendingSegmentsAreRefusedNamingTheSecond) {
  TestDir dir;
  WriteLog(dir.log(), 400);
  const Lsn base = UnlinkNewest(dir.log());
  const std::string second = format::PendingSegmentFileName(base + 1000);
  fs::copy_file(fs::path(dir.log()) / format::PendingSegmentFileName(base),
                fs::path(dir.log()) / second);
  auto log = OpenLogEngine(dir.log(), SmallSegments());
  ASSERT_FALSE(log.ok());
  EXPECT_TRUE(log.status().IsCorruption()) << log.status().ToString();
  EXPECT_NE(log.status().ToString().find(second), std::string::npos) << log.status().ToString();
  Status read_status;
  ReadAll(dir.log(), &read_status);
  EXPECT_TRUE(read_status.IsCorruption()) << read_status.ToString();
}

TEST(RotationTest, APendingSegmentBeforeTheNewestIsRefused) {
  TestDir dir;
  WriteLog(dir.log(), 400);
  const std::string first = format::SegmentFileName(1);
  fs::copy_file(fs::path(dir.log()) / first,
                fs::path(dir.log()) / format::PendingSegmentFileName(1));
  auto log = OpenLogEngine(dir.log(), SmallSegments());
  ASSERT_FALSE(log.ok());
  EXPECT_TRUE(log.status().IsCorruption()) << log.status().ToString();
  EXPECT_NE(log.status().ToString().find("does not follow"), std::string::npos)
      << log.status().ToString();
}

// The seal's fdatasync fails: the log is poisoned (no retry), later writes
// and waits fail, and a reopen keeps every record the OS received.
TEST(RotationTest, AFailedSealPoisonsTheLog) {
  TestDir dir;
  FaultEnv env(Env::Default());
  auto log = OpenLogEngine(dir.log(), SmallSegments(&env));
  ASSERT_TRUE(log.ok()) << log.status().ToString();
  env.FailSyncs(1000);
  Status failed;
  Lsn appended = 0;
  for (Lsn i = 1; i <= 2000 && failed.ok(); ++i) {
    auto lsn = (*log)->Append(Payload(i));
    if (lsn.ok()) {
      appended = *lsn;
    } else {
      failed = lsn.status();
    }
  }
  if (failed.ok()) failed = (*log)->Sync();
  ASSERT_FALSE(failed.ok());
  EXPECT_TRUE(failed.IsIOError()) << failed.ToString();
  EXPECT_NE(failed.ToString().find("poisoned"), std::string::npos) << failed.ToString();
  EXPECT_FALSE((*log)->Append("after").ok());
  EXPECT_FALSE((*log)->Sync().ok());
  EXPECT_EQ((*log)->DurableLsn(), 0u);
  EXPECT_FALSE((*log)->Close().ok());
  log->reset();

  env.FailSyncs(0);
  auto reopened = OpenLogEngine(dir.log(), SmallSegments(&env));
  ASSERT_TRUE(reopened.ok()) << reopened.status().ToString();
  // What reached the OS is kept (the seal never ran, the files are whole);
  // what was still buffered when the log was poisoned never was written.
  EXPECT_LE((*reopened)->LastLsn(), appended);
  EXPECT_GT((*reopened)->LastLsn(), 0u);
  ASSERT_TRUE((*reopened)->Close().ok());
}

// Holds the sealer inside its fdatasync of the first segment until the test
// lets it go; every other call goes straight to `target`.
class SealGateEnv final : public drill::ForwardingEnv {
 public:
  using ForwardingEnv::ForwardingEnv;

  // From now on, a sync of the first segment waits at the gate.
  void Arm() {
    std::lock_guard<std::mutex> lock(mu_);
    armed_ = true;
  }
  // Waits (bounded) until the sealer is held at the gate.
  bool AwaitSealer() {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, std::chrono::seconds(10), [&] { return held_; });
  }
  void Release() {
    std::lock_guard<std::mutex> lock(mu_);
    released_ = true;
    cv_.notify_all();
  }

  void BeforeFileSync(const std::string& path) override {
    if (!path.ends_with("/" + format::SegmentFileName(1))) return;
    std::unique_lock<std::mutex> lock(mu_);
    if (!armed_) return;
    held_ = true;
    cv_.notify_all();
    cv_.wait(lock, [&] { return released_; });
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool armed_ = false;
  bool held_ = false;
  bool released_ = false;
};

// The seal syncs only the segment it seals. While it runs, the sync leaders
// sync the new segment; if one of those fails, nothing may sync that file
// again (a retried fdatasync can report success for pages the kernel already
// dropped). A sealer that also synced the new segment's header did exactly
// that, found by the power-loss drill under ASan.
// A log whose first seal waits at the gate, about to sync segment 1, while
// a sync leader's sync of the new segment fails.
struct SealHeldAtAFailedSync {
  TestDir dir;
  FaultEnv fault{Env::Default()};
  SealGateEnv gate{&fault};
  std::unique_ptr<Log> log;

  void Run() {
    // OsManaged: nothing syncs the first segment but the seal.
    auto opened = OpenLogEngine(dir.log(), SmallSegments(&gate));
    ASSERT_TRUE(opened.ok()) << opened.status().ToString();
    log = std::move(*opened);
    gate.Arm();  // after Open, which synced the first segment's header
    for (Lsn i = 1; log->Stats().rotations == 0; ++i) {
      ASSERT_LT(i, 1000u);
      ASSERT_TRUE(log->Append(Payload(i)).ok());
    }
    ASSERT_TRUE(gate.AwaitSealer()) << "the seal never synced the first segment";
    fault.FailSyncs(1);
    const Status failed = log->Sync();
    EXPECT_TRUE(failed.IsIOError()) << failed.ToString();
  }
};

TEST(RotationTest, AFailedSyncOfTheNewSegmentIsNeverFollowedByTheSealsSync) {
  SealHeldAtAFailedSync t;
  ASSERT_NO_FATAL_FAILURE(t.Run());
  t.gate.Release();
  EXPECT_FALSE(t.log->Close().ok());
  EXPECT_EQ(t.fault.RetriedFailedSyncs(), 0u);
}

TEST(RotationTest, TheWatermarkStaysWhereAFailedSyncFoundItWhileASealFinishes) {
  SealHeldAtAFailedSync t;
  ASSERT_NO_FATAL_FAILURE(t.Run());
  const Lsn at_failure = t.log->DurableLsn();
  // The seal's sync of the first segment now succeeds: its records are on
  // disk, but the log is poisoned and says no more than it did.
  t.gate.Release();
  EXPECT_FALSE(t.log->Close().ok());  // waits for the seal
  EXPECT_EQ(t.log->DurableLsn(), at_failure);
}

// Under every policy that waits for durability, a record in the segment
// after a rotation is acknowledged only once that segment is linked in.
TEST(RotationTest, ADurableRecordIsNeverInAPendingSegment) {
  for (DurabilityPolicy policy :
       {DurabilityPolicy::Always(), DurabilityPolicy::GroupCommit(), DurabilityPolicy::EveryN(4)}) {
    SCOPED_TRACE(policy.ToString());
    TestDir dir;
    LogOptions options = SmallSegments();
    options.durability = policy;
    auto log = OpenLogEngine(dir.log(), options);
    ASSERT_TRUE(log.ok()) << log.status().ToString();
    for (Lsn i = 1; i <= 300; ++i) {
      ASSERT_TRUE((*log)->Append(Payload(i), Durability::kImmediate).ok());
      // Durable now, so it is in a segment under its final name.
      for (const std::string& name : Files(dir.log(), format::kPendingSuffix)) {
        Lsn base = 0;
        ASSERT_TRUE(format::ParsePendingSegmentFileName(name, &base));
        ASSERT_GT(base, i) << "record " << i << " was acknowledged inside " << name;
      }
    }
    EXPECT_GE((*log)->Stats().rotations, 3u);
    ASSERT_TRUE((*log)->Close().ok());
  }
}

// Writers under group commit and a live reader, across many rotations (and
// so many seals beside the appends): every record is read once, in LSN
// order, and everything is durable when the writers are done.
TEST(RotationTest, ConcurrentWritersAndAReaderAcrossRotations) {
  TestDir dir;
  LogOptions options = SmallSegments();
  options.durability = DurabilityPolicy::GroupCommit();
  auto opened = OpenLogEngine(dir.log(), options);
  ASSERT_TRUE(opened.ok()) << opened.status().ToString();
  Log* log = opened->get();
  constexpr int kWriters = 4;
  constexpr int kPerWriter = 150;
  std::atomic<bool> writers_done{false};
  std::vector<std::thread> writers;
  for (int w = 0; w < kWriters; ++w) {
    writers.emplace_back([log, w] {
      for (int i = 0; i < kPerWriter; ++i) {
        auto lsn =
            log->Append("w" + std::to_string(w) + "-" + std::to_string(i) + std::string(100, 'x'));
        ASSERT_TRUE(lsn.ok()) << lsn.status().ToString();
        ASSERT_GE(log->DurableLsn(), *lsn);
      }
    });
  }
  Lsn seen = 0;
  std::thread reader([&] {
    auto r = log->NewReader(1);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    while (seen < static_cast<Lsn>(kWriters * kPerWriter)) {
      auto more = (*r)->Next();
      ASSERT_TRUE(more.ok()) << more.status().ToString();
      if (!*more) {
        if (writers_done.load() && seen == log->LastLsn()) break;
        std::this_thread::yield();
        continue;
      }
      ASSERT_EQ((*r)->lsn(), seen + 1);
      seen = (*r)->lsn();
    }
  });
  for (std::thread& t : writers) t.join();
  writers_done.store(true);
  reader.join();
  EXPECT_EQ(seen, static_cast<Lsn>(kWriters * kPerWriter));
  EXPECT_EQ(log->DurableLsn(), log->LastLsn());
  EXPECT_GE(log->Stats().rotations, 5u);
  ASSERT_TRUE(log->Close().ok());
}

}  // namespace
}  // namespace quipu
