// log/log_impl.h — the writer behind quipu::Log.
//
// One mutex (mu_) guards all in-memory state; file I/O never runs under it
// except during rotation. Two tokens, also under mu_, serialize the I/O:
//   flush_busy_  one thread at a time write(2)s the buffer to the active file.
//                It swaps the buffer out first, so appenders keep filling a
//                fresh one meanwhile (double buffering).
//   sync_busy_   one thread at a time (the sync leader) flushes and then
//                fdatasyncs. Others needing durability (followers) sleep
//                outside mu_ on sync_gen_, which moves when a leader is done;
//                each is then either covered (and returns without touching
//                mu_) or leads the next sync, which covers every record
//                appended while the previous one ran.
// Blocking appends under Always and GroupCommit do not take mu_ one by one:
// they join the write queue (log/write_queue.h, log/group_append.cc), whose
// leader appends the whole group under one hold of mu_ and syncs once for
// it: N waiters, one fsync, and nobody waits for more than two syncs (plus a
// short gathering of the writers the last sync released).
// A full buffer is not written by the appender that finds it full: it is
// swapped out and handed to the flusher thread (taking flush_busy_), so a
// single writer keeps appending on one core while write(2) copies into the
// page cache on the other. If such a background write fails with a full
// disk, its bytes go back into the buffer and the next append that needs
// room writes inline and gets the NoSpace itself (see background_failed_).
// Rotation needs both tokens free and no seal running; it sets rotating_ so
// no new sync starts, writes the buffer out and starts the next segment under
// a pending name, holding mu_ (log/rotation.cc). The sealer thread then
// fdatasyncs the old segment and links the new one in under its segment
// name; until that rename is durable no record of the new segment is called
// durable (leaders wait for it), so the chain never has a hole on disk.
//
// Invariants (under mu_):
//   durable_lsn_ <= flushed_lsn_ <= next_lsn_ - 1
//   buf_ holds exactly the frames of LSNs (flushed_lsn_, next_lsn_ - 1] that
//     are not in the write in flight, all for the active segment.
//   active_size_ is the file size of the active segment after the last
//     completed write; active_bytes_ counts buffered frames too.
#ifndef QUIPU_LOG_LOG_IMPL_H_
#define QUIPU_LOG_LOG_IMPL_H_

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "log/recovery.h"
#include "log/segment_scan.h"
#include "log/write_queue.h"
#include "quipu/env.h"
#include "quipu/log.h"
#include "util/wait_word.h"

namespace quipu {

class LogImpl final : public Log {
 public:
  using Clock = std::chrono::steady_clock;

  LogImpl(std::string dir, const LogOptions& options);
  ~LogImpl() override;

  // Takes the lock, recovers the directory, opens the active segment.
  Status Init(const BeforeDiscard& before_discard);

  Result<Lsn> Append(std::string_view payload, Durability durability) override;
  Status Flush() override;
  Status Sync() override;
  Lsn DurableLsn() const override { return durable_lsn_.load(std::memory_order_acquire); }
  Lsn LastLsn() const override;
  Status WaitDurable(Lsn lsn) override;
  Result<Lsn> AwaitDurableAbove(Lsn seen, std::chrono::milliseconds timeout) override;
  Result<std::unique_ptr<LogReader>> NewReader(Lsn from) override;
  // Retention (log/purge.cc).
  Status DropSegmentsBefore(Lsn first_kept, std::string_view note) override;
  Lsn FirstLsn() const override;
  Result<std::vector<SegmentInfo>> Segments() const override;
  LogStats Stats() const override;
  const RecoveryReport& Recovery() const override { return recovery_; }
  LogTree* tree() override { return nullptr; }  // the engine keeps none (log/engine.h)
  Status Close() override;

  // For readers: the segments and the last LSN that is readable (flushed).
  void ReadableView(std::vector<SegmentRef>* segments, Lsn* readable) const;

  // What in-process readers reach the log through: Close() clears `log`,
  // so a reader that outlives the log gets an error, not freed memory.
  struct ReaderLink {
    std::mutex mu;
    const LogImpl* log = nullptr;  // guarded by mu
  };

