// Tests for inclusion and consistency proofs: generation against the RFC's
// PATH and PROOF (reference.h), verification by the library's RFC 9162
// algorithm and by the reference's independent recursive verifier, and
// tampering that both must reject.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "integrity/memory_tree.h"
#include "integrity/reference.h"
#include "quipu/merkle.h"

namespace quipu::merkle {
namespace {

using Proof = std::vector<Hash>;

constexpr uint64_t kExhaustive = 64;
const uint64_t kLargeSizes[] = {127, 128, 129, 255, 256, 257, 1000};

// The leaves, their tree and every root, built once: the reference's roots
// cost O(n) hashes each.
struct Shared {
  Shared() : data(reference::TestData(1000)) {
    for (const std::string& payload : data) tree.AppendPayload(payload);
    roots.push_back(EmptyRoot());
    for (uint64_t n = 1; n <= data.size(); ++n) roots.push_back(reference::Mth(data, n));
  }
  reference::Data data;
  MemoryTree tree;
  std::vector<Hash> roots;  // roots[n] = MTH(D[n])
};

const Shared& SharedTree() {
  static const Shared shared;
  return shared;
}

class ProofTest : public ::testing::Test {
 protected:
  Proof Inclusion(uint64_t m, uint64_t n) {
    auto proof = ProveInclusion(tree_, m, n);
    EXPECT_TRUE(proof.ok()) << proof.status().ToString();
    return proof.ok() ? *proof : Proof();
  }
  Proof Consistency(uint64_t m, uint64_t n) {
    auto proof = ProveConsistency(tree_, m, n);
    EXPECT_TRUE(proof.ok()) << proof.status().ToString();
    return proof.ok() ? *proof : Proof();
  }
  Hash Leaf(uint64_t m) const { return LeafHash(data_[m]); }

  // Both verifiers' verdicts, which must always agree.
  bool Included(const Hash& leaf, uint64_t m, uint64_t n, const Proof& path, const Hash& root) {
    bool ours = VerifyInclusion(leaf, m, n, path, root).ok();
    bool theirs = reference::VerifyPath(leaf, m, n, path, root);
    EXPECT_EQ(ours, theirs) << "verifiers disagree on leaf " << m << " of " << n;
    return ours;
  }
  bool Consistent(uint64_t m, uint64_t n, const Hash& old_root, const Hash& new_root,
                  const Proof& proof) {
    bool ours = VerifyConsistency(m, n, old_root, new_root, proof).ok();
    bool theirs = reference::VerifyProof(m, n, old_root, new_root, proof);
    EXPECT_EQ(ours, theirs) << "verifiers disagree on " << m << " -> " << n;
    return ours;
  }

