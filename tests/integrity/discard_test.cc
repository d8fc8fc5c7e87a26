// LogOptions::discard_after: Open cuts every record after an LSN (a
// replica's tail its group never committed), from the segments and from the
// tree, even where the spine had synced them; refuses below a signed
// checkpoint; and a power cut at any step of the cut leaves a log that opens,
// and that the next Open with the same LSN finishes cutting.
#include <filesystem>
#include <string>
#include <vector>

#include "read_log.h"
#include "step_env.h"
#include "tree_fixture.h"

namespace quipu {
namespace {

namespace fs = std::filesystem;

class DiscardTest : public testing::TreeFixture {
 protected:
  Result<std::unique_ptr<Log>> OpenFull(std::optional<Lsn> discard_after, Env* env = nullptr) {
    LogOptions options = Options();
    if (env != nullptr) options.env = env;
    options.tree = TreeOpts();
    options.tree.signing_key_path = key_path_;
    options.discard_after = discard_after;
    return Log::Open(dir_.log(), options);
  }

  // A closed log of `count` records whose tree synced over all of them.
  void Fill(int count, Env* env = nullptr) {
    auto log = OpenFull(std::nullopt, env);
    ASSERT_TRUE(log.ok()) << log.status().ToString();
    for (int i = 0; i < count; ++i) {
      const std::string payload =
          "record-" + std::to_string(payloads_.size()) + std::string(40, 'x');
      ASSERT_TRUE((*log)->Append(payload).ok());
      payloads_.push_back(payload);
    }
    ASSERT_TRUE((*log)->tree()->CatchUp().ok());
    ASSERT_TRUE((*log)->Close().ok());
  }

  std::vector<std::string> ReadAll() {
    std::vector<std::string> out;
    auto reader = OpenLogReader(dir_.log(), 1, &env_);
    EXPECT_TRUE(reader.ok()) << reader.status().ToString();
    if (!reader.ok()) return out;
    testing::ForEachRecord(**reader,
                           [&](Lsn, std::string_view payload) { out.emplace_back(payload); });
    return out;
  }

  std::vector<std::string> First(size_t n) const {
    return std::vector<std::string>(payloads_.begin(), payloads_.begin() + static_cast<long>(n));
  }

  size_t SegmentCount() {
    size_t n = 0;
    for (const auto& entry : fs::directory_iterator(dir_.log())) {
      if (entry.path().extension() == ".qlog") ++n;
    }
    return n;
  }

  // Opens with discard_after = keep and checks the log and tree end there.
  void DiscardAndCheck(Lsn keep) {
    const uint64_t before = payloads_.size();
    auto log = OpenFull(keep);
    ASSERT_TRUE(log.ok()) << log.status().ToString();
    EXPECT_EQ((*log)->LastLsn(), keep);
    EXPECT_EQ((*log)->Recovery().discarded_records, before - keep);
    EXPECT_NE((*log)->Recovery().reason.find("discard_after"), std::string::npos);
    ASSERT_TRUE((*log)->tree()->CatchUp().ok());
    EXPECT_EQ((*log)->tree()->Size(), keep);
    if (keep > 0) {
      auto root = (*log)->tree()->Root();
      ASSERT_TRUE(root.ok()) << root.status().ToString();
      EXPECT_EQ(*root, Memory(keep).Root());
    }
    // New records take the freed LSNs and the tree follows them.
    payloads_.resize(keep);
    const std::string payload = "after-the-cut";
    auto lsn = (*log)->Append(payload);
    ASSERT_TRUE(lsn.ok()) << lsn.status().ToString();
    EXPECT_EQ(*lsn, keep + 1);
    payloads_.push_back(payload);
    ASSERT_TRUE((*log)->Close().ok());
    EXPECT_EQ(ReadAll(), payloads_);
    // Reopened without the option, it is an ordinary log.
    auto again = OpenFull(std::nullopt);
    ASSERT_TRUE(again.ok()) << again.status().ToString();
    ASSERT_TRUE((*again)->tree()->CatchUp().ok());
    EXPECT_EQ(*(*again)->tree()->Root(), Memory(keep + 1).Root());
    ASSERT_TRUE((*again)->Close().ok());
    auto report = VerifyIntegrity(dir_.log(), VerifyOpts());
    EXPECT_TRUE(report.ok()) << report.status().ToString();
  }

