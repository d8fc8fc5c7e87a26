// quipu/tree_view.h — a read-only view of a log's Merkle tree, for roots and
// proofs beside the process that writes the log.
//
// A LogTree (quipu/tree.h) needs the open Log, and so the writer lock. A
// TreeView needs neither: it takes no lock and changes no file. At Open it
// reads the spine's header, trusts the leaves recorded as synced (checking
// the last of them against its record, as LogTree::Open does), and hashes
// the records after them — read with OpenLogReader, so up to a torn or
// unfinished last frame — into memory. The view is the tree of exactly the
// records readable at that moment; it does not follow later appends.
//
// Cost: Open reads and hashes the records past the spine's last sync (at
// most about one segment while a writer keeps its tree, the whole log if no
// tree was ever kept) and holds two hashes per such record in memory; after
// that every root and proof is O(log n) reads, as with a LogTree.
//
// Errors at Open: kNotFound if `dir` holds no log; kCorruption if the spine is
// damaged, vouches for more records than the log holds, or disagrees with the
// last synced record (`quipu verify` says more); those of OpenLogReader.
//
// Thread safety: the methods are const and may be called concurrently.
#ifndef QUIPU_TREE_VIEW_H_
#define QUIPU_TREE_VIEW_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "quipu/merkle.h"
#include "quipu/reader.h"
#include "quipu/status.h"
#include "quipu/tree.h"

namespace quipu {

class Env;

class TreeView {
 public:
  // `env` nullptr means Env::Default().
  static Result<std::unique_ptr<TreeView>> Open(const std::string& dir, Env* env = nullptr);

  virtual ~TreeView() = default;

  // Leaves in the view: the records readable when it was opened.
  virtual uint64_t Size() const = 0;
  // As LogTree's, over the view: no size means Size(); a size beyond it is
  // kInvalidArgument.
  virtual Result<merkle::Hash> Root(std::optional<uint64_t> size = std::nullopt) const = 0;
  virtual Result<InclusionProof> ProveInclusion(
      Lsn lsn, std::optional<uint64_t> size = std::nullopt) const = 0;
  virtual Result<ConsistencyProof> ProveConsistency(
      uint64_t old_size, std::optional<uint64_t> new_size = std::nullopt) const = 0;
};

}  // namespace quipu

#endif  // QUIPU_TREE_VIEW_H_
