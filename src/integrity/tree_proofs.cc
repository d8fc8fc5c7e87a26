#include "integrity/tree_proofs.h"

#include <string>
#include <utility>

namespace quipu::integrity {

Result<InclusionProof> AssembleInclusionProof(const merkle::NodeSource& tree, Lsn lsn,
                                              uint64_t size) {
  if (lsn == 0 || lsn > size) {
    return Status::InvalidArgument("LSN " + std::to_string(lsn) + " is not in the tree of size " +
                                   std::to_string(size));
  }
  InclusionProof proof;
  proof.leaf_index = lsn - 1;
  proof.tree_size = size;
  auto leaf = tree.SubtreeHash(0, proof.leaf_index);
  if (!leaf.ok()) return leaf.status();
  proof.leaf_hash = *leaf;
  auto path = merkle::ProveInclusion(tree, proof.leaf_index, size);
  if (!path.ok()) return path.status();
  proof.path = std::move(*path);
  auto root = merkle::RootHash(tree, size);
  if (!root.ok()) return root.status();
  proof.root = *root;
  return proof;
}

Result<ConsistencyProof> AssembleConsistencyProof(const merkle::NodeSource& tree, uint64_t old_size,
                                                  uint64_t new_size) {
  if (old_size == 0 || old_size > new_size) {
    return Status::InvalidArgument("consistency needs 0 < old size (" + std::to_string(old_size) +
                                   ") ≤ new size (" + std::to_string(new_size) + ")");
  }
  ConsistencyProof proof;
  proof.old_size = old_size;
  proof.new_size = new_size;
  auto old_root = merkle::RootHash(tree, old_size);
  if (!old_root.ok()) return old_root.status();
  proof.old_root = *old_root;
  auto new_root = merkle::RootHash(tree, new_size);
  if (!new_root.ok()) return new_root.status();
  proof.new_root = *new_root;
  auto hashes = merkle::ProveConsistency(tree, old_size, new_size);
  if (!hashes.ok()) return hashes.status();
  proof.proof = std::move(*hashes);
  return proof;
}

}  // namespace quipu::integrity
