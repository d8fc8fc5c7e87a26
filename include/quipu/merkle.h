// quipu/merkle.h — the RFC 6962 / RFC 9162 §2.1 Merkle tree: hashes, roots,
// inclusion and consistency proofs, and their verification. No I/O.
//
// The tree over leaves d[0..n) is exactly the RFC's:
//   MTH({})     = SHA-256()                                  EmptyRoot()
//   MTH({d})    = SHA-256(0x00 ‖ d)                          LeafHash(d)
//   MTH(D[n])   = SHA-256(0x01 ‖ MTH(D[0:k]) ‖ MTH(D[k:n]))  NodeHash(l, r)
// where k is the largest power of two smaller than n. The 0x00/0x01 prefixes
// keep a leaf from ever being mistaken for an interior node.
//
// Where the hashes live. Every root and proof of a tree of size n can be
// assembled from the hashes of *perfect* subtrees: 2^level leaves starting at
// a multiple of 2^level. A NodeSource serves those (from memory, or from a
// spine file on disk); RootHash/ProveInclusion/ProveConsistency then need
// O(log n) of them. TreeBuilder produces every perfect subtree exactly once,
// in post-order, as leaves are appended: that stream is what a store persists.
//
// Errors: functions that read a NodeSource pass its failures through. Bad
// arguments (index ≥ size, old_size > new_size, a size the source does not
// hold) are kInvalidArgument. A proof that does not verify is kCorruption:
// the data or the proof is not what the log committed to.
//
// Thread safety: everything here is a value or a pure function, except that
// a TreeBuilder needs external synchronization like any mutable object.
#ifndef QUIPU_MERKLE_H_
#define QUIPU_MERKLE_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "quipu/status.h"

namespace quipu::merkle {

// A SHA-256 digest: a leaf hash, an interior node hash or a tree root.
class Hash {
 public:
  static constexpr size_t kSize = 32;
  using Bytes = std::array<uint8_t, kSize>;

  Hash() = default;  // all zero bytes: a placeholder, not the hash of anything
  explicit Hash(const Bytes& bytes) : bytes_(bytes) {}

  // `bytes` must be exactly kSize raw bytes (as written by AsBytes()).
  static Result<Hash> FromBytes(std::string_view bytes);
  // `hex` must be exactly 64 hex digits, either case.
  static Result<Hash> FromHex(std::string_view hex);

  const Bytes& bytes() const { return bytes_; }
  // The raw 32 bytes, e.g. for writing to a file. Valid while *this lives.
  std::string_view AsBytes() const { return {reinterpret_cast<const char*>(bytes_.data()), kSize}; }
  std::string ToHex() const;  // 64 lowercase hex digits

  friend bool operator==(const Hash&, const Hash&) = default;

 private:
  Bytes bytes_{};
};

// OK if this process's OpenSSL can compute SHA-256; kNotSupported, saying
// so, if its configuration offers none. LeafHash, NodeHash and EmptyRoot
// return plain values and abort the process, printing nothing, if SHA-256
// fails; after this check passed that can only be memory exhaustion.
// LogTree::Open, TreeView::Open and VerifyIntegrity call it first; code
// that hashes without them should too.
Status CheckSha256();

// SHA-256(0x00 ‖ payload): the leaf hash of a record, over its payload exactly
// as appended.
Hash LeafHash(std::string_view payload);
// SHA-256(0x01 ‖ left ‖ right).
Hash NodeHash(const Hash& left, const Hash& right);
// SHA-256 of the empty string: the root of the tree with no leaves.
Hash EmptyRoot();

// Post-order position of the perfect subtree (level, index): the number of
// perfect subtrees TreeBuilder emits before it. A spine can store hashes in
// one flat array in emission order and find any node in O(1).
uint64_t PostorderIndex(int level, uint64_t index);
// How many perfect subtrees a tree of `size` leaves has (2·size − popcount):
// the length of that flat array after `size` appends.
uint64_t PerfectSubtreeCount(uint64_t size);

// One perfect subtree: leaves [index·2^level, (index+1)·2^level).
// Level 0 is a single leaf and its hash is the leaf hash.
struct Subtree {
  int level = 0;
  uint64_t index = 0;
  Hash hash;

