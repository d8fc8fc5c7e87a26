// A syncing log writes zeros ahead of its records (io/zero_ahead_file.h):
// they never show up as records or as damage, a seal and a close cut them
// off, and a power cut leaves a log that opens with every acknowledged
// record and nothing to report.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "io/fault_env.h"
#include "log/engine.h"
#include "log/format.h"
#include "quipu/log.h"
#include "quipu/reader.h"
#include "read_log.h"
#include "test_dir.h"

namespace quipu {
namespace {

namespace fs = std::filesystem;
using testing::TestDir;

class ZerosAheadTest : public ::testing::Test {
 protected:
  LogOptions Options(DurabilityPolicy policy, Env* env = Env::Default()) {
    LogOptions options;
    options.env = env;
    options.durability = policy;
    options.segment_size = 1 << 20;
    options.max_record_size = 4096;
    return options;
  }

  std::unique_ptr<Log> Open(DurabilityPolicy policy, Env* env = Env::Default()) {
    auto log = OpenLogEngine(dir_.log(), Options(policy, env));
    EXPECT_TRUE(log.ok()) << log.status().ToString();
    return log.ok() ? std::move(*log) : nullptr;
  }

  std::vector<std::string> ReadAll() { return testing::ReadPayloads(dir_.log()); }

  // Segment files in LSN order with their sizes.
  std::vector<std::pair<std::string, uint64_t>> Segments() {
    std::vector<std::pair<std::string, uint64_t>> out;
    for (const auto& entry : fs::directory_iterator(dir_.log())) {
      const std::string name = entry.path().filename();
      if (name.ends_with(".qlog")) out.emplace_back(name, fs::file_size(entry.path()));
    }
    std::sort(out.begin(), out.end());
    return out;
  }

