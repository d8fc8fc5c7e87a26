// integrity/tree_proofs.h — the proofs a tree answers with, assembled from
// any NodeSource: shared by LogTree (over its spine) and TreeView (over the
// spine's synced part plus records hashed in memory).
#ifndef QUIPU_INTEGRITY_TREE_PROOFS_H_
#define QUIPU_INTEGRITY_TREE_PROOFS_H_

#include <cstdint>

#include "quipu/merkle.h"
#include "quipu/reader.h"
#include "quipu/tree.h"

namespace quipu::integrity {

// The inclusion proof of record `lsn` in the tree of the first `size`
// leaves of `tree` (size ≤ tree.LeafCount()). kInvalidArgument unless
// 1 ≤ lsn ≤ size.
Result<InclusionProof> AssembleInclusionProof(const merkle::NodeSource& tree, Lsn lsn,
                                              uint64_t size);

// The consistency proof between the trees of `old_size` and `new_size`
// leaves (new_size ≤ tree.LeafCount()). kInvalidArgument unless
// 0 < old_size ≤ new_size.
Result<ConsistencyProof> AssembleConsistencyProof(const merkle::NodeSource& tree, uint64_t old_size,
                                                  uint64_t new_size);

}  // namespace quipu::integrity

#endif  // QUIPU_INTEGRITY_TREE_PROOFS_H_
