// TreeView: a lock-free, read-only tree over a log that another Log object
// (standing in for another process) holds open for writing.
#include "quipu/tree_view.h"

#include <algorithm>
#include <map>

#include "integrity/spine.h"
#include "tree_fixture.h"

namespace quipu {
namespace {

using testing::TreeFixture;

class TreeViewTest : public TreeFixture {
 protected:
  std::unique_ptr<TreeView> MustOpenView() {
    auto view = TreeView::Open(dir_.log(), &env_);
    EXPECT_TRUE(view.ok()) << view.status().ToString();
    return view.ok() ? std::move(*view) : nullptr;
  }

  // Every root, and a spread of proofs, against the in-memory tree.
  void ExpectMatchesMemory(const TreeView& view, uint64_t size) {
    ASSERT_EQ(view.Size(), size);
    const merkle::MemoryTree memory = Memory(size);
    for (uint64_t n = 0; n <= size; ++n) {
      auto root = view.Root(n);
      ASSERT_TRUE(root.ok()) << root.status().ToString();
      ASSERT_EQ(*root, *merkle::RootHash(memory, n)) << "size " << n;
    }
    for (uint64_t n = 1; n <= size; n += 17) {
      for (uint64_t lsn = 1; lsn <= n; lsn += 7) {
        auto proof = view.ProveInclusion(lsn, n);
        ASSERT_TRUE(proof.ok()) << proof.status().ToString();
        EXPECT_EQ(proof->path, *merkle::ProveInclusion(memory, lsn - 1, n));
        EXPECT_EQ(proof->leaf_hash, merkle::LeafHash(payloads_[lsn - 1]));
      }
      for (uint64_t old_size = 1; old_size <= n; old_size += 5) {
        auto proof = view.ProveConsistency(old_size, n);
        ASSERT_TRUE(proof.ok()) << proof.status().ToString();
        EXPECT_EQ(proof->proof, *merkle::ProveConsistency(memory, old_size, n));
      }
    }
  }

  std::map<std::string, uint64_t> FileSizes() {
    std::map<std::string, uint64_t> sizes;
    for (const auto& entry : std::filesystem::directory_iterator(dir_.log())) {
      sizes[entry.path().filename()] = entry.file_size();
    }
    return sizes;
  }
};

TEST_F(TreeViewTest, BesideAWriterItJoinsTheSyncedSpineAndTheRecordsAfterIt) {
  OpenLog();
  OpenTree();
  Append(300);  // several 4 KiB segments: the spine is synced at each seal
  ASSERT_TRUE(tree_->CatchUp().ok());
  ASSERT_GT(tree_->Stats().synced_size, 0u);
  ASSERT_LT(tree_->Stats().synced_size, 300u);
  Append(77);                          // the writer keeps going; the view needs no lock
  ASSERT_TRUE(tree_->CatchUp().ok());  // so the writer's own tree is idle
  const auto before = FileSizes();
  std::unique_ptr<TreeView> view = MustOpenView();
  ASSERT_NE(view, nullptr);
  ExpectMatchesMemory(*view, 377);
  EXPECT_EQ(FileSizes(), before) << "a view changes no file";
  Append(3);
  EXPECT_EQ(view->Size(), 377u) << "a view is the tree of the moment it opened";
  CloseAll();
}

TEST_F(TreeViewTest, WithoutASpineItHashesTheWholeLogAndCreatesNothing) {
  OpenLog();
  Append(150);
  std::unique_ptr<TreeView> view = MustOpenView();
  ASSERT_NE(view, nullptr);
  ExpectMatchesMemory(*view, 150);
  EXPECT_FALSE(std::filesystem::exists(spine::SpinePath(dir_.log())));
  CloseAll();
}

TEST_F(TreeViewTest, NodesPastTheSyncedClaimAreNotTrusted) {
  MakeSpineWithGarbagePastItsSyncedClaim();
  OpenLog();
  Append(5);
  std::unique_ptr<TreeView> view = MustOpenView();
  ASSERT_NE(view, nullptr);
  ExpectMatchesMemory(*view, 45);
  CloseAll();
}

TEST_F(TreeViewTest, ASpineThatVouchesForMissingRecordsIsCorruption) {
  MakeLogTruncatedBelowItsSpine();
  auto view = TreeView::Open(dir_.log(), &env_);
  ASSERT_FALSE(view.ok());
  EXPECT_TRUE(view.status().IsCorruption()) << view.status().ToString();
  EXPECT_NE(view.status().message().find("vouches for 400"), std::string::npos)
      << view.status().ToString();
}

TEST_F(TreeViewTest, AChangedRecordUnderTheSyncedSpineIsCorruption) {
  MakeLogUnderAnotherLogsSpine();
  auto view = TreeView::Open(dir_.log(), &env_);
  ASSERT_FALSE(view.ok());
  EXPECT_TRUE(view.status().IsCorruption()) << view.status().ToString();
  EXPECT_NE(view.status().message().find("does not match its leaf"), std::string::npos)
      << view.status().ToString();
}

TEST_F(TreeViewTest, BadSizesAreInvalidAndAMissingLogIsNotFound) {
  OpenLog();
  Append(10);
  std::unique_ptr<TreeView> view = MustOpenView();
  ASSERT_NE(view, nullptr);
  EXPECT_EQ(view->Root(11).status().code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(view->ProveInclusion(0).status().code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(view->ProveInclusion(6, 5).status().code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(view->ProveConsistency(0).status().code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(view->ProveConsistency(6, 5).status().code(), Status::Code::kInvalidArgument);
  CloseAll();
  auto missing = TreeView::Open(dir_.log() + "-missing", &env_);
  EXPECT_EQ(missing.status().code(), Status::Code::kNotFound) << missing.status().ToString();
}

}  // namespace
}  // namespace quipu
