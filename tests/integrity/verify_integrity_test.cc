// VerifyIntegrity finds the first break between a log, its spine and its
// checkpoints; checkpoints written on seal and on demand; the anchor hook.
#include <filesystem>
#include <fstream>

#include "integrity/spine.h"
#include "tree_fixture.h"

namespace quipu {
namespace {

class VerifyIntegrityTest : public testing::TreeFixture {
 protected:
  // A log of `n` records with a tree and (with a key) checkpoints, closed.
  void Build(int n, bool sign) {
    OpenLog();
    TreeOptions options = TreeOpts();
    if (sign) {
      auto key = SigningKey::Generate();
      ASSERT_TRUE(key.ok());
      key_ = *key;
      options.signing_key = key_;
      public_key_ = dir_.path() + "/key.pub";
      std::ofstream(public_key_) << *key_->Public().ToPem();
    }
    ASSERT_TRUE(OpenTree(options).ok());
    Append(n);
    ASSERT_TRUE(tree_->CatchUp().ok());
    if (sign) {
      ASSERT_TRUE(tree_->WriteCheckpoint().ok());
    }
    CloseAll();
  }

  Result<VerifyReport> Verify() {
    VerifyOptions options = VerifyOpts();
    if (!public_key_.empty()) options.public_key_path = public_key_;
    return VerifyIntegrity(dir_.log(), options);
  }

  std::vector<std::string> Segments() {
    std::vector<std::string> out;
    for (const auto& entry : std::filesystem::directory_iterator(dir_.log())) {
      if (entry.path().extension() == ".qlog") out.push_back(entry.path().filename());
    }
    std::sort(out.begin(), out.end());
    return out;
  }

  void ExpectBreak(const std::string& needle) {
    auto report = Verify();
    ASSERT_FALSE(report.ok());
    EXPECT_TRUE(report.status().IsCorruption()) << report.status().ToString();
    EXPECT_NE(report.status().message().find(needle), std::string::npos)
        << report.status().ToString();
  }

