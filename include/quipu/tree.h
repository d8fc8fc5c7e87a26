// quipu/tree.h — the Merkle tree over a log, kept on disk, and its checks.
//
// Every record of a log is one leaf of an RFC 6962 tree (quipu/merkle.h), in
// LSN order: LSN i is leaf i − 1, its hash LeafHash(payload). A LogTree keeps
// the hash of every perfect subtree in the file DIR/SPINE (docs/format.md), so
// the root of any size and any proof cost O(log n) reads, need no payloads,
// and keep working for records whose segments are gone.
//
// Every log keeps one: Log::Open opens the tree with the log (options in
// LogOptions::tree) and Log::tree() returns it, so no writer — a Log, an
// AuditStore, the CLI — can append records the tree does not follow.
//
// Hashing is off the append path: a background thread (the follower) reads
// records the log has flushed and appends their hashes to the spine. Size()
// is how far it has got; CatchUp() waits until it has hashed everything
// appended so far. Appends never wait for the tree.
//
// Crash consistency. The spine records how many leaves it has synced, and
// syncs only leaves whose records are durable in the log (≤ DurableLsn()).
// The follower raises that claim to the durable watermark at most every
// TreeOptions::spine_sync_interval, when it passes the end of a sealed
// segment, before every checkpoint and at Close(), so the synced tree
// trails the durable log by about that interval. Open() trusts only the
// synced leaves and recomputes the rest from the recovered records, so after
// any crash the tree covers exactly the recovered log. If the spine has
// synced more leaves than the recovered log holds, records the tree vouched
// for are gone: Open() fails with kCorruption instead of shrinking the tree.
// (A legal power cut never does this; a kSalvage recovery or a truncated log
// does.)
//
// Failures. A failed fdatasync of the spine, or an error that stops the
// follower (a record it cannot read), poisons the log as a failed sync of a
// segment does: every later Append, Flush, Sync and wait of the Log returns
// it. A full disk only pauses the follower until space returns.
//
// Checkpoints (quipu/checkpoint.h). With a signing key, WriteCheckpoint()
// signs (time, size, root) for the durable prefix of the log and appends it
// to DIR/CHECKPOINTS; with checkpoint_on_seal the follower writes one each
// time it passes a sealed segment's end. After each checkpoint the optional
// anchor hook runs on that thread (never an appender's); its failures are
// counted in Stats() and passed to on_background_error, never to writers.
//
// VerifyIntegrity() checks a directory without opening anything for writing:
// every record's leaf hash against the spine, every interior node against its
// children, the segment chain, and every checkpoint (signature and root).
//
// Thread safety: all LogTree methods may be called concurrently, except
// that nothing may run concurrently with the Log's Close(), which closes
// the tree (after making every record durable and hashed). A LogTree* from
// Log::tree() is valid as long as the Log; after Close its calls return
// FailedPrecondition.
#ifndef QUIPU_TREE_H_
#define QUIPU_TREE_H_

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "quipu/checkpoint.h"
#include "quipu/merkle.h"
#include "quipu/reader.h"
#include "quipu/status.h"

