// integrity/builder.cc — the incremental tree: a frontier of perfect subtrees.
//
// Invariant: peaks_ holds one hash per set bit of size_, from the highest bit
// (the leftmost, largest subtree) to the lowest. Appending a leaf is binary
// increment: the new leaf is a level-0 peak, and while the old size has a set
// bit at the current level, the two rightmost peaks are equal-sized
// neighbours and merge into one peak a level up.
#include <bit>
#include <string>

#include "integrity/tree_math.h"
#include "quipu/merkle.h"

namespace quipu::merkle {

uint64_t PerfectSubtreeCount(uint64_t size) { return 2 * size - std::popcount(size); }

// The subtree (level, index) is completed by the append of its last leaf,
// which first emits that leaf and then one subtree per level up to this one;
// everything before that append is PerfectSubtreeCount(last leaf's index).
uint64_t PostorderIndex(int level, uint64_t index) {
  uint64_t last_leaf = ((index + 1) << level) - 1;
  return PerfectSubtreeCount(last_leaf) + static_cast<uint64_t>(level);
}

Result<TreeBuilder> TreeBuilder::FromFrontier(uint64_t size, std::vector<Hash> peaks) {
  if (peaks.size() != static_cast<size_t>(std::popcount(size))) {
    return Status::InvalidArgument("a tree of " + std::to_string(size) + " leaves has " +
                                   std::to_string(std::popcount(size)) + " peaks, got " +
                                   std::to_string(peaks.size()));
  }
  return TreeBuilder(size, std::move(peaks));
}

Result<TreeBuilder> TreeBuilder::FromSource(const NodeSource& tree, uint64_t size) {
  if (size > tree.LeafCount()) {
    return Status::InvalidArgument("tree size " + std::to_string(size) + " exceeds the " +
                                   std::to_string(tree.LeafCount()) + " leaves held");
  }
  std::vector<Hash> peaks;
  for (int level = 63; level >= 0; --level) {
    if ((size >> level & 1) == 0) continue;
    Result<Hash> peak = tree.SubtreeHash(level, PeakStart(size, level) >> level);
    if (!peak.ok()) return peak.status();
    peaks.push_back(*peak);
  }
  return TreeBuilder(size, std::move(peaks));
}

void TreeBuilder::Append(const Hash& leaf_hash, std::vector<Subtree>* completed) {
  peaks_.push_back(leaf_hash);
  if (completed != nullptr) completed->push_back({0, size_, leaf_hash});
  uint64_t new_size = size_ + 1;
  int level = 0;
  for (uint64_t carry = size_; (carry & 1) != 0; carry >>= 1) {
    Hash right = peaks_.back();
    peaks_.pop_back();
    peaks_.back() = NodeHash(peaks_.back(), right);
    ++level;
    if (completed != nullptr) {
      completed->push_back({level, (new_size >> level) - 1, peaks_.back()});
    }
  }
  size_ = new_size;
}

// The RFC splits off the largest power of two first, so the tree over the
// peaks nests to the right: root = peak0 ⊕ (peak1 ⊕ (… ⊕ peakLast)).
Hash TreeBuilder::Root() const {
  if (peaks_.empty()) return EmptyRoot();
  Hash root = peaks_.back();
  for (size_t i = peaks_.size() - 1; i-- > 0;) root = NodeHash(peaks_[i], root);
  return root;
}

}  // namespace quipu::merkle