  std::optional<SigningKey> key_;
  std::string public_key_;
};

TEST_F(VerifyIntegrityTest, IntactStoreVerifiesAndReportsProgress) {
  Build(400, /*sign=*/true);
  VerifyOptions options = VerifyOpts();
  options.public_key_path = public_key_;
  std::vector<VerifyProgress> seen;
  options.progress = [&](const VerifyProgress& p) { seen.push_back(p); };
  auto report = VerifyIntegrity(dir_.log(), options);
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_EQ(report->records, 400u);
  EXPECT_EQ(report->last_lsn, 400u);
  EXPECT_EQ(report->spine_leaves, 400u);
  EXPECT_EQ(report->spine_synced, 400u);
  EXPECT_EQ(report->root, Memory(400).Root());
  EXPECT_TRUE(report->signatures_checked);
  EXPECT_GE(report->checkpoints, 3u) << "one per sealed segment plus the one on demand";
  ASSERT_FALSE(seen.empty());
  EXPECT_EQ(seen.back().records, 400u);
  EXPECT_EQ(seen.back().bytes_done, seen.back().bytes_total);
}

TEST_F(VerifyIntegrityTest, CheckpointsOnSealCoverSegmentEndsAndVerify) {
  Build(400, /*sign=*/true);
  auto checkpoints = ReadCheckpoints(&env_, dir_.log());
  ASSERT_TRUE(checkpoints.ok());
  ASSERT_GE(checkpoints->size(), 3u);
  const auto segments = Segments();
  for (size_t i = 0; i + 1 < checkpoints->size(); ++i) {
    const Checkpoint& cp = (*checkpoints)[i];
    EXPECT_TRUE(VerifyCheckpoint(key_->Public(), cp).ok());
    EXPECT_EQ(cp.root, *merkle::RootHash(Memory(400), cp.tree_size));
    // A seal checkpoint ends just before the next segment's first LSN.
    Lsn next_base;
    ASSERT_LT(i + 1, segments.size());
    next_base = std::stoull(segments[i + 1].substr(0, 20));
    EXPECT_EQ(cp.tree_size, next_base - 1);
  }
  EXPECT_EQ(checkpoints->back().tree_size, 400u);
}

TEST_F(VerifyIntegrityTest, RewrittenRecordIsNamedByLsnSegmentAndOffset) {
  Build(300, /*sign=*/false);
  // Forge a first segment with valid CRCs but one record changed.
  testing::TestDir other;
  {
    LogOptions options = Options();
    options.env = Env::Default();
    auto forged = Log::Open(other.log(), options);
    ASSERT_TRUE(forged.ok());
    for (int i = 0; i < 300; ++i) {
      ASSERT_TRUE((*forged)->Append(i == 41 ? std::string("forged") : payloads_[i]).ok());
    }
    ASSERT_TRUE((*forged)->Close().ok());
  }
  const std::string first = Segments().front();
  std::filesystem::copy_file(other.log() + "/" + first, dir_.log() + "/" + first,
                             std::filesystem::copy_options::overwrite_existing);
  ExpectBreak("LSN 42 (" + first + " at offset ");
}

TEST_F(VerifyIntegrityTest, DamagedInteriorNodeIsASpineBreak) {
  Build(64, /*sign=*/false);
  auto file = env_.ReopenWritableFile(spine::SpinePath(dir_.log()));
  ASSERT_TRUE(file.ok());
  ASSERT_TRUE((*file)->WriteAt(spine::NodeOffset(3, 2), std::string(32, '\0')).ok());
  ASSERT_TRUE((*file)->Close().ok());
  ExpectBreak("node (level 3, index 2) over LSNs 17..24");
}

TEST_F(VerifyIntegrityTest, RemovedMiddleSegmentBreaksTheChain) {
  Build(400, /*sign=*/false);
  const auto segments = Segments();
  ASSERT_GE(segments.size(), 3u);
  std::filesystem::remove(dir_.log() + "/" + segments[1]);
  ExpectBreak("next segment starts at LSN");
}

TEST_F(VerifyIntegrityTest, RemovedFirstSegmentIsABreak) {
  Build(400, /*sign=*/false);
  std::filesystem::remove(dir_.log() + "/" + Segments().front());
  ExpectBreak("LSN 1: missing");
}

TEST_F(VerifyIntegrityTest, LogTruncatedBelowACheckpointIsABreakEvenWithoutASpine) {
  Build(400, /*sign=*/true);
  std::filesystem::remove(spine::SpinePath(dir_.log()));  // a forger rebuilds it
  std::filesystem::remove(dir_.log() + "/" + Segments().back());
  ExpectBreak("truncated below a checkpoint");
}

TEST_F(VerifyIntegrityTest, RecomputedSpineDoesNotHideARewriteFromCheckpoints) {
  Build(300, /*sign=*/true);
  // Rewrite the whole log with one record changed and let a fresh tree
  // compute a consistent spine for it: only the signed checkpoints can tell.
  testing::TestDir forged;
  {
    LogOptions options = Options();
    options.env = Env::Default();
    auto log = Log::Open(forged.log(), options);  // keeps a tree of its own
    ASSERT_TRUE(log.ok()) << log.status().ToString();
    for (int i = 0; i < 300; ++i) {
      ASSERT_TRUE((*log)->Append(i == 99 ? std::string("rewritten") : payloads_[i]).ok());
    }
    ASSERT_TRUE((*log)->Close().ok());
  }
  for (const auto& entry : std::filesystem::directory_iterator(forged.log())) {
    // The forger cannot sign, so it keeps the old checkpoints.
    std::filesystem::copy_file(entry.path(), dir_.log() + "/" + entry.path().filename().string(),
                               std::filesystem::copy_options::overwrite_existing);
  }
  const auto checkpoints = ReadCheckpoints(&env_, dir_.log());
  ASSERT_TRUE(checkpoints.ok());
  ASSERT_FALSE(checkpoints->empty());
  const uint64_t first_covering = checkpoints->front().tree_size;  // ≥ 100: a segment end
  ASSERT_GE(first_covering, 100u);
  ExpectBreak("LSN " + std::to_string(first_covering) + " (");
}

TEST_F(VerifyIntegrityTest, ForgedCheckpointSignatureIsABreak) {
  Build(100, /*sign=*/true);
  auto checkpoints = ReadCheckpoints(&env_, dir_.log());
  ASSERT_TRUE(checkpoints.ok());
  Checkpoint forged = checkpoints->back();
  forged.time_us += 1;
  ASSERT_TRUE(AppendCheckpoint(&env_, dir_.log(), forged).ok());
  ExpectBreak("line " + std::to_string(checkpoints->size() + 1));
}

TEST_F(VerifyIntegrityTest, FailingAnchorIsCountedAndNeverBlocksAppends) {
  OpenLog();
  auto key = SigningKey::Generate();
  ASSERT_TRUE(key.ok());
  TreeOptions options = TreeOpts();
  options.signing_key = *key;
  std::vector<std::string> anchored;
  int errors = 0;
  options.anchor = [&](const Checkpoint&, const std::string& json) {
    anchored.push_back(json);
    return Status::IOError("anchor service down");
  };
  options.on_background_error = [&](const Status&) { ++errors; };
  ASSERT_TRUE(OpenTree(options).ok());
  Append(400);
  auto cp = tree_->WriteCheckpoint();
  ASSERT_TRUE(cp.ok()) << cp.status().ToString();
  EXPECT_EQ(cp->tree_size, 400u);
  const TreeStats stats = tree_->Stats();
  EXPECT_GE(stats.checkpoints, 3u);
  EXPECT_EQ(stats.anchor_failures, stats.checkpoints);
  EXPECT_TRUE(stats.last_anchor_error.IsIOError());
  CloseAll();
  EXPECT_EQ(anchored.size(), static_cast<size_t>(errors));
  ASSERT_FALSE(anchored.empty());
  auto parsed = CheckpointFromJson(anchored.back());
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(*parsed, *cp);
}

TEST_F(VerifyIntegrityTest, NoKeyMeansNoCheckpoints) {
  Build(400, /*sign=*/false);
  auto exists = env_.FileExists(dir_.log() + "/" + std::string(kCheckpointFileName));
  ASSERT_TRUE(exists.ok());
  EXPECT_FALSE(*exists);
  OpenLog();
  OpenTree();
  EXPECT_EQ(tree_->WriteCheckpoint().status().code(), Status::Code::kFailedPrecondition);
  CloseAll();
}

}  // namespace
}  // namespace quipu
