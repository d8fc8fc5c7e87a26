// quipu/log.h — the durable append-only log.
//
// A Log is a directory of segment files holding CRC-framed records numbered by
// dense LSNs from 1 (format: docs/format.md). Records are appended, never
// changed; when a segment would outgrow LogOptions::segment_size it is synced,
// sealed for good, and a new one begun.
//
// Every log keeps an RFC 6962 Merkle tree over its records (quipu/tree.h):
// Open opens it with the log (LogOptions::tree), tree() returns it, and
// Close() closes it after making every record durable and hashed. A failure
// of the tree (a failed fdatasync of its spine) poisons the log like a failed
// sync of a segment.
//
// Durability follows LogOptions::durability (see quipu/options.h) with a
// per-append override. DurableLsn() is the watermark: every record with an LSN
// at or below it has reached stable storage, together with the metadata needed
// to find it (file size, directory entry).
//
// Failure rules:
//   - A failed fdatasync (or a write failure other than a full disk) poisons
//     the log: that error is returned by every later Append, Flush, Sync and
//     WaitDurable. The failed sync is never retried; reopen to recover.
//   - A full disk fails the Append that needed space with Status::NoSpace; the
//     log stays consistent and appends work again once space is freed.
//     Records appended before stay buffered and are not lost by the process.
//   - Open recovers per LogOptions::recovery and reports what it dropped.
//
// One process at a time may open a directory: Open takes a lock file and a
// second opener gets Status::Busy naming the holder's pid.
//
// Thread safety: all methods may be called concurrently from any thread,
// except that nothing may run concurrently with Close(). After Close(),
// DurableLsn, LastLsn, Stats and Recovery report the final state; every other
// call returns FailedPrecondition.
#ifndef QUIPU_LOG_H_
#define QUIPU_LOG_H_

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "quipu/options.h"
#include "quipu/reader.h"
#include "quipu/status.h"

namespace quipu {

// What Open found and did. All zero for a clean log.
struct RecoveryReport {
  uint64_t dropped_bytes = 0;     // bytes cut from the end of the log
  uint64_t dropped_segments = 0;  // whole segment files removed (salvage, unfinished rotation)
  std::string file;               // segment that was cut, empty if none
  uint64_t offset = 0;            // offset in `file` where the cut was made
  std::string reason;             // why, e.g. "torn frame: length runs past end of file"
  // Records removed because LogOptions::discard_after asked for it (their
  // bytes are counted in dropped_bytes too).
  uint64_t discarded_records = 0;
};

// Where a purged log starts (Log::DropSegmentsBefore): the base LSN of its
// first segment, and the note the purge left with it.
struct PurgeMarker {
  Lsn first_kept = 1;
  std::string note;
};

// One segment file of a log (Log::Segments): where it starts and how many
// bytes it holds. Every segment but the last is sealed.
struct SegmentInfo {
  Lsn base_lsn = 0;
  uint64_t bytes = 0;
};

// Counters since Open, for tests, benchmarks and `quipu stat`.
struct LogStats {
  uint64_t appends = 0;
  uint64_t syncs = 0;   // fdatasync calls on segment files
  uint64_t writes = 0;  // write(2) batches handed to the OS
  uint64_t bytes_written = 0;
  uint64_t rotations = 0;
  Lsn first_lsn = 0;    // 0 when the log is empty
  Lsn last_lsn = 0;     // last LSN appended (maybe not yet durable)
  Lsn flushed_lsn = 0;  // last LSN handed to the OS
  Lsn durable_lsn = 0;
  uint64_t segments = 0;
};

class LogTree;

class Log {
 public:
  // Opens (creating if allowed) the log in `dir`, recovers it and opens its
  // tree. Options and the signing key are checked before anything is
  // created. A missing or empty directory becomes a new log; one holding
  // other files and no log is refused (FailedPrecondition), as is a log of
  // another LogKind.
  static Result<std::unique_ptr<Log>> Open(const std::string& dir, const LogOptions& options);

  // Closes the log if Close() was not called; errors are lost, so prefer Close().
  virtual ~Log() = default;

  // Appends one record and returns its LSN. Blocks as long as `durability`
  // (and the log's policy) require; see quipu/options.h.
  // Errors: InvalidArgument for a payload over max_record_size (nothing
  // appended); NoSpace when the disk is full (nothing appended); the poison
  // error; FailedPrecondition after Close. If a sync this append waited for
  // fails, the record has an LSN but Append returns the error.
  virtual Result<Lsn> Append(std::string_view payload,
                             Durability durability = Durability::kPolicy) = 0;

  // Hands every buffered record to the OS (survives a process crash).
  virtual Status Flush() = 0;
  // Makes every record appended so far durable.
  virtual Status Sync() = 0;

  // The durable watermark; never decreases. Lock-free.
  virtual Lsn DurableLsn() const = 0;
  // The last LSN appended so far (0 if none).
  virtual Lsn LastLsn() const = 0;
  // Blocks until `lsn` is durable, starting (or joining) a sync if needed.
  // Returns the error that made it impossible (poison, disk full), or
  // InvalidArgument for an LSN not yet appended.
  virtual Status WaitDurable(Lsn lsn) = 0;
  // Waits up to `timeout` for the watermark to move above `seen` without
  // causing a sync; returns the watermark (maybe still `seen`) or the poison.
  virtual Result<Lsn> AwaitDurableAbove(Lsn seen, std::chrono::milliseconds timeout) = 0;

  // Reader over this log from `from` (1 = the first record the log holds).
  // It sees records up to what was flushed when it reaches them and follows
  // later flushes. Reading from a purged LSN other than 1 is NotFound.
  virtual Result<std::unique_ptr<LogReader>> NewReader(Lsn from) = 0;

  // Retention: removes every segment before the one that starts at
  // `first_kept`, and records in the directory that the log now starts
  // there, with `note` (at most 4 KiB) for whoever purges: the audit store
  // keeps where its own record of the purge is. Crash-safe: after a power
  // cut at any point the log either still holds those segments or starts at
  // first_kept, and a segment missing after first_kept stays an error.
  // The records purged must be durable and, with the tree, hashed and in
  // the synced spine (this call waits for that), so that roots and proofs
  // keep covering them. Errors: InvalidArgument unless first_kept is the
  // base of a segment of this log whose records have begun to be durable
  // (so every segment before it is sealed); FailedPrecondition for a log
  // whose first segment already starts there. An audit store's log is
  // purged through AuditStore::Retain, which first records what its derived
  // index needs from the purged records; a purge made here directly is one
  // `quipu verify` reports as unrecorded.
  virtual Status DropSegmentsBefore(Lsn first_kept, std::string_view note) = 0;
  // The first LSN the log holds: 1, or where the last purge left it.
  virtual Lsn FirstLsn() const = 0;
  // The segments, oldest first; the last is the active one (its bytes are
  // those written to the OS so far).
  virtual Result<std::vector<SegmentInfo>> Segments() const = 0;

  virtual LogStats Stats() const = 0;
  virtual const RecoveryReport& Recovery() const = 0;

  // The Merkle tree that follows this log: roots, proofs, checkpoints.
  // Owned by the log; never null for a log from Open.
  virtual LogTree* tree() = 0;

  // Syncs everything, stops the background timer, releases files and the
  // lock. Returns the first error. Later calls return FailedPrecondition.
  virtual Status Close() = 0;
};

}  // namespace quipu

#endif  // QUIPU_LOG_H_