namespace quipu {

class Env;
class Log;

inline constexpr std::string_view kSpineFileName = "SPINE";

// PATH(leaf_index, D[tree_size]) with everything a verifier needs:
// merkle::VerifyInclusion(leaf_hash, leaf_index, tree_size, path, root).
struct InclusionProof {
  uint64_t leaf_index = 0;  // LSN − 1
  uint64_t tree_size = 0;
  merkle::Hash leaf_hash;
  std::vector<merkle::Hash> path;
  merkle::Hash root;
};

// PROOF(old_size, D[new_size]): merkle::VerifyConsistency(old_size,
// new_size, old_root, new_root, proof).
struct ConsistencyProof {
  uint64_t old_size = 0;
  uint64_t new_size = 0;
  merkle::Hash old_root;
  merkle::Hash new_root;
  std::vector<merkle::Hash> proof;
};

// How a log keeps its tree (LogOptions::tree). The tree's files go through
// the log's Env.
struct TreeOptions {
  // The checkpoint key: a loaded key, or a PEM file to load at Open. Neither
  // means no checkpoints (everything else works). Setting both is an error.
  std::optional<SigningKey> signing_key;
  std::optional<std::string> signing_key_path;
  // Write a checkpoint each time the follower passes a sealed segment's end.
  bool checkpoint_on_seal = true;
  // Runs after each checkpoint is appended, with its CheckpointToJson line:
  // publish it somewhere the store's owner cannot rewrite.
  std::function<Status(const Checkpoint&, const std::string& json)> anchor;
  // Told about every background failure (follower I/O, checkpoint, anchor).
  // Runs on the follower thread or the thread that wrote the checkpoint.
  std::function<void(const Status&)> on_background_error;
  // How long the follower sleeps when it has hashed everything flushed.
  // CatchUp() wakes it at once.
  std::chrono::milliseconds poll_interval{10};
  // Longest time between two raises of the spine's synced claim to the log's
  // durable watermark (each costs two fdatasyncs of SPINE). 0 syncs at every
  // pass of the follower.
  std::chrono::milliseconds spine_sync_interval{50};
};

struct TreeStats {
  uint64_t size = 0;                // leaves hashed and written to the spine
  uint64_t synced_size = 0;         // leaves recorded as synced
  uint64_t recomputed_at_open = 0;  // leaves rehashed because they were not synced
  uint64_t spine_syncs = 0;
  uint64_t checkpoints = 0;  // written since Open
  uint64_t checkpoint_failures = 0;
  uint64_t anchor_failures = 0;
  Status last_anchor_error;  // OK if the last anchor call succeeded (or none ran)
  Status follower_error;     // the error that stopped the follower, OK if running
};

// What VerifyIntegrity looked at.
struct VerifyReport {
  uint64_t records = 0;  // records read and rehashed
  Lsn first_lsn = 0;     // 0 for an empty log
  // Records 1..purged were purged (Log::DropSegmentsBefore): their leaves
  // come from the spine, whose nodes over them were checked against each
  // other and against the checkpoints of those sizes.
  uint64_t purged = 0;
  Lsn last_lsn = 0;
  merkle::Hash root;          // MTH of all records, recomputed from payloads
  uint64_t spine_leaves = 0;  // leaves the spine holds
  uint64_t spine_synced = 0;  // of which recorded as synced
  // Records compared with their leaf in the spine: LSN 1..covered (the
  // purged ones among them, if any, by their leaves alone). Records
  // after them are newer than the tree (a writer's follower had not reached
  // them, or a crash left them to be rehashed by the next open) and were
  // checked by CRC and checkpoints only.
  uint64_t covered = 0;
  uint64_t checkpoints = 0;         // checkpoints checked
  uint64_t checkpoint_size = 0;     // the largest tree size a checkpoint signs
  bool signatures_checked = false;  // a public key was given
  // The CHECKPOINTS file ended in a line without its newline. If that line
  // held a whole checkpoint it was checked (and counted) like the others;
  // otherwise its bytes, a torn append, were ignored.
  bool torn_checkpoint_line = false;
  bool torn_checkpoint_checked = false;
};

// Progress of VerifyIntegrity, for a terminal: bytes of segment files read so
// far out of all of them, and records checked.
struct VerifyProgress {
  uint64_t records = 0;
  uint64_t bytes_done = 0;
  uint64_t bytes_total = 0;
};

struct VerifyOptions {
  // nullptr means Env::Default().
  Env* env = nullptr;
  // PEM public key ("BEGIN PUBLIC KEY"); without it checkpoint roots are
  // still checked against the records, their signatures not.
  std::optional<std::string> public_key_path;
  // Called every few thousand records and once at the end.
  std::function<void(const VerifyProgress&)> progress;
};

// Checks the log in `dir` against its spine and checkpoints, opening nothing
// for writing and taking no lock (safe beside a running writer, of which it
// checks a moment). Returns the report, or kCorruption naming the first
// break: the LSN, segment file and byte offset of the record where the log
// and the tree first disagree (a changed, missing or reordered record, a
// spine node that is not the hash of its children, a segment chain with a
// hole, a checkpoint whose signature fails, whose root differs from the
// records' at its size, or whose size exceeds the log), or a log with
// records and no SPINE (every writer keeps one, so it was removed).
// kNotFound for a directory that holds no log. kFailedPrecondition when a
// public key was given but no checkpoint is signed: nothing could be checked
// against it. Other failures (I/O) as usual.
Result<VerifyReport> VerifyIntegrity(const std::string& dir, const VerifyOptions& options);

// The tree of a log, from Log::tree(). Log::Open opens it: it creates the
// spine if missing, checks it against the recovered log and starts the
// follower. Open errors (returned by Log::Open): kCorruption if the spine is
// damaged, vouches for more records than the log holds, or disagrees with
// the last synced record; a bad key.
class LogTree {
 public:
  virtual ~LogTree() = default;

  // Leaves hashed so far (may lag the log). Lock-free.
  virtual uint64_t Size() const = 0;

  // Flushes the log and returns once every record appended before the call
  // is in the tree; or the follower's error.
  virtual Status CatchUp() = 0;

  // MTH of the first `size` leaves; without a size, CatchUp() and then the
  // whole tree. A size beyond the log is kInvalidArgument.
  virtual Result<merkle::Hash> Root(std::optional<uint64_t> size = std::nullopt) = 0;
  // Proves the record `lsn` is in the tree of `size` leaves (default: all
  // of them after CatchUp()). kInvalidArgument unless 1 ≤ lsn ≤ size.
  virtual Result<InclusionProof> ProveInclusion(Lsn lsn,
                                                std::optional<uint64_t> size = std::nullopt) = 0;
  // Proves the tree of old_size leaves is a prefix of the one of new_size
  // (default: all after CatchUp()). Needs 0 < old_size ≤ new_size.
  virtual Result<ConsistencyProof> ProveConsistency(
      uint64_t old_size, std::optional<uint64_t> new_size = std::nullopt) = 0;

  // Hashes up to the log's DurableLsn(), syncs the spine, signs (now, size,
  // root), appends it to DIR/CHECKPOINTS and runs the anchor hook (whose
  // failure is counted, not returned). FailedPrecondition without a key.
  virtual Result<Checkpoint> WriteCheckpoint() = 0;

  // VerifyIntegrity(dir, options) on this tree's directory after CatchUp(),
  // with this tree's Env when options.env is null.
  virtual Result<VerifyReport> VerifyIntegrity(const VerifyOptions& options) = 0;

  virtual TreeStats Stats() const = 0;
};

}  // namespace quipu

#endif  // QUIPU_TREE_H_
