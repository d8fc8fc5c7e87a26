// Log::Open: every log keeps its tree. The spine follows the durable
// watermark while the log is open, covers every record after Close, a
// failure of the tree poisons the log, a full disk only pauses it, and a bad
// key fails before anything is created.
#include <atomic>
#include <chrono>
#include <filesystem>
#include <thread>
#include <vector>

#include "integrity/spine.h"
#include "log/format.h"
#include "quipu/inspect.h"
#include "tree_fixture.h"

namespace quipu {
namespace {

using namespace std::chrono_literals;

class TreeKeepingLogTest : public testing::TreeFixture {
 protected:
  std::unique_ptr<Log> OpenKept(DurabilityPolicy policy, TreeOptions tree = {}) {
    LogOptions options = Options(policy);
    tree.poll_interval = 1ms;
    options.tree = tree;
    auto log = Log::Open(dir_.log(), options);
    EXPECT_TRUE(log.ok()) << log.status().ToString();
    return log.ok() ? std::move(*log) : nullptr;
  }

  void AppendTo(Log* log, int count) {
    for (int i = 0; i < count; ++i) {
      const std::string payload = "record-" + std::to_string(payloads_.size());
      auto lsn = log->Append(payload);
      ASSERT_TRUE(lsn.ok()) << lsn.status().ToString();
      payloads_.push_back(payload);
    }
  }

