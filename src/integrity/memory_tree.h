// integrity/memory_tree.h — a NodeSource that keeps every perfect subtree in
// memory. For tests, and as the model a disk spine must behave like.
//
// Thread safety: none; use from one thread or lock externally.
#ifndef QUIPU_INTEGRITY_MEMORY_TREE_H_
#define QUIPU_INTEGRITY_MEMORY_TREE_H_

#include <cstdint>
#include <string_view>
#include <vector>

#include "quipu/merkle.h"

namespace quipu::merkle {

class MemoryTree : public NodeSource {
 public:
  void Append(const Hash& leaf_hash);
  void AppendPayload(std::string_view payload) { Append(LeafHash(payload)); }

  uint64_t LeafCount() const override { return builder_.size(); }
  // kInvalidArgument for a subtree the tree does not (yet) hold.
  Result<Hash> SubtreeHash(int level, uint64_t index) const override;

  Hash Root() const { return builder_.Root(); }

 private:
  TreeBuilder builder_;
  std::vector<std::vector<Hash>> levels_;  // levels_[l][i] = subtree (l, i)
  std::vector<Subtree> completed_;         // scratch for Append
};

}  // namespace quipu::merkle

#endif  // QUIPU_INTEGRITY_MEMORY_TREE_H_