  std::optional<std::string> key_path_;
};

TEST_F(DiscardTest, CutsTheTailAcrossSegmentsAndTheTreeFollows) {
  Fill(150);
  const size_t segments = SegmentCount();
  ASSERT_GE(segments, 3u);
  DiscardAndCheck(70);
  EXPECT_LT(SegmentCount(), segments);
}

TEST_F(DiscardTest, CutsEverythingOrNothing) {
  Fill(40);
  DiscardAndCheck(0);
  // An LSN at or past the end changes nothing and reports nothing.
  auto log = OpenFull(payloads_.size() + 10);
  ASSERT_TRUE(log.ok()) << log.status().ToString();
  EXPECT_EQ((*log)->LastLsn(), payloads_.size());
  EXPECT_EQ((*log)->Recovery().discarded_records, 0u);
  EXPECT_EQ((*log)->Recovery().dropped_bytes, 0u);
  ASSERT_TRUE((*log)->Close().ok());
}

TEST_F(DiscardTest, CutsAtTheEndOfASealedSegment) {
  Fill(150);
  // The last record of the first segment: the next segment's base − 1.
  std::vector<Lsn> bases;
  for (const auto& entry : fs::directory_iterator(dir_.log())) {
    Lsn base = 0;
    if (entry.path().extension() == ".qlog") {
      base = std::stoull(entry.path().stem().string());
      bases.push_back(base);
    }
  }
  std::sort(bases.begin(), bases.end());
  ASSERT_GE(bases.size(), 2u);
  DiscardAndCheck(bases[1] - 1);
}

TEST_F(DiscardTest, RecordsASignedCheckpointCoversAreNeverDiscarded) {
  key_path_ = dir_.path() + "/signing.pem";
  ASSERT_TRUE(GenerateKeyPair(*key_path_).ok());
  Fill(30);
  {
    auto log = OpenFull(std::nullopt);
    ASSERT_TRUE(log.ok()) << log.status().ToString();
    auto cp = (*log)->tree()->WriteCheckpoint();
    ASSERT_TRUE(cp.ok()) << cp.status().ToString();
    ASSERT_EQ(cp->tree_size, 30u);
    ASSERT_TRUE((*log)->Close().ok());
  }
  auto refused = OpenFull(20);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), Status::Code::kFailedPrecondition);
  EXPECT_NE(refused.status().ToString().find("checkpoint vouches for 30"), std::string::npos)
      << refused.status().ToString();
  EXPECT_EQ(ReadAll(), payloads_);  // nothing was cut
  auto fine = OpenFull(30);
  ASSERT_TRUE(fine.ok()) << fine.status().ToString();
  EXPECT_EQ((*fine)->LastLsn(), 30u);
  ASSERT_TRUE((*fine)->Close().ok());
}

TEST_F(DiscardTest, APowerCutAtAnyStepLeavesALogThatOpensAndTheCutIsFinishedLater) {
  const Lsn keep = 55;
  int steps = 0;
  for (int crash_at = 0; crash_at < 40; ++crash_at) {
    SCOPED_TRACE("crash before step " + std::to_string(crash_at));
    fs::remove_all(dir_.log());
    payloads_.clear();
    FaultEnv disk(Env::Default());
    Fill(150, &disk);
    testing::StepEnv stepper(&disk, /*file_syncs=*/true);
    stepper.CrashBeforeStep(crash_at);
    bool cut = false;
    {
      auto log = OpenFull(keep, &stepper);
      cut = log.ok();
      steps = stepper.steps_taken();
      if (cut) disk.Crash();  // past the last step: cut the power after it
    }
    ASSERT_TRUE(disk.PowerLoss().ok());
    disk.Revive();
    // Without the option, the log opens: whole, cut, or part way.
    {
      auto log = OpenFull(std::nullopt, &disk);
      ASSERT_TRUE(log.ok()) << log.status().ToString();
      EXPECT_GE((*log)->LastLsn(), keep);
      if (cut) EXPECT_EQ((*log)->LastLsn(), keep);
      ASSERT_TRUE((*log)->Close().ok());
    }
    // With it, the cut completes.
    {
      auto log = OpenFull(keep, &disk);
      ASSERT_TRUE(log.ok()) << log.status().ToString();
      EXPECT_EQ((*log)->LastLsn(), keep);
      ASSERT_TRUE((*log)->tree()->CatchUp().ok());
      EXPECT_EQ(*(*log)->tree()->Root(), Memory(keep).Root());
      ASSERT_TRUE((*log)->Close().ok());
    }
    VerifyOptions verify = VerifyOpts();
    verify.env = &disk;
    auto report = VerifyIntegrity(dir_.log(), verify);
    EXPECT_TRUE(report.ok()) << report.status().ToString();
    if (cut) break;
  }
  EXPECT_GE(steps, 4) << "spine claim, segment removals, directory sync, truncation";
}

}  // namespace
}  // namespace quipu