  // Waits up to 10 s for `done`.
  template <typename Pred>
  bool Eventually(Pred done) {
    for (auto deadline = std::chrono::steady_clock::now() + 10s;
         std::chrono::steady_clock::now() < deadline; std::this_thread::sleep_for(1ms)) {
      if (done()) return true;
    }
    return done();
  }
};

TEST_F(TreeKeepingLogTest, EveryLogHasATreeCoveringAllRecordsAfterClose) {
  auto log = OpenKept(DurabilityPolicy::OsManaged());
  ASSERT_NE(log, nullptr);
  ASSERT_NE(log->tree(), nullptr);
  AppendTo(log.get(), 300);  // several segments
  auto root = log->tree()->Root();
  ASSERT_TRUE(root.ok()) << root.status().ToString();
  EXPECT_EQ(*root, Memory(300).Root());
  ASSERT_TRUE(log->Close().ok());
  EXPECT_EQ(log->tree()->Root().status().code(), Status::Code::kFailedPrecondition);

  auto report = VerifyIntegrity(dir_.log(), VerifyOpts());
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_EQ(report->records, 300u);
  EXPECT_EQ(report->covered, 300u);
  EXPECT_EQ(report->spine_synced, 300u);
}

TEST_F(TreeKeepingLogTest, SpineFollowsTheDurableWatermarkWhileOpen) {
  TreeOptions tree;
  tree.spine_sync_interval = 5ms;
  auto log = OpenKept(DurabilityPolicy::Always(), tree);
  ASSERT_NE(log, nullptr);
  AppendTo(log.get(), 40);  // one segment: no seal syncs the spine
  ASSERT_EQ(log->DurableLsn(), 40u);
  EXPECT_TRUE(Eventually([&] { return log->tree()->Stats().synced_size == 40; }))
      << "synced " << log->tree()->Stats().synced_size;
  // What a crash now would leave: the spine on disk vouches for all 40.
  auto report = VerifyIntegrity(dir_.log(), VerifyOpts());
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_EQ(report->spine_synced, 40u);
  EXPECT_EQ(report->covered, 40u);
  ASSERT_TRUE(log->Close().ok());
}

TEST_F(TreeKeepingLogTest, SpineNeverVouchesForRecordsThatAreNotDurable) {
  TreeOptions tree;
  tree.spine_sync_interval = 0ms;
  auto log = OpenKept(DurabilityPolicy::OsManaged(), tree);
  ASSERT_NE(log, nullptr);
  AppendTo(log.get(), 30);
  ASSERT_TRUE(log->Flush().ok());
  ASSERT_TRUE(log->tree()->CatchUp().ok());
  std::this_thread::sleep_for(20ms);
  EXPECT_EQ(log->tree()->Stats().synced_size, 0u);  // nothing durable yet
  ASSERT_TRUE(log->Sync().ok());
  EXPECT_TRUE(Eventually([&] { return log->tree()->Stats().synced_size == 30; }));
  ASSERT_TRUE(log->Close().ok());
}

TEST_F(TreeKeepingLogTest, FailedSpineSyncPoisonsTheLog) {
  TreeOptions tree;
  tree.spine_sync_interval = 0ms;
  auto log = OpenKept(DurabilityPolicy::OsManaged(), tree);
  ASSERT_NE(log, nullptr);
  AppendTo(log.get(), 10);
  ASSERT_TRUE(log->Sync().ok());  // the log's own sync, before the fault
  env_.FailSyncs(1);              // OsManaged never syncs again: the spine's sync takes it
  ASSERT_TRUE(Eventually([&] { return !log->Append("probe").ok(); }));
  Result<Lsn> after = log->Append("after");
  ASSERT_FALSE(after.ok());
  EXPECT_NE(after.status().message().find("spine sync failed"), std::string::npos)
      << after.status().ToString();
  EXPECT_FALSE(log->Sync().ok());
  EXPECT_FALSE(log->WaitDurable(1).ok());
  EXPECT_FALSE(log->Close().ok());
}

TEST_F(TreeKeepingLogTest, FullDiskPausesTheTreeWithoutPoisoningTheLog) {
  TreeOptions tree;
  tree.spine_sync_interval = 0ms;
  auto log = OpenKept(DurabilityPolicy::Always(), tree);
  ASSERT_NE(log, nullptr);
  AppendTo(log.get(), 20);
  // Whichever writes come next: segment, spine nodes or the spine's header.
  env_.FailWritesWithNoSpace(6);
  int written = 0;
  for (int attempt = 0; written < 200 && attempt < 10000; ++attempt) {
    const std::string payload = "record-" + std::to_string(payloads_.size());
    Result<Lsn> lsn = log->Append(payload);
    if (lsn.ok()) {
      payloads_.push_back(payload);
      ++written;
      continue;
    }
    ASSERT_TRUE(lsn.status().IsNoSpace()) << lsn.status().ToString();
    std::this_thread::sleep_for(1ms);
  }
  ASSERT_EQ(written, 200);
  ASSERT_TRUE(log->Close().ok());
  auto report = VerifyIntegrity(dir_.log(), VerifyOpts());
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_EQ(report->covered, 220u);
  EXPECT_EQ(report->root, Memory(220).Root());
}

// Group commit from several threads while proofs are asked for and the
// spine follows the watermark every millisecond: what TSan watches.
TEST_F(TreeKeepingLogTest, ConcurrentWritersProofsAndSpineSyncs) {
  TreeOptions tree;
  tree.spine_sync_interval = 1ms;
  auto log = OpenKept(DurabilityPolicy::GroupCommit(), tree);
  ASSERT_NE(log, nullptr);
  constexpr int kWriters = 4, kEach = 150;
  std::atomic<bool> writing{true};
  std::vector<std::thread> writers;
  for (int w = 0; w < kWriters; ++w) {
    writers.emplace_back([&, w] {
      for (int i = 0; i < kEach; ++i) {
        EXPECT_TRUE(log->Append("w" + std::to_string(w) + "-" + std::to_string(i)).ok());
      }
    });
  }
  std::thread prover([&] {
    while (writing.load()) {
      const Lsn durable = log->DurableLsn();
      if (durable == 0) continue;
      auto proof = log->tree()->ProveInclusion(durable, durable);
      ASSERT_TRUE(proof.ok()) << proof.status().ToString();
      EXPECT_TRUE(merkle::VerifyInclusion(proof->leaf_hash, proof->leaf_index, proof->tree_size,
                                          proof->path, proof->root)
                      .ok());
      (void)log->tree()->Stats();
    }
  });
  for (std::thread& t : writers) t.join();
  writing = false;
  prover.join();
  ASSERT_TRUE(log->Close().ok());
  auto report = VerifyIntegrity(dir_.log(), VerifyOpts());
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_EQ(report->covered, static_cast<uint64_t>(kWriters * kEach));
}

TEST_F(TreeKeepingLogTest, BadKeyFailsBeforeAnythingIsCreated) {
  LogOptions options = Options();
  options.tree.signing_key_path = dir_.path() + "/no-such-key.pem";
  auto log = Log::Open(dir_.log(), options);
  ASSERT_FALSE(log.ok());
  EXPECT_FALSE(std::filesystem::exists(dir_.log()));
}

TEST_F(TreeKeepingLogTest, KeylessEditWithFixedCrcIsCaught) {
  {
    auto log = OpenKept(DurabilityPolicy::Always());
    ASSERT_NE(log, nullptr);
    AppendTo(log.get(), 20);
    ASSERT_TRUE(log->Close().ok());
  }
  // Rewrite record 12 with the same length and a valid CRC, as the format
  // spec lets anyone do.
  auto reader = OpenLogReader(dir_.log(), 12, &env_);
  ASSERT_TRUE(reader.ok());
  ASSERT_TRUE(*(*reader)->Next());
  const std::string path = dir_.log() + "/" + (*reader)->segment();
  const uint64_t offset = (*reader)->offset();
  std::string forged = std::string((*reader)->payload());
  forged[0] ^= 0x20;
  Lsn base = 0;
  ASSERT_TRUE(format::ParseSegmentFileName((*reader)->segment(), &base));
  std::string frame;
  format::AppendFrame(&frame, format::FrameCrc(static_cast<uint32_t>(forged.size()), forged, base),
                      forged);
  auto file = env_.ReopenWritableFile(path);
  ASSERT_TRUE(file.ok());
  ASSERT_TRUE((*file)->WriteAt(offset, frame).ok());
  ASSERT_TRUE((*file)->Close().ok());
  ASSERT_TRUE(CheckLog(dir_.log(), &env_).ok());  // the CRCs are fine

  auto report = VerifyIntegrity(dir_.log(), VerifyOpts());
  ASSERT_FALSE(report.ok());
  EXPECT_NE(report.status().message().find("LSN 12 ("), std::string::npos)
      << report.status().ToString();
}

TEST_F(TreeKeepingLogTest, LogWithoutSpineIsNotCalledIntact) {
  {
    auto log = OpenKept(DurabilityPolicy::Always());
    ASSERT_NE(log, nullptr);
    AppendTo(log.get(), 5);
    ASSERT_TRUE(log->Close().ok());
  }
  std::filesystem::remove(spine::SpinePath(dir_.log()));
  auto report = VerifyIntegrity(dir_.log(), VerifyOpts());
  ASSERT_FALSE(report.ok());
  EXPECT_NE(report.status().message().find("SPINE is missing"), std::string::npos)
      << report.status().ToString();
}

}  // namespace
}  // namespace quipu
