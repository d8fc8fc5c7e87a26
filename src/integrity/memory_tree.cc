// integrity/memory_tree.cc — stores what TreeBuilder emits, level by level.
// Each level's subtrees complete in index order, so emission is push_back.
#include "integrity/memory_tree.h"

#include <string>

namespace quipu::merkle {

void MemoryTree::Append(const Hash& leaf_hash) {
  completed_.clear();
  builder_.Append(leaf_hash, &completed_);
  for (const Subtree& s : completed_) {
    if (levels_.size() <= static_cast<size_t>(s.level)) levels_.resize(s.level + 1);
    levels_[s.level].push_back(s.hash);
  }
}

Result<Hash> MemoryTree::SubtreeHash(int level, uint64_t index) const {
  if (level < 0 || static_cast<size_t>(level) >= levels_.size() || index >= levels_[level].size()) {
    return Status::InvalidArgument("no subtree at level " + std::to_string(level) + " index " +
                                   std::to_string(index));
  }
  return levels_[level][index];
}

}  // namespace quipu::merkle
