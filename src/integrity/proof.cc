// integrity/proof.cc — roots and proofs read from a NodeSource.
//
// Every range the RFC's PATH and SUBPROOF recursions hash, starting from
// D[0:n], is one of two kinds:
//   - a perfect subtree (a left part always is, and so is everything inside
//     one): one SubtreeHash read;
//   - a right-edge range [p, n), where p is the start of one of n's peaks
//     (the perfect subtrees of n's binary decomposition).
// RangeHasher reads the peaks once and folds them from the right, so every
// right-edge hash costs nothing more; a proof is then O(log n) reads.
#include <algorithm>
#include <string>

#include "integrity/tree_math.h"
#include "quipu/merkle.h"

namespace quipu::merkle {
namespace {

class RangeHasher {
 public:
  RangeHasher(const NodeSource& tree, uint64_t size) : tree_(tree), size_(size) {}

  // Reads the peaks of size_ (size_ ≥ 1).
  Status LoadPeaks() {
    Result<TreeBuilder> frontier = TreeBuilder::FromSource(tree_, size_);
    if (!frontier.ok()) return frontier.status();
    suffixes_ = frontier->frontier();
    for (int level = 63; level >= 0; --level) {
      if ((size_ >> level & 1) != 0) peak_starts_.push_back(PeakStart(size_, level));
    }
    // suffixes_[i] becomes MTH(D[peak_starts_[i]:size_]).
    for (size_t i = suffixes_.size() - 1; i-- > 0;) {
      suffixes_[i] = NodeHash(suffixes_[i], suffixes_[i + 1]);
    }
    return Status::OK();
  }

  Hash Root() const { return suffixes_.front(); }

  // MTH(D[begin:end]) for 0 ≤ begin < end ≤ size_.
  Result<Hash> Range(uint64_t begin, uint64_t end) const {
    if (IsPerfect(begin, end)) {
      int level = LevelOf(end - begin);
      return tree_.SubtreeHash(level, begin >> level);
    }
    if (end == size_) {
      auto it = std::lower_bound(peak_starts_.begin(), peak_starts_.end(), begin);
      if (it != peak_starts_.end() && *it == begin) return suffixes_[it - peak_starts_.begin()];
    }
    // Not reached from the proofs below (see the file comment), but correct.
    uint64_t mid = begin + SplitPoint(end - begin);
    Result<Hash> left = Range(begin, mid);
    if (!left.ok()) return left;
    Result<Hash> right = Range(mid, end);
    if (!right.ok()) return right;
    return NodeHash(*left, *right);
  }

 private:
  const NodeSource& tree_;
  uint64_t size_;
  std::vector<uint64_t> peak_starts_;  // ascending
  std::vector<Hash> suffixes_;
};

Status CheckHeld(const NodeSource& tree, uint64_t size) {
  if (size <= tree.LeafCount()) return Status::OK();
  return Status::InvalidArgument("tree size " + std::to_string(size) + " exceeds the " +
                                 std::to_string(tree.LeafCount()) + " leaves held");
}

}  // namespace

Result<Hash> RootHash(const NodeSource& tree, uint64_t size) {
  QUIPU_RETURN_IF_ERROR(CheckHeld(tree, size));
  if (size == 0) return EmptyRoot();
  RangeHasher hasher(tree, size);
  QUIPU_RETURN_IF_ERROR(hasher.LoadPeaks());
  return hasher.Root();
}

// PATH(m, D[b:e]) = PATH(m, child holding m) : MTH(other child), walked from
// the root down; the siblings are collected top-down and returned bottom-up.
Result<std::vector<Hash>> ProveInclusion(const NodeSource& tree, uint64_t index, uint64_t size) {
  QUIPU_RETURN_IF_ERROR(CheckHeld(tree, size));
  if (index >= size) {
    return Status::InvalidArgument("leaf index " + std::to_string(index) + " is not in a tree of " +
                                   std::to_string(size) + " leaves");
  }
  RangeHasher hasher(tree, size);
  QUIPU_RETURN_IF_ERROR(hasher.LoadPeaks());
  std::vector<Hash> path;
  uint64_t begin = 0, end = size;
  while (end - begin > 1) {
    uint64_t mid = begin + SplitPoint(end - begin);
    Result<Hash> sibling = index < mid ? hasher.Range(mid, end) : hasher.Range(begin, mid);
    if (!sibling.ok()) return sibling.status();
    path.push_back(*sibling);
    if (index < mid) {
      end = mid;
    } else {
      begin = mid;
    }
  }
  std::reverse(path.begin(), path.end());
  return path;
}

// SUBPROOF(m, D[b:e], whole) with the old boundary m kept absolute: while m
// falls inside the left child, descend left and record the right child; else
// record the left child and descend right, where the old tree's root is no
// longer a node the verifier already knows (whole = false). At a range ending
// exactly at m, its hash is recorded unless it is the old root itself.
Result<std::vector<Hash>> ProveConsistency(const NodeSource& tree, uint64_t old_size,
                                           uint64_t new_size) {
  QUIPU_RETURN_IF_ERROR(CheckHeld(tree, new_size));
  if (old_size == 0 || old_size > new_size) {
    return Status::InvalidArgument("no consistency proof from size " + std::to_string(old_size) +
                                   " to size " + std::to_string(new_size));
  }
  RangeHasher hasher(tree, new_size);
  QUIPU_RETURN_IF_ERROR(hasher.LoadPeaks());
  std::vector<Hash> proof;
  uint64_t begin = 0, end = new_size;
  bool whole = true;
  while (old_size != end) {
    uint64_t mid = begin + SplitPoint(end - begin);
    bool go_left = old_size <= mid;
    Result<Hash> sibling = go_left ? hasher.Range(mid, end) : hasher.Range(begin, mid);
    if (!sibling.ok()) return sibling.status();
    proof.push_back(*sibling);
    if (go_left) {
      end = mid;
    } else {
      begin = mid;
      whole = false;
    }
  }
  if (!whole) {
    Result<Hash> last = hasher.Range(begin, end);
    if (!last.ok()) return last.status();
    proof.push_back(*last);
  }
  std::reverse(proof.begin(), proof.end());
  return proof;
}

}  // namespace quipu::merkle