 private:
  // Closed or poisoned: the error to return, else OK.
  Status UsableLocked() const;
  void PoisonLocked(const Status& s);
  // Makes room for, frames and buffers one record; returns its LSN. The
  // record's epoch is rollback_floors_.size() after it returns.
  Result<Lsn> BufferRecordLocked(std::unique_lock<std::mutex>& lock, std::string_view payload,
                                 uint32_t partial_crc);
  // Rotates or flushes until a frame of `frame_size` bytes fits.
  Status MakeRoomLocked(std::unique_lock<std::mutex>& lock, size_t frame_size);
  bool NeedsSyncLocked(Lsn lsn, Durability durability) const;
  // Writes the buffer to the OS (waits for a write in flight first).
  Status FlushLocked(std::unique_lock<std::mutex>& lock);
  // What one write of the swapped-out buffer (spare_) needs to finish.
  struct FlushJob {
    Lsn last = 0;              // last LSN in it
    uint64_t size_before = 0;  // active segment size before it
    WritableFile* file = nullptr;
  };
  // Takes flush_busy_ and swaps buf_ into spare_. Requires !flush_busy_ and a
  // non-empty buf_.
  FlushJob BeginFlushLocked();
  // Writes spare_ without mu_, then does the bookkeeping and releases flush_busy_.
  Status FinishFlushLocked(std::unique_lock<std::mutex>& lock, const FlushJob& job);
  // After a write hit a full disk: one more try under mu_ (the failed write
  // may have begun before room came back).
  Status RetryWriteLocked(const FlushJob& job);
  // Hands a full buffer to the flusher thread instead of writing it here.
  void HandOffFlushLocked();
  void FlusherLoop();
  // Returns once `lsn` is durable, joining or leading group syncs. `epoch` is
  // rollback_floors_.size() when `lsn` was appended: if a full disk has since
  // dropped that record, the wait ends with NoSpace. A follower whose record
  // a leader covered returns with `lock` released; callers re-lock if needed.
  Status SyncToLocked(std::unique_lock<std::mutex>& lock, Lsn lsn, size_t epoch);
  // Wakes the followers in SyncToLocked: a sync ended, the log was poisoned,
  // rolled back or rotated. One futex wake for all of them.
  void WakeSyncWaitersLocked();
  // As the holder of sync_busy_: flush, then fdatasync without mu_.
  Status LeadSyncLocked(std::unique_lock<std::mutex>& lock);
  // A record appended in `epoch` (rollback_floors_.size() then) that a
  // full-disk rollback has since dropped.
  bool RolledBackLocked(Lsn lsn, size_t epoch) const;
  static Status NotWrittenError(Lsn lsn);
  // Always/GroupCommit, durable appends (log/group_append.cc): joins the
  // write queue; its leader appends and syncs for the whole group.
  Result<Lsn> AppendInGroup(std::string_view payload, uint32_t partial_crc);
  void LeadGroup(WriteQueue::Writer* leader);
  // A group member's result once the group's sync returned `synced`.
  Status GroupMemberResultLocked(const WriteQueue::Writer& w, const Status& synced) const;
  // Rotation (log/rotation.cc).
  Status RotateLocked(std::unique_lock<std::mutex>& lock);
  Status StartNextSegmentLocked();
  void SealerLoop();
  // Runs the seal in seal_: fdatasync of the old segment, rename of the new
  // one, fsync of the directory, all without mu_.
  void RunSealLocked(std::unique_lock<std::mutex>& lock);
  // Ends the seal in seal_: the old segment durable and the new one linked
  // in, or, on `error`, the log poisoned.
  void FinishSealLocked(const Status& error);
  // Waits until no seal runs (or the log is poisoned, which it returns).
  Status AwaitSealLocked(std::unique_lock<std::mutex>& lock);
  // Puts bytes that a failed write did not land back in front of buf_.
  Status UndoFailedWriteLocked(const Status& write_error, uint64_t size_before);
  // After a full disk: removes buffered records no Append has returned for.
  void DropUnacknowledgedLocked();
  void AdvanceDurableLocked(Lsn target, Clock::time_point covered_until);
  // Buffers a sync marker if a sync has made bytes durable that no marker
  // claims yet (see docs/format.md).
  void MarkSyncedLocked();
  // At Close: a final marker, synced, so recovery can tell every record of
  // the active segment was durable.
  Status WriteClosingMarkerLocked();
  // The active segment's file as appends need it: with zeros written ahead
  // of the data when the policy syncs (io/zero_ahead_file.h).
  std::unique_ptr<WritableFile> ForAppends(std::unique_ptr<WritableFile> file, Lsn base) const;
  void TimerLoop();

