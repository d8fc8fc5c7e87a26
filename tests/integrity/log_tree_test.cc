// LogTree: roots and proofs read from the spine agree with the in-memory
// tree, across segment boundaries, reopens and concurrent appends.
#include <atomic>
#include <thread>

#include "integrity/spine.h"
#include "tree_fixture.h"

namespace quipu {
namespace {

using testing::TreeFixture;

class LogTreeTest : public TreeFixture {};

TEST_F(LogTreeTest, RootsAndProofsMatchTheMemoryTreeAcrossSegments) {
  OpenLog();
  OpenTree();
  Append(300);  // about 150 records per 4 KiB segment: several segments
  ASSERT_TRUE(tree_->CatchUp().ok());
  ASSERT_EQ(tree_->Size(), 300u);
  ASSERT_GT(log_->Stats().segments, 2u);
  const merkle::MemoryTree memory = Memory(300);
  for (uint64_t n = 1; n <= 300; ++n) {
    auto root = tree_->Root(n);
    ASSERT_TRUE(root.ok()) << root.status().ToString();
    ASSERT_EQ(*root, *merkle::RootHash(memory, n)) << "size " << n;
  }
  for (uint64_t n : {1u, 7u, 64u, 150u, 151u, 299u, 300u}) {
    for (uint64_t lsn = 1; lsn <= n; lsn += 13) {
      auto proof = tree_->ProveInclusion(lsn, n);
      ASSERT_TRUE(proof.ok()) << proof.status().ToString();
      EXPECT_EQ(proof->path, *merkle::ProveInclusion(memory, lsn - 1, n));
      EXPECT_EQ(proof->leaf_hash, merkle::LeafHash(payloads_[lsn - 1]));
      EXPECT_TRUE(merkle::VerifyInclusion(proof->leaf_hash, proof->leaf_index, proof->tree_size,
                                          proof->path, proof->root)
                      .ok());
    }
    for (uint64_t old_size = 1; old_size <= n; old_size += 11) {
      auto proof = tree_->ProveConsistency(old_size, n);
      ASSERT_TRUE(proof.ok()) << proof.status().ToString();
      EXPECT_EQ(proof->proof, *merkle::ProveConsistency(memory, old_size, n));
      EXPECT_TRUE(
          merkle::VerifyConsistency(old_size, n, proof->old_root, proof->new_root, proof->proof)
              .ok());
    }
  }
  auto whole = tree_->Root();
  ASSERT_TRUE(whole.ok());
  EXPECT_EQ(*whole, memory.Root());
  CloseAll();
}

TEST_F(LogTreeTest, BadSizesAndLsnsAreInvalidArguments) {
  OpenLog();
  OpenTree();
  Append(10);
  EXPECT_EQ(tree_->Root(11).status().code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(tree_->ProveInclusion(0).status().code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(tree_->ProveInclusion(6, 5).status().code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(tree_->ProveConsistency(0).status().code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(tree_->ProveConsistency(6, 5).status().code(), Status::Code::kInvalidArgument);
  auto empty = tree_->Root(0);
  ASSERT_TRUE(empty.ok());
  EXPECT_EQ(*empty, merkle::EmptyRoot());
  CloseAll();
}

TEST_F(LogTreeTest, ReopenTrustsTheSyncedSpineAndContinues) {
  OpenLog();
  OpenTree();
  Append(200);
  ASSERT_TRUE(tree_->CatchUp().ok());
  CloseAll();
  OpenLog();
  OpenTree();
  EXPECT_EQ(tree_->Stats().recomputed_at_open, 0u) << "a clean close syncs the whole tree";
  Append(123);
  auto root = tree_->Root();
  ASSERT_TRUE(root.ok());
  EXPECT_EQ(*root, Memory(323).Root());
  CloseAll();
}

TEST_F(LogTreeTest, TreeOpenedOnAnExistingLogHashesItAll) {
  OpenLog();
  Append(250);
  OpenTree();
  EXPECT_EQ(tree_->Stats().recomputed_at_open, 250u);
  auto root = tree_->Root();
  ASSERT_TRUE(root.ok());
  EXPECT_EQ(*root, Memory(250).Root());
  CloseAll();
}

TEST_F(LogTreeTest, UnsyncedSpineTailIsRecomputedNotTrusted) {
  MakeSpineWithGarbagePastItsSyncedClaim();
  OpenLog();
  Append(5);
  OpenTree();
  auto root = tree_->Root();
  ASSERT_TRUE(root.ok());
  EXPECT_EQ(*root, Memory(45).Root());
  CloseAll();
}

TEST_F(LogTreeTest, LogTruncatedBelowTheSyncedSpineIsCorruption) {
  MakeLogTruncatedBelowItsSpine();
  OpenLog();
  ASSERT_LT(log_->LastLsn(), 400u);
  Status s = OpenTree(TreeOpts());
  EXPECT_TRUE(s.IsCorruption()) << s.ToString();
  EXPECT_NE(s.message().find("vouches for 400"), std::string::npos) << s.ToString();
  auto verified = VerifyIntegrity(dir_.log(), VerifyOpts());
  EXPECT_TRUE(verified.status().IsCorruption()) << verified.status().ToString();
  CloseAll();
}

TEST_F(LogTreeTest, SpineFromAnotherLogIsCorruption) {
  MakeLogUnderAnotherLogsSpine();
  OpenLog();
  Status s = OpenTree(TreeOpts());
  EXPECT_TRUE(s.IsCorruption()) << s.ToString();
  CloseAll();
}

TEST_F(LogTreeTest, ConcurrentAppendsQueriesAndCatchUps) {
  OpenLog(DurabilityPolicy::OsManaged());
  OpenTree();
  constexpr int kRecords = 3000;
  std::vector<std::string> all;
  for (int i = 0; i < kRecords; ++i) all.push_back("record-" + std::to_string(i));
  merkle::MemoryTree memory;
  for (const std::string& p : all) memory.AppendPayload(p);

  std::atomic<bool> done{false};
  std::thread appender([&] {
    for (const std::string& p : all) ASSERT_TRUE(log_->Append(p).ok());
    done = true;
  });
  std::vector<std::thread> queriers;
  std::atomic<int> checks{0};
  for (int t = 0; t < 2; ++t) {
    queriers.emplace_back([&, t] {
      std::mt19937_64 rng(t);
      while (!done || checks < 50) {
        if (t == 0) {
          ASSERT_TRUE(tree_->CatchUp().ok());
        }
        const uint64_t size = tree_->Size();
        if (size == 0) continue;
        const uint64_t n = 1 + rng() % size;
        auto root = tree_->Root(n);
        ASSERT_TRUE(root.ok()) << root.status().ToString();
        ASSERT_EQ(*root, *merkle::RootHash(memory, n));
        auto proof = tree_->ProveInclusion(1 + rng() % n, n);
        ASSERT_TRUE(proof.ok());
        ASSERT_TRUE(
            merkle::VerifyInclusion(proof->leaf_hash, proof->leaf_index, n, proof->path, *root)
                .ok());
        ++checks;
      }
    });
  }
  appender.join();
  for (std::thread& t : queriers) t.join();
  ASSERT_TRUE(tree_->CatchUp().ok());
  EXPECT_EQ(tree_->Size(), static_cast<uint64_t>(kRecords));
  CloseAll();
}

TEST_F(LogTreeTest, CloseWhileTheLogIsBusyIsThreadSafe) {
  OpenLog(DurabilityPolicy::OsManaged());
  OpenTree();
  std::atomic<bool> stop{false};
  std::thread appender([&] {
    while (!stop) ASSERT_TRUE(log_->Append("busy").ok());
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_TRUE(tree_->Close().ok());
  EXPECT_EQ(tree_->Close().code(), Status::Code::kFailedPrecondition);
  stop = true;
  appender.join();
  tree_.reset();
  ASSERT_TRUE(log_->Close().ok());
  log_.reset();
}

}  // namespace
}  // namespace quipu