  std::string Bytes(const std::string& name) {
    std::ifstream in(dir_.log() + "/" + name, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
  }

  TestDir dir_;
};

std::string Record(int i) { return "record-" + std::to_string(i) + std::string(100, 'p'); }

TEST_F(ZerosAheadTest, ASyncingLogKeepsZerosAheadAndCloseCutsThem) {
  auto log = Open(DurabilityPolicy::GroupCommit());
  for (int i = 0; i < 20; ++i) ASSERT_TRUE(log->Append(Record(i)).ok());
  const auto open = Segments();
  ASSERT_EQ(open.size(), 1u);
  const std::string bytes = Bytes(open[0].first);
  EXPECT_GE(bytes.size(), 256u << 10) << "zeros written ahead of the records";
  EXPECT_EQ(bytes.substr(bytes.size() - 4096), std::string(4096, '\0'));
  EXPECT_EQ(ReadAll().size(), 20u) << "a reader of the directory stops at the zeros";

  ASSERT_TRUE(log->Close().ok());
  const auto closed = Segments();
  EXPECT_LT(closed[0].second, 20u * 200) << "the zeros are gone after Close";
  auto again = Open(DurabilityPolicy::GroupCommit());
  ASSERT_NE(again, nullptr);
  EXPECT_EQ(again->Recovery().dropped_bytes, 0u);
  EXPECT_TRUE(again->Recovery().file.empty());
  EXPECT_EQ(again->LastLsn(), 20u);
}

TEST_F(ZerosAheadTest, OsManagedWritesNoZeros) {
  auto log = Open(DurabilityPolicy::OsManaged());
  for (int i = 0; i < 20; ++i) ASSERT_TRUE(log->Append(Record(i)).ok());
  ASSERT_TRUE(log->Flush().ok());
  const std::string bytes = Bytes(Segments()[0].first);
  EXPECT_LT(bytes.size(), 20u * 200);
  EXPECT_NE(bytes.back(), '\0');
}

TEST_F(ZerosAheadTest, SealedSegmentsEndWithTheirLastFrame) {
  auto log = Open(DurabilityPolicy::Always());
  const std::string big(4000, 'b');
  for (int i = 0; i < 800; ++i) ASSERT_TRUE(log->Append(big).ok());  // ~3 segments
  ASSERT_TRUE(log->Sync().ok());                                     // waits for the seals too
  const auto segments = Segments();
  ASSERT_GE(segments.size(), 3u);
  for (size_t i = 0; i + 1 < segments.size(); ++i) {
    SCOPED_TRACE(segments[i].first);
    const std::string bytes = Bytes(segments[i].first);
    EXPECT_LE(bytes.size(), 1u << 20);
    EXPECT_NE(bytes.back(), '\0') << "the seal cut the zeros off";
  }
  ASSERT_TRUE(log->Close().ok());
  EXPECT_EQ(ReadAll().size(), 800u);
}

TEST_F(ZerosAheadTest, ZerosAfterASealedSegmentsLastFrameAreCorruption) {
  {
    auto log = Open(DurabilityPolicy::Always());
    const std::string big(4000, 'b');
    for (int i = 0; i < 300; ++i) ASSERT_TRUE(log->Append(big).ok());
    ASSERT_TRUE(log->Close().ok());
  }
  const auto segments = Segments();
  ASSERT_GE(segments.size(), 2u);
  {
    std::ofstream out(dir_.log() + "/" + segments[0].first, std::ios::binary | std::ios::app);
    out << std::string(5000, '\0');
  }
  auto reopened = OpenLogEngine(dir_.log(), Options(DurabilityPolicy::Always()));
  ASSERT_FALSE(reopened.ok());
  EXPECT_TRUE(reopened.status().IsCorruption()) << reopened.status().ToString();
  EXPECT_NE(reopened.status().ToString().find(segments[0].first + " at offset " +
                                              std::to_string(segments[0].second)),
            std::string::npos)
      << reopened.status().ToString();
}

TEST_F(ZerosAheadTest, GarbageBeforeTheZerosIsATornTailAndReported) {
  {
    auto log = Open(DurabilityPolicy::GroupCommit());
    for (int i = 0; i < 10; ++i) ASSERT_TRUE(log->Append(Record(i)).ok());
    ASSERT_TRUE(log->Close().ok());
  }
  const auto segments = Segments();
  const uint64_t end = segments[0].second;
  {
    // Half a frame, then zeros: a write torn by a power cut.
    std::ofstream out(dir_.log() + "/" + segments[0].first, std::ios::binary | std::ios::app);
    out << std::string("\x11\x22\x33\x44\x40\x00\x00\x00garbage", 15) << std::string(9000, '\0');
  }
  auto log = Open(DurabilityPolicy::GroupCommit());
  ASSERT_NE(log, nullptr);
  EXPECT_EQ(log->LastLsn(), 10u);
  EXPECT_EQ(log->Recovery().offset, end);
  EXPECT_EQ(log->Recovery().dropped_bytes, 15u + 9000);
}

TEST_F(ZerosAheadTest, APowerCutWithEverythingSyncedReportsNothing) {
  FaultEnv env(Env::Default());
  auto log = Open(DurabilityPolicy::GroupCommit(), &env);
  for (int i = 0; i < 30; ++i) ASSERT_TRUE(log->Append(Record(i)).ok());
  env.Crash();
  log.reset();
  ASSERT_TRUE(env.PowerLoss().ok());
  const std::string before = Bytes(Segments()[0].first);
  ASSERT_EQ(before.back(), '\0') << "the zeros are still there";
  auto reopened = Open(DurabilityPolicy::GroupCommit(), &env);
  ASSERT_NE(reopened, nullptr);
  EXPECT_EQ(reopened->LastLsn(), 30u);
  EXPECT_TRUE(reopened->Recovery().file.empty()) << reopened->Recovery().reason;
  EXPECT_EQ(reopened->Recovery().dropped_bytes, 0u);
}

// Power cuts at random moments of a group-committing log whose disk writes
// pages back in any order: every acknowledged record survives, the log
// opens, and zeros left behind are never reported as a cut.
TEST_F(ZerosAheadTest, PowerCutsKeepEveryAcknowledgedRecord) {
  const uint64_t seed =
      std::getenv("QUIPU_SEED") ? std::stoull(std::getenv("QUIPU_SEED")) : 20261204;
  std::printf("seed %llu (QUIPU_SEED)\n", static_cast<unsigned long long>(seed));
  FaultEnv env(Env::Default());
  std::vector<std::string> acknowledged;
  for (int round = 0; round < 12; ++round) {
    SCOPED_TRACE("round " + std::to_string(round));
    auto log = Open(DurabilityPolicy::GroupCommit(), &env);
    ASSERT_NE(log, nullptr);
    ASSERT_EQ(log->LastLsn(), acknowledged.size()) << "nothing acknowledged is lost, nothing added";
    for (int i = 0; i < 40 + round * 7; ++i) {
      const std::string r = Record(round * 1000 + i) + std::string((seed + i * 131) % 2000, 'z');
      ASSERT_TRUE(log->Append(r).ok());
      acknowledged.push_back(r);
    }
    // Records appended without waiting: a cut may keep or lose them.
    for (int i = 0; i < 5; ++i) ASSERT_TRUE(log->Append("maybe", Durability::kBuffered).ok());
    ASSERT_TRUE(log->Flush().ok());
    env.Crash();
    log.reset();
    PowerLossOptions loss;
    loss.keep_random_pages = true;
    loss.seed = seed + round;
    ASSERT_TRUE(env.PowerLoss(loss).ok());
    auto reopened = Open(DurabilityPolicy::GroupCommit(), &env);
    ASSERT_NE(reopened, nullptr);
    ASSERT_GE(reopened->LastLsn(), acknowledged.size());
    // Keep the log to what was acknowledged: what survived of the buffered
    // records stays, but the next round's count starts from it.
    while (acknowledged.size() < reopened->LastLsn()) acknowledged.push_back("maybe");
    ASSERT_TRUE(reopened->Close().ok());
  }
  const auto records = ReadAll();
  ASSERT_EQ(records.size(), acknowledged.size());
  for (size_t i = 0; i < records.size(); ++i) ASSERT_EQ(records[i], acknowledged[i]) << i;
}

}  // namespace
}  // namespace quipu