  const std::string dir_;
  LogOptions options_;
  Env* env_;
  const std::shared_ptr<ReaderLink> reader_link_;
  std::unique_ptr<FileLock> lock_file_;
  RecoveryReport recovery_;

  mutable std::mutex mu_;
  mutable std::mutex purge_mu_;       // one DropSegmentsBefore at a time; taken before mu_
  std::condition_variable io_cv_;     // tokens released, watermark moved, poison
  std::condition_variable timer_cv_;  // the interval timer's wake-ups
  std::condition_variable flush_cv_;  // the flusher thread's wake-ups
  std::condition_variable seal_cv_;   // the sealer thread's wake-ups

  // --- guarded by mu_ ---
  std::vector<SegmentRef> segments_;  // last is active
  std::unique_ptr<WritableFile> active_;
  uint64_t active_size_ = 0;
  uint64_t active_bytes_ = 0;
  uint64_t active_records_ = 0;
  uint64_t synced_size_ = 0;  // bytes of the active segment covered by a successful sync
  uint64_t marked_size_ = 0;  // the highest claim of a sync marker in it (written or buffered)
  std::string buf_;
  std::string spare_;  // the buffer being written by the flush_busy_ holder
  Lsn next_lsn_ = 1;
  Lsn flushed_lsn_ = 0;
  Lsn acked_lsn_ = 0;  // highest LSN whose Append returned before it was durable
  // One entry per full-disk rollback: records above it were dropped.
  std::vector<Lsn> rollback_floors_;
  bool flush_busy_ = false;
  bool sync_busy_ = false;
  bool rotating_ = false;
  bool closed_ = false;
  Status poison_;
  // When the oldest not-yet-durable append happened (for the interval timer).
  std::optional<Clock::time_point> oldest_unsynced_;
  bool stop_timer_ = false;
  // The flusher thread's work: a job begun by HandOffFlushLocked.
  std::optional<FlushJob> handed_off_;
  bool stop_flusher_ = false;
  // The previous segment from rotation until it is synced and its successor
  // is linked in under its segment name (the sealer thread's work).
  struct Seal {
    std::unique_ptr<WritableFile> file;  // the previous segment
    Lsn last = 0;                        // its last LSN
    Lsn next_base = 0;                   // the base of the segment after it
    Clock::time_point started;           // when its last record was written
  };
  std::optional<Seal> seal_;
  bool seal_running_ = false;  // its I/O is under way (outside mu_)
  bool stop_sealer_ = false;   // the sealer thread ends once no seal is left
  // The last background write failed (full disk): write inline next time so
  // an appender, not the flusher, reports NoSpace and the buffer stays bounded.
  bool background_failed_ = false;
  Clock::duration last_sync_duration_{};  // of the last fdatasync of the log
  LogStats counters_;                     // appends, syncs, writes, bytes_written, rotations

  std::atomic<Lsn> durable_lsn_{0};
  // Bumped (under mu_) by WakeSyncWaitersLocked; followers sleep until it
  // moves. `followers_` counts them (raised under mu_) so that a wake-up with
  // nobody asleep costs no system call.
  WaitWord sync_gen_;
  std::atomic<int> followers_{0};
  // rollback_floors_.size(), readable without mu_ by a waking follower.
  std::atomic<size_t> rollbacks_{0};
  // Blocking appends under Always/GroupCommit, and what the next group's
  // leader gathers: the size of the last group, for at most this long.
  WriteQueue write_queue_;
  std::atomic<int> expected_group_{0};
  std::atomic<int64_t> gather_cap_ns_{0};
  std::thread timer_;
  std::thread flusher_;
  std::thread sealer_;
};

class ReadSource;
// The source of the log's in-process readers (log/live_source.cc).
std::unique_ptr<ReadSource> NewLiveSource(std::shared_ptr<LogImpl::ReaderLink> link);

}  // namespace quipu

#endif  // QUIPU_LOG_LOG_IMPL_H_
