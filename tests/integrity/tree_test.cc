// Tests for roots, the incremental builder and the NodeSource contract:
// everything against the naive reference of reference.h.
#include <gtest/gtest.h>

#include <bit>
#include <string>
#include <vector>

#include "integrity/memory_tree.h"
#include "integrity/reference.h"
#include "quipu/merkle.h"

namespace quipu::merkle {
namespace {

// Sizes the known-answer tests cover: 1..64 and around powers of two.
std::vector<uint64_t> KnownAnswerSizes() {
  std::vector<uint64_t> sizes;
  for (uint64_t n = 1; n <= 64; ++n) sizes.push_back(n);
  for (uint64_t n : {127, 128, 129, 255, 256, 257, 511, 512, 513, 1000}) sizes.push_back(n);
  return sizes;
}

MemoryTree TreeOf(const reference::Data& d) {
  MemoryTree tree;
  for (const std::string& payload : d) tree.AppendPayload(payload);
  return tree;
}

// Counts the reads a tree function makes, and can fail them.
class CountingSource : public NodeSource {
 public:
  explicit CountingSource(const NodeSource& base) : base_(base) {}
  uint64_t LeafCount() const override { return base_.LeafCount(); }
  Result<Hash> SubtreeHash(int level, uint64_t index) const override {
    ++reads;
    if (fail) return Status::IOError("injected read failure");
    return base_.SubtreeHash(level, index);
  }
  mutable int reads = 0;
  bool fail = false;