  const reference::Data& data_ = SharedTree().data;
  const MemoryTree& tree_ = SharedTree().tree;
  const std::vector<Hash>& roots_ = SharedTree().roots;
};

Hash FlipBit(const Hash& h, int bit) {
  Hash::Bytes b = h.bytes();
  b[bit / 8 % Hash::kSize] ^= static_cast<uint8_t>(1u << (bit % 8));
  return Hash(b);
}

TEST_F(ProofTest, InclusionProofsForEveryLeafUpTo64MatchTheRfcAndVerify) {
  int checked = 0;
  for (uint64_t n = 1; n <= kExhaustive; ++n) {
    for (uint64_t m = 0; m < n; ++m) {
      Proof path = Inclusion(m, n);
      ASSERT_EQ(path, reference::Path(m, data_, n)) << "leaf " << m << " of " << n;
      Status s = VerifyInclusion(Leaf(m), m, n, path, roots_[n]);
      ASSERT_TRUE(s.ok()) << "leaf " << m << " of " << n << ": " << s.ToString();
      ASSERT_TRUE(reference::VerifyPath(Leaf(m), m, n, path, roots_[n]));
      ++checked;
    }
  }
  EXPECT_EQ(checked, 64 * 65 / 2);
}

TEST_F(ProofTest, InclusionProofsAroundPowersOfTwoMatchTheRfcAndVerify) {
  for (uint64_t n : kLargeSizes) {
    for (uint64_t m = 0; m < n; m += 1 + n / 64) {
      for (uint64_t leaf : {m, n - 1 - m}) {
        Proof path = Inclusion(leaf, n);
        ASSERT_EQ(path, reference::Path(leaf, data_, n)) << "leaf " << leaf << " of " << n;
        ASSERT_TRUE(Included(Leaf(leaf), leaf, n, path, roots_[n]));
      }
    }
  }
}

TEST_F(ProofTest, ConsistencyProofsForEveryPairUpTo64MatchTheRfcAndVerify) {
  int checked = 0;
  for (uint64_t n = 1; n <= kExhaustive; ++n) {
    for (uint64_t m = 1; m <= n; ++m) {
      Proof proof = Consistency(m, n);
      ASSERT_EQ(proof, reference::Proof(m, data_, n)) << m << " -> " << n;
      Status s = VerifyConsistency(m, n, roots_[m], roots_[n], proof);
      ASSERT_TRUE(s.ok()) << m << " -> " << n << ": " << s.ToString();
      ASSERT_TRUE(reference::VerifyProof(m, n, roots_[m], roots_[n], proof));
      ++checked;
    }
  }
  EXPECT_EQ(checked, 64 * 65 / 2);
}

TEST_F(ProofTest, ConsistencyProofsAroundPowersOfTwoMatchTheRfcAndVerify) {
  for (uint64_t n : kLargeSizes) {
    for (uint64_t m = 1; m <= n; m += 1 + n / 64) {
      for (uint64_t old_size : {m, n + 1 - m}) {
        Proof proof = Consistency(old_size, n);
        ASSERT_EQ(proof, reference::Proof(old_size, data_, n)) << old_size << " -> " << n;
        ASSERT_TRUE(Consistent(old_size, n, roots_[old_size], roots_[n], proof));
      }
    }
    for (uint64_t old_size : kLargeSizes) {
      if (old_size > n) continue;
      Proof proof = Consistency(old_size, n);
      ASSERT_EQ(proof, reference::Proof(old_size, data_, n)) << old_size << " -> " << n;
      ASSERT_TRUE(Consistent(old_size, n, roots_[old_size], roots_[n], proof));
    }
  }
}

TEST_F(ProofTest, TamperedInclusionProofsFail) {
  for (uint64_t n = 1; n <= kExhaustive; ++n) {
    for (uint64_t m = 0; m < n; ++m) {
      SCOPED_TRACE("leaf " + std::to_string(m) + " of " + std::to_string(n));
      const Proof path = Inclusion(m, n);
      for (size_t i = 0; i < path.size(); ++i) {
        for (int bit : {0, 7, 100, 255}) {
          Proof bad = path;
          bad[i] = FlipBit(bad[i], bit + static_cast<int>(i));
          EXPECT_FALSE(Included(Leaf(m), m, n, bad, roots_[n])) << "element " << i;
        }
      }
      for (uint64_t other = 0; other < n; ++other) {
        if (other == m) continue;
        EXPECT_FALSE(Included(Leaf(m), other, n, path, roots_[n])) << "index " << other;
        EXPECT_FALSE(Included(Leaf(other), m, n, path, roots_[n])) << "leaf of " << other;
      }
      EXPECT_FALSE(Included(FlipBit(Leaf(m), 3), m, n, path, roots_[n]));
      EXPECT_FALSE(Included(Leaf(m), m, n, path, FlipBit(roots_[n], 200)));
      if (!path.empty()) {
        EXPECT_FALSE(Included(Leaf(m), m, n, Proof(path.begin(), path.end() - 1), roots_[n]));
        EXPECT_FALSE(Included(Leaf(m), m, n, Proof(path.begin() + 1, path.end()), roots_[n]));
      }
      Proof longer = path;
      longer.push_back(roots_[n]);
      EXPECT_FALSE(Included(Leaf(m), m, n, longer, roots_[n]));
      longer = path;
      longer.insert(longer.begin(), Leaf(m));
      EXPECT_FALSE(Included(Leaf(m), m, n, longer, roots_[n]));
    }
  }
}

// The root commits to the size, the path alone does not (see merkle.h): a
// path verified with a size it was not made for must fail unless the tree
// shape seen from that leaf is the same, and then only against the root of
// the tree it was made for. Both verifiers agree on every such case.
TEST_F(ProofTest, InclusionWithTheWrongSizeFailsAgainstThatSizesRoot) {
  int rejected = 0;
  for (uint64_t n = 1; n <= kExhaustive; ++n) {
    for (uint64_t m = 0; m < n; ++m) {
      const Proof path = Inclusion(m, n);
      for (uint64_t size = m + 1; size <= kExhaustive; ++size) {
        if (size == n) continue;
        EXPECT_FALSE(Included(Leaf(m), m, size, path, roots_[size]))
            << "leaf " << m << " of " << n << " as size " << size;
        if (!Included(Leaf(m), m, size, path, roots_[n])) ++rejected;
      }
    }
  }
  EXPECT_GT(rejected, 0);
  // The alias the header warns about: leaf 0 of 4 leaves has the shape of
  // leaf 0 of 3 leaves.
  EXPECT_TRUE(VerifyInclusion(Leaf(0), 0, 3, Inclusion(0, 4), roots_[4]).ok());
}

TEST_F(ProofTest, InclusionArgumentsOutOfRangeAreInvalid) {
  EXPECT_EQ(VerifyInclusion(Leaf(0), 5, 5, {}, roots_[5]).code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(VerifyInclusion(Leaf(0), 0, 0, {}, EmptyRoot()).code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(ProveInclusion(tree_, 5, 5).status().code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(VerifyInclusion(Leaf(0), 0, 1, {Leaf(1)}, roots_[1]).code(), Status::Code::kCorruption);
}

TEST_F(ProofTest, TamperedConsistencyProofsFail) {
  for (uint64_t n = 2; n <= kExhaustive; ++n) {
    for (uint64_t m = 1; m < n; ++m) {
      SCOPED_TRACE(std::to_string(m) + " -> " + std::to_string(n));
      const Proof proof = Consistency(m, n);
      ASSERT_FALSE(proof.empty());
      for (size_t i = 0; i < proof.size(); ++i) {
        for (int bit : {0, 13, 128, 255}) {
          Proof bad = proof;
          bad[i] = FlipBit(bad[i], bit + static_cast<int>(i));
          EXPECT_FALSE(Consistent(m, n, roots_[m], roots_[n], bad)) << "element " << i;
        }
      }
      EXPECT_FALSE(Consistent(m, n, roots_[n], roots_[m], proof)) << "swapped roots";
      EXPECT_FALSE(Consistent(m, n, FlipBit(roots_[m], 9), roots_[n], proof));
      EXPECT_FALSE(Consistent(m, n, roots_[m], FlipBit(roots_[n], 9), proof));
      EXPECT_FALSE(Consistent(m, n, roots_[m], roots_[n], Proof(proof.begin(), proof.end() - 1)));
      EXPECT_FALSE(Consistent(m, n, roots_[m], roots_[n], Proof(proof.begin() + 1, proof.end())));
      Proof longer = proof;
      longer.push_back(roots_[n]);
      EXPECT_FALSE(Consistent(m, n, roots_[m], roots_[n], longer));
      longer = proof;
      longer.insert(longer.begin(), roots_[m]);
      EXPECT_FALSE(Consistent(m, n, roots_[m], roots_[n], longer));
      // Another old size, with its own true root, is not proven by this proof.
      for (uint64_t other = 1; other < n; ++other) {
        if (other == m) continue;
        EXPECT_FALSE(Consistent(other, n, roots_[other], roots_[n], proof)) << "old " << other;
      }
    }
  }
}

TEST_F(ProofTest, EqualSizesNeedAnEmptyProofAndEqualRoots) {
  for (uint64_t n = 1; n <= kExhaustive; ++n) {
    EXPECT_TRUE(Consistency(n, n).empty());
    EXPECT_TRUE(VerifyConsistency(n, n, roots_[n], roots_[n], {}).ok());
    EXPECT_TRUE(VerifyConsistency(n, n, roots_[n], FlipBit(roots_[n], 1), {}).IsCorruption());
    EXPECT_TRUE(VerifyConsistency(n, n, roots_[n], roots_[n], {roots_[n]}).IsCorruption());
  }
}

TEST_F(ProofTest, EmptyConsistencyProofBetweenDifferentSizesFails) {
  EXPECT_TRUE(VerifyConsistency(4, 8, roots_[4], roots_[8], {}).IsCorruption());
  EXPECT_TRUE(VerifyConsistency(1, 2, roots_[1], roots_[2], {}).IsCorruption());
}

TEST_F(ProofTest, ConsistencyArgumentsOutOfRangeAreInvalid) {
  EXPECT_EQ(VerifyConsistency(0, 5, EmptyRoot(), roots_[5], {}).code(),
            Status::Code::kInvalidArgument);
  EXPECT_EQ(VerifyConsistency(6, 5, roots_[6], roots_[5], {}).code(),
            Status::Code::kInvalidArgument);
  EXPECT_EQ(ProveConsistency(tree_, 0, 5).status().code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(ProveConsistency(tree_, 6, 5).status().code(), Status::Code::kInvalidArgument);
}

}  // namespace
}  // namespace quipu::merkle
