// quipu/options.h — how a log is opened, and the one home of its durability policy.
//
// A record moves through three places: quipu's user-space buffer, the OS page
// cache (after write(2), "flushed"), and stable storage (after fdatasync,
// "durable"). A process crash (SIGKILL) loses only what is still in the
// buffer; a power loss also loses what is only in the page cache. The policy
// decides when the last step runs, and so how much a power loss can take.
//
//   Always                 Every append is durable before Append returns.
//                          Concurrent appenders share an fdatasync (one in
//                          flight, the next group forming). Loss: nothing
//                          acknowledged, on process crash or power loss.
//   EveryN(n)              Every n-th append syncs before it returns; other
//                          appends stay in the buffer. Loss on power loss or
//                          process crash: at most n-1 acknowledged records.
//   EveryNOrInterval(n,t)  As EveryN(n), and a background timer syncs once the
//                          oldest unsynced append is t old, even if no further
//                          append comes. Loss: at most n-1 records and at most
//                          t plus one fdatasync of time.
//   GroupCommit(d)         Like Always, but the thread that leads a group may
//                          wait up to d for more appenders to join before it
//                          syncs (d = 0: no fixed wait; the group is whoever
//                          arrived while the previous fdatasync ran, plus the
//                          writers it released once they append again, which
//                          Always and GroupCommit wait for up to a quarter of
//                          that fdatasync). Loss: nothing acknowledged.
//   OsManaged              Never fdatasync on its own: the buffer is written at
//                          buffer boundaries and on Flush(); segments are
//                          synced when sealed and on Close(). Loss on power
//                          loss: unbounded until OS writeback. On process
//                          crash: what is in the buffers (at most two:
//                          one filling, one being written in the background).
//
// Whatever the policy, Append with Durability::kImmediate returns only once
// that record, and every record before it, is durable; Close() syncs all.
#ifndef QUIPU_OPTIONS_H_
#define QUIPU_OPTIONS_H_

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "quipu/status.h"
#include "quipu/tree.h"

namespace quipu {

class Env;

class DurabilityPolicy {
 public:
  enum class Kind { kAlways, kEveryN, kEveryNOrInterval, kGroupCommit, kOsManaged };

  static DurabilityPolicy Always() { return DurabilityPolicy(Kind::kAlways, 0, {}); }
  static DurabilityPolicy EveryN(uint32_t n) { return DurabilityPolicy(Kind::kEveryN, n, {}); }
  static DurabilityPolicy EveryNOrInterval(uint32_t n, std::chrono::microseconds interval) {
    return DurabilityPolicy(Kind::kEveryNOrInterval, n, interval);
  }
  static DurabilityPolicy GroupCommit(std::chrono::microseconds max_delay = {}) {
    return DurabilityPolicy(Kind::kGroupCommit, 0, max_delay);
  }
  static DurabilityPolicy OsManaged() { return DurabilityPolicy(Kind::kOsManaged, 0, {}); }

  // Parses the CLI spelling: "always", "every:N", "every:N,MS", "group",
  // "group:MS", "os". MS is milliseconds. Rejects n = 0 and unknown words.
  static Result<DurabilityPolicy> Parse(std::string_view spec);
  // The CLI spelling, e.g. "every:64,20".
  std::string ToString() const;

  Kind kind() const { return kind_; }
  // EveryN, EveryNOrInterval: appends per fdatasync.
  uint32_t n() const { return n_; }
  // EveryNOrInterval: the timer bound. GroupCommit: the gather delay.
  std::chrono::microseconds interval() const { return interval_; }

  // True when an append under this policy is durable before it returns.
  bool SyncsEveryAppend() const { return kind_ == Kind::kAlways || kind_ == Kind::kGroupCommit; }

  // Checks the parameters (n >= 1, non-negative times).
  Status Validate() const;

 private:
  DurabilityPolicy(Kind kind, uint32_t n, std::chrono::microseconds interval)
      : kind_(kind), n_(n), interval_(interval) {}

  Kind kind_;
  uint32_t n_;
  std::chrono::microseconds interval_;
};

// Per-append override of the log's policy.
enum class Durability {
  kPolicy,     // Do what the log's policy says.
  kImmediate,  // Durable (with everything before it) before Append returns.
  kBuffered,   // Never wait: buffer it and return. The caller learns when it
               // is durable from DurableLsn()/WaitDurable(). Counts toward
               // EveryN's n and the interval timer like any other append.
};

// What Open does with a damaged log.
enum class RecoveryMode {
  // A torn or checksum-failing tail of the newest segment (bytes that were
  // never synced) is cut back to the last whole record and reported. Damage
  // anywhere else, including to synced bytes of the newest segment, fails Open
  // with an error naming the file and offset.
  kTolerateTornTail,
  // Keep the longest valid prefix of the log, whatever follows it: damage is
  // cut away (later segments removed) and reported. For a human who has read
  // the kTolerateTornTail error and accepts the loss.
  kSalvage,
};

// What a log's records are. Every segment header records it
// (docs/format.md), and Open refuses a log of another kind, so that records
// of one kind never land in a log of the other (an audit store's log holds
// only audit records: a plain record there would make the store unreadable).
enum class LogKind : uint8_t {
  kPlain = 1,       // whatever the caller appends (Log, `quipu ingest`)
  kAuditStore = 2,  // audit store records (AuditStore, `quipu emit`)
};

// "plain log" or "audit store", for messages.
std::string_view LogKindName(LogKind kind);

struct LogOptions {
  // Where the bytes go. nullptr means Env::Default().
  Env* env = nullptr;
  // Written into the segments of a new log; an existing log of another kind
  // is refused with FailedPrecondition. Logs written before kinds were
  // recorded accept either, and new segments carry the kind of the writer.
  LogKind kind = LogKind::kPlain;
  DurabilityPolicy durability = DurabilityPolicy::Always();
  // A segment is sealed and a new one started before it would exceed this.
  uint64_t segment_size = 64ull << 20;
  // Largest payload Append accepts; larger is InvalidArgument.
  uint32_t max_record_size = 1u << 20;
  // User-space buffer; when full, a flusher thread writes it to the OS while
  // appends fill a second one of the same size.
  size_t buffer_size = 256u << 10;
  bool create_if_missing = true;
  RecoveryMode recovery = RecoveryMode::kTolerateTornTail;
  // Check every record's CRC in sealed segments during Open (the newest
  // segment is always fully checked). Off makes Open of a large log O(newest
  // segment); damage in sealed segments is then found by readers and `check`.
  bool verify_sealed_segments = true;
  // How the log's Merkle tree is kept: checkpoint signing key, anchor hook,
  // how closely the spine follows the durable watermark (quipu/tree.h).
  TreeOptions tree;
  // Open removes every record after this LSN before anything else: the
  // unacknowledged tail of a replica whose group never committed it
  // (docs/replication.md). The records go from the segments and their leaves
  // from the tree (even leaves the spine had synced), and the cut is
  // reported (RecoveryReport) and journalled as any other. A crash during
  // the cut is finished by the next Open given the same LSN. Refused
  // (FailedPrecondition, nothing changed) below the log's first LSN − 1 or
  // below a signed checkpoint's size. Unset: nothing is removed.
  std::optional<Lsn> discard_after;

  // Checks sizes and the policy against each other.
  Status Validate() const;
};

}  // namespace quipu

#endif  // QUIPU_OPTIONS_H_
