// integrity/verify.cc — proof verification, step for step RFC 9162 §2.1.3.2
// (inclusion) and §2.1.4.2 (consistency).
//
// Both walk the proof from the leaf end. fn is the position of the node being
// rebuilt at the current level and sn the position of the last node at that
// level; a proof hash goes on the left when fn is a right child (odd) or is
// the level's last node (then the proof hash is the whole left neighbour and
// fn climbs through levels where it has no sibling). Every level must use up
// exactly one proof hash, which is what pins the proof length: sn reaching 0
// too early or too late fails.
#include <string>

#include "quipu/merkle.h"

namespace quipu::merkle {
namespace {

// Right-shifts fn and sn together until fn is odd or zero: the levels on which
// the last node of a level is alone and passes up unchanged.
void ClimbPastLoneNodes(uint64_t& fn, uint64_t& sn) {
  while (fn != 0 && (fn & 1) == 0) {
    fn >>= 1;
    sn >>= 1;
  }
}

}  // namespace

Status VerifyInclusion(const Hash& leaf_hash, uint64_t index, uint64_t size,
                       const std::vector<Hash>& path, const Hash& root) {
  if (index >= size) {
    return Status::InvalidArgument("leaf index " + std::to_string(index) + " is not in a tree of " +
                                   std::to_string(size) + " leaves");
  }
  uint64_t fn = index;
  uint64_t sn = size - 1;
  Hash r = leaf_hash;
  for (const Hash& p : path) {
    if (sn == 0) return Status::Corruption("inclusion proof has too many hashes");
    if ((fn & 1) != 0 || fn == sn) {
      r = NodeHash(p, r);
      if ((fn & 1) == 0) ClimbPastLoneNodes(fn, sn);
    } else {
      r = NodeHash(r, p);
    }
    fn >>= 1;
    sn >>= 1;
  }
  if (sn != 0) return Status::Corruption("inclusion proof has too few hashes");
  if (r != root) return Status::Corruption("inclusion proof does not lead to the root");
  return Status::OK();
}

Status VerifyConsistency(uint64_t old_size, uint64_t new_size, const Hash& old_root,
                         const Hash& new_root, const std::vector<Hash>& proof) {
  if (old_size == 0 || old_size > new_size) {
    return Status::InvalidArgument("no consistency proof from size " + std::to_string(old_size) +
                                   " to size " + std::to_string(new_size));
  }
  if (old_size == new_size) {
    if (!proof.empty()) return Status::Corruption("consistency proof for equal sizes not empty");
    if (old_root != new_root) return Status::Corruption("different roots for the same size");
    return Status::OK();
  }
  if (proof.empty()) return Status::Corruption("consistency proof is empty");
  // When the old tree is a perfect subtree of the new one, its root is the
  // proof's implicit first hash (the RFC prepends it).
  bool old_is_perfect = (old_size & (old_size - 1)) == 0;
  size_t next = old_is_perfect ? 0 : 1;
  Hash fr = old_is_perfect ? old_root : proof[0];
  Hash sr = fr;
  uint64_t fn = old_size - 1;
  uint64_t sn = new_size - 1;
  while ((fn & 1) != 0) {
    fn >>= 1;
    sn >>= 1;
  }
  for (; next < proof.size(); ++next) {
    const Hash& c = proof[next];
    if (sn == 0) return Status::Corruption("consistency proof has too many hashes");
    if ((fn & 1) != 0 || fn == sn) {
      fr = NodeHash(c, fr);
      sr = NodeHash(c, sr);
      if ((fn & 1) == 0) ClimbPastLoneNodes(fn, sn);
    } else {
      sr = NodeHash(sr, c);
    }
    fn >>= 1;
    sn >>= 1;
  }
  if (sn != 0) return Status::Corruption("consistency proof has too few hashes");
  if (fr != old_root) return Status::Corruption("consistency proof does not lead to the old root");
  if (sr != new_root) return Status::Corruption("consistency proof does not lead to the new root");
  return Status::OK();
}

}  // namespace quipu::merkle