  friend bool operator==(const Subtree&, const Subtree&) = default;
};

// Serves the hashes of perfect subtrees of one append-only tree.
class NodeSource {
 public:
  virtual ~NodeSource() = default;

  // Number of leaves the source holds; only perfect subtrees inside
  // [0, LeafCount()) may be asked for.
  virtual uint64_t LeafCount() const = 0;

  // The hash of the perfect subtree (level, index). Callers only ask for
  // subtrees inside [0, LeafCount()) and with 0 ≤ level < 64. A failure
  // (I/O, a short or corrupt spine file) is returned and passed through
  // unchanged by the functions below.
  virtual Result<Hash> SubtreeHash(int level, uint64_t index) const = 0;
};

// MTH of the first `size` leaves of `tree` (EmptyRoot() when size is 0).
// Reads popcount(size) ≤ 64 subtree hashes.
Result<Hash> RootHash(const NodeSource& tree, uint64_t size);

// The RFC audit path PATH(index, D[size]): sibling hashes from the leaf up.
// Requires index < size ≤ tree.LeafCount(). Reads O(log size) hashes.
Result<std::vector<Hash>> ProveInclusion(const NodeSource& tree, uint64_t index, uint64_t size);

// The RFC consistency proof PROOF(old_size, D[new_size]). Requires
// 0 < old_size ≤ new_size ≤ tree.LeafCount(); the proof is empty when the
// sizes are equal. Reads O(log new_size) hashes.
Result<std::vector<Hash>> ProveConsistency(const NodeSource& tree, uint64_t old_size,
                                           uint64_t new_size);

// RFC 9162 §2.1.3.2: OK iff `path` proves that `leaf_hash` is leaf `index`
// of the tree of `size` leaves whose root is `root`; kCorruption otherwise,
// kInvalidArgument if index ≥ size.
//
// Note that the proof authenticates the size only through the root: some
// other size gives the same path shape (leaf 0 of sizes 3 and 4, say). A root
// must therefore always be trusted together with its size — as a signed
// checkpoint holds them.
Status VerifyInclusion(const Hash& leaf_hash, uint64_t index, uint64_t size,
                       const std::vector<Hash>& path, const Hash& root);

// RFC 9162 §2.1.4.2: OK iff `proof` proves that the tree of `old_size` leaves
// with root `old_root` is a prefix of the tree of `new_size` leaves with root
// `new_root`; kCorruption otherwise. Requires 0 < old_size ≤ new_size
// (kInvalidArgument); with equal sizes the proof must be empty and the roots
// equal. The same caveat about sizes applies as for VerifyInclusion.
Status VerifyConsistency(uint64_t old_size, uint64_t new_size, const Hash& old_root,
                         const Hash& new_root, const std::vector<Hash>& proof);

// Builds a tree incrementally from leaf hashes with O(log n) state: the
// frontier, i.e. the hashes of the perfect subtrees of the binary
// decomposition of size() (its "peaks", largest and leftmost first).
class TreeBuilder {
 public:
  TreeBuilder() = default;  // the empty tree

  // Resumes a tree of `size` leaves from its peaks (as frontier() returned
  // them). kInvalidArgument unless peaks.size() == popcount(size).
  static Result<TreeBuilder> FromFrontier(uint64_t size, std::vector<Hash> peaks);
  // Resumes from the first `size` leaves of `tree`: popcount(size) reads.
  static Result<TreeBuilder> FromSource(const NodeSource& tree, uint64_t size);

  // Appends one leaf. If `completed` is non-null, the perfect subtrees this
  // append completes are appended to it in post-order: the leaf itself
  // (level 0) first, then each larger subtree it closes. Over all appends
  // that is every perfect subtree once, in PostorderIndex order.
  void Append(const Hash& leaf_hash, std::vector<Subtree>* completed = nullptr);

  uint64_t size() const { return size_; }
  const std::vector<Hash>& frontier() const { return peaks_; }
  // MTH of all leaves appended so far. O(log n) hashing, no allocation.
  Hash Root() const;

 private:
  TreeBuilder(uint64_t size, std::vector<Hash> peaks) : size_(size), peaks_(std::move(peaks)) {}

  uint64_t size_ = 0;
  std::vector<Hash> peaks_;
};

}  // namespace quipu::merkle

#endif  // QUIPU_MERKLE_H_
