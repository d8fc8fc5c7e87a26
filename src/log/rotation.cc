// log/rotation.cc — moving from a full segment to the next one.
//
// Rotation is on the appender's path, so it does only what must happen
// before the next record can be written: the buffered bytes go to the old
// segment and the next segment is created under its pending name
// (format::PendingSegmentFileName) with its header, which is synced at once
// (one small fdatasync). The sealer thread does the slow part while appends
// go on: fdatasync of the old segment, then the rename of the new one to its
// segment name and an fsync of the directory. The sealer never syncs the
// new segment: its syncs are the sync leaders', and a failed one must never
// be followed by another (docs/durability.md).
//
// That order keeps the chain without holes on disk: a segment name exists
// only once every earlier segment is complete and durable, and a pending
// segment left by a crash is linked in or dropped by recovery
// (log/recovery.cc). Until the rename is durable no record of the new
// segment is acknowledged as durable: a sync leader waits for the seal
// (LeadSyncLocked), and the seal itself makes the old segment's records
// durable. One seal runs at a time; a rotation waits for the last one.
#include "io/zero_ahead_file.h"
#include "log/format.h"
#include "log/log_impl.h"
#include "log/recovery.h"

namespace quipu {

Status LogImpl::RotateLocked(std::unique_lock<std::mutex>& lock) {
  rotating_ = true;
  Status s;
  while (flush_busy_ || sync_busy_ || seal_.has_value()) {
    if (!(s = AwaitSealLocked(lock)).ok()) break;
    if (flush_busy_ || sync_busy_) io_cv_.wait(lock);
  }
  if (s.ok()) s = StartNextSegmentLocked();
  rotating_ = false;
  io_cv_.notify_all();
  WakeSyncWaitersLocked();
  return s;
}

Status LogImpl::StartNextSegmentLocked() {
  QUIPU_RETURN_IF_ERROR(poison_);
  // Everything of this segment is handed to the OS before the next one gets
  // a byte; the seal makes it durable.
  if (!buf_.empty()) {
    const uint64_t size_before = active_size_;
    spare_.swap(buf_);
    Status s = active_->Append(spare_);
    ++counters_.writes;
    if (!s.ok()) return UndoFailedWriteLocked(s, size_before);
    active_size_ += spare_.size();
    counters_.bytes_written += spare_.size();
    spare_.clear();
    flushed_lsn_ = next_lsn_ - 1;
  }
  // If the disk is full the old segment simply stays active.
  auto next = CreatePendingSegment(env_, dir_, next_lsn_, options_.kind);
  if (!next.ok()) {
    if (!next.status().IsNoSpace()) PoisonLocked(next.status());
    return next.status().IsNoSpace() ? next.status() : poison_;
  }
  seal_ = Seal{std::move(active_), next_lsn_ - 1, next_lsn_, Clock::now()};
  active_ = ForAppends(std::move(*next), next_lsn_);
  segments_.push_back({format::PendingSegmentFileName(next_lsn_), next_lsn_});
  active_size_ = format::kSegmentHeaderSize;
  active_bytes_ = active_size_;
  active_records_ = 0;
  synced_size_ = active_size_;
  marked_size_ = active_size_;
  ++counters_.rotations;
  seal_cv_.notify_one();
  return Status::OK();
}

void LogImpl::SealerLoop() {
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    seal_cv_.wait(lock, [this] {
      return (seal_.has_value() && !seal_running_) || (stop_sealer_ && !seal_running_);
    });
    if (!seal_.has_value()) return;  // stopping, and nothing is left to seal
    RunSealLocked(lock);
  }
}

void LogImpl::RunSealLocked(std::unique_lock<std::mutex>& lock) {
  if (!poison_.ok()) {
    // After a failed sync nothing more is written, not even a rename:
    // recovery judges the pending segment.
    seal_.reset();
    io_cv_.notify_all();
    return;
  }
  seal_running_ = true;
  WritableFile* file = seal_->file.get();
  const Lsn base = seal_->next_base;
  lock.unlock();
  // The new segment's header was synced when it was created, so its name
  // may become durable now. A sealed segment ends with its last frame: the
  // zeros ahead of it go first, and the sync makes the size durable.
  Status s = FinishZeros(file);
  if (s.ok()) s = file->Sync();
  if (s.ok()) s = file->Close();
  if (s.ok()) {
    s = env_->RenameFile(JoinPath(dir_, format::PendingSegmentFileName(base)),
                         JoinPath(dir_, format::SegmentFileName(base)));
  }
  if (s.ok()) s = env_->SyncDir(dir_);
  lock.lock();
  seal_running_ = false;
  ++counters_.syncs;
  FinishSealLocked(s);
}

void LogImpl::FinishSealLocked(const Status& error) {
  Seal seal = std::move(*seal_);
  seal_.reset();
  if (!error.ok()) {
    PoisonLocked(
        error.WithContext("sealing the segment before LSN " + std::to_string(seal.next_base)));
  } else {
    for (auto it = segments_.rbegin(); it != segments_.rend(); ++it) {
      if (it->base != seal.next_base) continue;
      it->name = format::SegmentFileName(seal.next_base);
      break;
    }
    // A sync of the new segment may have failed while this seal ran: once
    // poisoned, the watermark stays where the failure found it, even for
    // records the seal did make durable.
    if (poison_.ok()) AdvanceDurableLocked(seal.last, seal.started);
  }
  io_cv_.notify_all();
  WakeSyncWaitersLocked();
}

Status LogImpl::AwaitSealLocked(std::unique_lock<std::mutex>& lock) {
  while (seal_.has_value() && poison_.ok()) {
    if (stop_sealer_ && !seal_running_) {
      RunSealLocked(lock);  // the sealer thread is gone (Close): seal here
    } else {
      io_cv_.wait(lock);
    }
  }
  return poison_;
}

}  // namespace quipu