 private:
  const NodeSource& base_;
};

TEST(TreeTest, EmptyTreeRootIsSha256OfNothing) {
  MemoryTree tree;
  EXPECT_EQ(tree.Root(), reference::Mth({}, 0));
  auto root = RootHash(tree, 0);
  ASSERT_TRUE(root.ok());
  EXPECT_EQ(*root, EmptyRoot());
  EXPECT_EQ(TreeBuilder().Root(), EmptyRoot());
}

TEST(TreeTest, RootsMatchReferenceAtKnownAnswerSizes) {
  const reference::Data d = reference::TestData(1000);
  MemoryTree tree = TreeOf(d);
  TreeBuilder builder;
  uint64_t built = 0;
  for (uint64_t n : KnownAnswerSizes()) {
    SCOPED_TRACE("size " + std::to_string(n));
    const Hash expected = reference::Mth(d, n);
    auto root = RootHash(tree, n);
    ASSERT_TRUE(root.ok()) << root.status().ToString();
    EXPECT_EQ(*root, expected);
    for (; built < n; ++built) builder.Append(LeafHash(d[built]));
    EXPECT_EQ(builder.Root(), expected);
  }
}

// The tree over the eight RFC 6962 test inputs that Certificate Transparency
// implementations use; its roots for sizes 1..8 are widely published. The
// reference computes each of them here, so the constants are checked, not
// trusted.
TEST(TreeTest, CertificateTransparencyVectorsMatch) {
  const reference::Data d = {
      "",
      std::string(1, '\x00'),
      "\x10",
      "\x20\x21",
      "\x30\x31",
      "\x40\x41\x42\x43",
      "\x50\x51\x52\x53\x54\x55\x56\x57",
      "\x60\x61\x62\x63\x64\x65\x66\x67\x68\x69\x6a\x6b\x6c\x6d\x6e\x6f",
  };
  const char* roots[] = {
      "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
      "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
      "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
      "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
      "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
      "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
      "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
      "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
  };
  TreeBuilder builder;
  for (uint64_t n = 1; n <= 8; ++n) {
    builder.Append(LeafHash(d[n - 1]));
    EXPECT_EQ(reference::Mth(d, n).ToHex(), roots[n - 1]) << "reference, size " << n;
    EXPECT_EQ(builder.Root().ToHex(), roots[n - 1]) << "builder, size " << n;
  }
}

TEST(TreeTest, BuilderEmitsEveryPerfectSubtreeOnceInPostorder) {
  const reference::Data d = reference::TestData(300);
  TreeBuilder builder;
  std::vector<Subtree> all;
  for (uint64_t n = 1; n <= d.size(); ++n) {
    builder.Append(LeafHash(d[n - 1]), &all);
    ASSERT_EQ(all.size(), PerfectSubtreeCount(n)) << "size " << n;
    ASSERT_EQ(builder.frontier().size(), static_cast<size_t>(std::popcount(n)));
  }
  for (size_t i = 0; i < all.size(); ++i) {
    const Subtree& s = all[i];
    ASSERT_EQ(PostorderIndex(s.level, s.index), i) << "level " << s.level << " index " << s.index;
    const uint64_t begin = s.index << s.level;
    ASSERT_EQ(s.hash, reference::Mth(d, begin, begin + (uint64_t{1} << s.level)));
  }
}

TEST(TreeTest, PostorderArithmeticHandlesLargeTrees) {
  EXPECT_EQ(PerfectSubtreeCount(0), 0u);
  EXPECT_EQ(PerfectSubtreeCount(1), 1u);
  EXPECT_EQ(PerfectSubtreeCount(uint64_t{1} << 40), (uint64_t{1} << 41) - 1);
  // The root of a perfect tree is the last subtree emitted.
  EXPECT_EQ(PostorderIndex(40, 0), (uint64_t{1} << 41) - 2);
  EXPECT_EQ(PostorderIndex(0, uint64_t{1} << 40), (uint64_t{1} << 41) - 1);
}

TEST(TreeTest, BuilderResumesFromFrontierOrSource) {
  const reference::Data d = reference::TestData(200);
  MemoryTree tree = TreeOf(d);
  for (uint64_t cut : {0, 1, 2, 3, 7, 64, 100, 127, 128, 199}) {
    SCOPED_TRACE("resumed at " + std::to_string(cut));
    auto resumed = TreeBuilder::FromSource(tree, cut);
    ASSERT_TRUE(resumed.ok()) << resumed.status().ToString();
    auto copied = TreeBuilder::FromFrontier(cut, resumed->frontier());
    ASSERT_TRUE(copied.ok());
    EXPECT_EQ(resumed->Root(), reference::Mth(d, cut));
    for (uint64_t i = cut; i < d.size(); ++i) {
      resumed->Append(LeafHash(d[i]));
      copied->Append(LeafHash(d[i]));
    }
    EXPECT_EQ(resumed->Root(), tree.Root());
    EXPECT_EQ(copied->Root(), tree.Root());
  }
}

TEST(TreeTest, FrontierOfTheWrongLengthIsRejected) {
  EXPECT_FALSE(TreeBuilder::FromFrontier(3, {LeafHash("a")}).ok());
  EXPECT_FALSE(TreeBuilder::FromFrontier(0, {LeafHash("a")}).ok());
  EXPECT_TRUE(TreeBuilder::FromFrontier(4, {LeafHash("a")}).ok());
}

TEST(TreeTest, SizesBeyondTheSourceAreRejected) {
  MemoryTree tree = TreeOf(reference::TestData(10));
  EXPECT_EQ(RootHash(tree, 11).status().code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(ProveInclusion(tree, 0, 11).status().code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(ProveConsistency(tree, 1, 11).status().code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(TreeBuilder::FromSource(tree, 11).status().code(), Status::Code::kInvalidArgument);
  EXPECT_FALSE(tree.SubtreeHash(0, 10).ok());
  EXPECT_FALSE(tree.SubtreeHash(4, 0).ok()) << "no 16-leaf subtree in a 10-leaf tree";
}

// A disk spine serves each read with I/O: roots and proofs must stay
// O(log n) reads, not O(log² n) or O(n).
TEST(TreeTest, RootsAndProofsReadLogarithmicallyManySubtrees) {
  MemoryTree tree = TreeOf(reference::TestData(1000));
  CountingSource counting(tree);
  for (uint64_t n : KnownAnswerSizes()) {
    const int log_n = std::bit_width(n);
    counting.reads = 0;
    ASSERT_TRUE(RootHash(counting, n).ok());
    EXPECT_EQ(counting.reads, std::popcount(n)) << "root of " << n;
    for (uint64_t m = 0; m < n; m += 1 + n / 16) {
      counting.reads = 0;
      ASSERT_TRUE(ProveInclusion(counting, m, n).ok());
      EXPECT_LE(counting.reads, std::popcount(n) + log_n) << "inclusion " << m << " of " << n;
      counting.reads = 0;
      ASSERT_TRUE(ProveConsistency(counting, m + 1, n).ok());
      EXPECT_LE(counting.reads, std::popcount(n) + log_n + 1)
          << "consistency " << m + 1 << " to " << n;
    }
  }
}

TEST(TreeTest, SourceFailuresArePassedThrough) {
  MemoryTree tree = TreeOf(reference::TestData(20));
  CountingSource failing(tree);
  failing.fail = true;
  EXPECT_TRUE(RootHash(failing, 20).status().IsIOError());
  EXPECT_TRUE(ProveInclusion(failing, 3, 20).status().IsIOError());
  EXPECT_TRUE(ProveConsistency(failing, 3, 20).status().IsIOError());
  EXPECT_TRUE(TreeBuilder::FromSource(failing, 20).status().IsIOError());
  EXPECT_TRUE(RootHash(failing, 0).ok()) << "the empty root needs no read";
}

}  // namespace
}  // namespace quipu::merkle
