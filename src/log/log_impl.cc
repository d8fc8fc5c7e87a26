#include "log/log_impl.h"

#include <algorithm>

#include "io/zero_ahead_file.h"
#include "log/engine.h"
#include "log/format.h"
#include "log/reader_impl.h"
#include "util/coding.h"

namespace quipu {

namespace {

// How far zeros are written ahead of a syncing log's data. Each grow costs
// the next sync those bytes and one journal commit; 256 KiB spreads that
// over hundreds of small syncs and measured best among 64 KiB to 4 MiB
// (docs/performance.md, "Zeros ahead of the appends").
constexpr uint64_t kZerosAhead = 256 << 10;
// ... and only while syncs are small: past this much new data per sync the
// zeros cost more CPU than the sync saves (io/zero_ahead_file.h).
constexpr uint64_t kZerosUpToSyncSpan = 64 << 10;

std::string ParentDir(const std::string& dir) {
  const size_t slash = dir.find_last_of('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : dir.substr(0, slash);
}

}  // namespace

Result<std::unique_ptr<Log>> OpenLogEngine(const std::string& dir, const LogOptions& options,
                                           BeforeDiscard before_discard) {
  auto log = std::make_unique<LogImpl>(dir, options);
  QUIPU_RETURN_IF_ERROR(log->Init(before_discard));
  return std::unique_ptr<Log>(std::move(log));
}

LogImpl::LogImpl(std::string dir, const LogOptions& options)
    : dir_(std::move(dir)),
      options_(options),
      env_(options.env != nullptr ? options.env : Env::Default()),
      reader_link_(std::make_shared<ReaderLink>()),
      closed_(true) {
  reader_link_->log = this;
}

LogImpl::~LogImpl() {
  bool open;
  {
    std::lock_guard<std::mutex> guard(mu_);
    open = !closed_;
  }
  if (open) (void)Close();
}

Status LogImpl::Init(const BeforeDiscard& before_discard) {
  QUIPU_RETURN_IF_ERROR(options_.Validate());
  auto exists = env_->FileExists(dir_);
  if (!exists.ok()) return exists.status();
  if (!*exists) {
    if (!options_.create_if_missing) return Status::NotFound(dir_ + ": no such log directory");
    QUIPU_RETURN_IF_ERROR(env_->CreateDir(dir_));
    QUIPU_RETURN_IF_ERROR(env_->SyncDir(ParentDir(dir_)));
  }
  auto lock = env_->LockFile(JoinPath(dir_, std::string(format::kLockFileName)));
  if (!lock.ok()) return lock.status();
  lock_file_ = std::move(*lock);

  auto recovered = RecoverLog(env_, dir_, options_, before_discard);
  if (!recovered.ok()) return recovered.status().WithContext(dir_);
  segments_ = std::move(recovered->segments);
  recovery_ = recovered->report;
  auto active = env_->ReopenWritableFile(JoinPath(dir_, segments_.back().name));
  if (!active.ok()) return active.status();
  active_ = ForAppends(std::move(*active), segments_.back().base);
  // Whatever recovery found may still be only in the page cache (a process
  // crash does not lose it, but a power cut would): make it durable so the
  // watermark can start at the end of the log.
  QUIPU_RETURN_IF_ERROR(active_->Sync());

  active_size_ = recovered->active_size;
  active_bytes_ = active_size_;
  synced_size_ = active_size_;
  marked_size_ = std::max<uint64_t>(recovered->active_marker_claim, format::kSegmentHeaderSize);
  active_records_ = recovered->active_records;
  next_lsn_ = recovered->next_lsn;
  flushed_lsn_ = next_lsn_ - 1;
  durable_lsn_.store(next_lsn_ - 1, std::memory_order_release);
  counters_.first_lsn = segments_.front().base;
  buf_.reserve(options_.buffer_size);
  spare_.reserve(options_.buffer_size);
  closed_ = false;
  if (options_.durability.kind() == DurabilityPolicy::Kind::kEveryNOrInterval) {
    timer_ = std::thread([this] { TimerLoop(); });
  }
  flusher_ = std::thread([this] { FlusherLoop(); });
  sealer_ = std::thread([this] { SealerLoop(); });
  return Status::OK();
}

Status LogImpl::UsableLocked() const {
  if (closed_) return Status::FailedPrecondition(dir_ + ": log is closed");
  return poison_;
}

void LogImpl::PoisonLocked(const Status& s) {
  if (poison_.ok()) {
    poison_ = s.WithContext("log poisoned (reopen to recover)");
  }
  io_cv_.notify_all();
  timer_cv_.notify_all();
  seal_cv_.notify_all();
  WakeSyncWaitersLocked();
}

void LogImpl::WakeSyncWaitersLocked() {
  if (followers_.load(std::memory_order_relaxed) > 0) sync_gen_.BumpAndWakeAll();
}

Result<Lsn> LogImpl::Append(std::string_view payload, Durability durability) {
  if (payload.size() > options_.max_record_size) {
    return Status::InvalidArgument("record of " + std::to_string(payload.size()) +
                                   " bytes exceeds max_record_size " +
                                   std::to_string(options_.max_record_size));
  }
  // The CRC of the payload is computed before taking the lock; only the
  // segment's base LSN is mixed in under it.
  const uint32_t partial_crc = format::PartialFrameCrc(payload);

  if (durability != Durability::kBuffered && options_.durability.SyncsEveryAppend()) {
    return AppendInGroup(payload, partial_crc);
  }

  std::unique_lock<std::mutex> lock(mu_);
  Result<Lsn> buffered = BufferRecordLocked(lock, payload, partial_crc);
  if (!buffered.ok()) return buffered.status();
  const Lsn lsn = *buffered;
  const size_t epoch = rollback_floors_.size();
  if (!oldest_unsynced_.has_value() &&
      options_.durability.kind() == DurabilityPolicy::Kind::kEveryNOrInterval) {
    oldest_unsynced_ = Clock::now();
    timer_cv_.notify_one();
  }
  if (!NeedsSyncLocked(lsn, durability)) {
    acked_lsn_ = std::max(acked_lsn_, lsn);
    return lsn;
  }
  QUIPU_RETURN_IF_ERROR(SyncToLocked(lock, lsn, epoch));
  return lsn;
}

Result<Lsn> LogImpl::BufferRecordLocked(std::unique_lock<std::mutex>& lock,
                                        std::string_view payload, uint32_t partial_crc) {
  const size_t frame_size = format::kFrameHeaderSize + payload.size();
  // Room for a sync marker is reserved too, whether or not one is due.
  QUIPU_RETURN_IF_ERROR(MakeRoomLocked(lock, frame_size + format::kMarkerFrameSize));
  MarkSyncedLocked();
  const Lsn lsn = next_lsn_++;
  format::AppendFrame(&buf_, format::FinishFrameCrc(partial_crc, segments_.back().base), payload);
  active_bytes_ += frame_size;
  ++active_records_;
  ++counters_.appends;
  return lsn;
}

// Also the check that the log is usable at all: Append relies on it.
Status LogImpl::MakeRoomLocked(std::unique_lock<std::mutex>& lock, size_t frame_size) {
  for (;;) {
    QUIPU_RETURN_IF_ERROR(UsableLocked());
    if (rotating_) {
      io_cv_.wait(lock);
    } else if (active_records_ > 0 && active_bytes_ + frame_size > options_.segment_size) {
      QUIPU_RETURN_IF_ERROR(RotateLocked(lock));
    } else if (!buf_.empty() && buf_.size() + frame_size > options_.buffer_size) {
      if (background_failed_) {
        QUIPU_RETURN_IF_ERROR(FlushLocked(lock));
      } else if (flush_busy_) {
        io_cv_.wait(lock);  // the buffer in flight must land before this one goes
      } else {
        HandOffFlushLocked();
      }
    } else {
      return Status::OK();
    }
  }
}

bool LogImpl::NeedsSyncLocked(Lsn lsn, Durability durability) const {
  switch (durability) {
    case Durability::kImmediate:
      return true;
    case Durability::kBuffered:
      return false;
    case Durability::kPolicy:
      break;
  }
  switch (options_.durability.kind()) {
    case DurabilityPolicy::Kind::kAlways:
    case DurabilityPolicy::Kind::kGroupCommit:
      return true;
    case DurabilityPolicy::Kind::kEveryN:
    case DurabilityPolicy::Kind::kEveryNOrInterval:
      // The append that brings the not-yet-durable run to n waits for a sync,
      // so at most n - 1 acknowledged records are ever at risk.
      return lsn - DurableLsn() >= options_.durability.n();
    case DurabilityPolicy::Kind::kOsManaged:
      return false;
  }
  return true;
}

Status LogImpl::FlushLocked(std::unique_lock<std::mutex>& lock) {
  while (flush_busy_) {
    io_cv_.wait(lock);
    QUIPU_RETURN_IF_ERROR(poison_);
  }
  if (buf_.empty()) return Status::OK();
  return FinishFlushLocked(lock, BeginFlushLocked());
}

LogImpl::FlushJob LogImpl::BeginFlushLocked() {
  flush_busy_ = true;
  buf_.swap(spare_);
  return FlushJob{next_lsn_ - 1, active_size_, active_.get()};
}

Status LogImpl::FinishFlushLocked(std::unique_lock<std::mutex>& lock, const FlushJob& job) {
  lock.unlock();
  Status s = job.file->Append(spare_);
  lock.lock();
  if (s.IsNoSpace()) s = RetryWriteLocked(job);

  flush_busy_ = false;
  ++counters_.writes;
  if (s.ok()) {
    active_size_ += spare_.size();
    counters_.bytes_written += spare_.size();
    flushed_lsn_ = job.last;
    spare_.clear();
    background_failed_ = false;
  } else {
    s = UndoFailedWriteLocked(s, job.size_before);
  }
  io_cv_.notify_all();
  return s;
}

Status LogImpl::RetryWriteLocked(const FlushJob& job) {
  // Room may have come back while the write ran, and appends made since then
  // are in buf_: failing now would take their records back out (see
  // DropUnacknowledgedLocked) for an attempt that began before the disk had
  // room. So cut the partial frame off and try once more, holding mu_, so
  // that no append slips in between this attempt and that rollback. Retrying
  // a write is safe: nothing claimed its bytes (unlike a failed fdatasync).
  Status cut = job.file->Truncate(job.size_before);
  if (!cut.ok()) return cut;
  return job.file->Append(spare_);
}

void LogImpl::HandOffFlushLocked() {
  handed_off_ = BeginFlushLocked();
  flush_cv_.notify_one();
}

void LogImpl::FlusherLoop() {
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    // A job handed off before Close is still written: its records were acknowledged.
    flush_cv_.wait(lock, [this] { return handed_off_.has_value() || stop_flusher_; });
    if (!handed_off_.has_value()) return;
    const FlushJob job = *handed_off_;
    handed_off_.reset();
    // A failure is already handled: a full disk puts the bytes back (and the
    // next append needing room reports it), anything else poisons the log.
    if (!FinishFlushLocked(lock, job).ok()) background_failed_ = true;
  }
}

Status LogImpl::UndoFailedWriteLocked(const Status& write_error, uint64_t size_before) {
  if (!write_error.IsNoSpace()) {
    PoisonLocked(write_error);
    return poison_;
  }
  // A full disk: cut any partial frame off the file so it stays a valid log,
  // and keep the bytes buffered, in order, for when space comes back.
  Status cut = active_->Truncate(size_before);
  if (!cut.ok()) {
    PoisonLocked(cut);
    return poison_;
  }
  spare_.append(buf_);
  buf_.swap(spare_);
  spare_.clear();
  DropUnacknowledgedLocked();
  return write_error;
}

void LogImpl::DropUnacknowledgedLocked() {
  // Records after the last acknowledged one belong to appenders still waiting
  // for a sync that just failed. They are taken out (and their LSNs reused)
  // so that an Append that returned NoSpace never shows up in the log later.
  const Lsn floor = std::max(acked_lsn_, flushed_lsn_);
  const Lsn dropped = next_lsn_ - 1 - floor;
  if (dropped == 0) return;
  size_t keep = 0;
  for (Lsn lsn = flushed_lsn_ + 1; lsn <= floor;) {
    const uint32_t length_field = DecodeFixed32(buf_.data() + keep + 4);
    keep += format::kFrameHeaderSize + (length_field & ~format::kMarkerFlag);
    if ((length_field & format::kMarkerFlag) == 0) ++lsn;
  }
  active_bytes_ -= buf_.size() - keep;
  active_records_ -= dropped;
  counters_.appends -= dropped;
  buf_.resize(keep);
  marked_size_ = format::kSegmentHeaderSize;  // a dropped marker's claim is made again
  next_lsn_ = floor + 1;
  rollback_floors_.push_back(floor);
  rollbacks_.store(rollback_floors_.size(), std::memory_order_release);
  io_cv_.notify_all();
  WakeSyncWaitersLocked();
}

bool LogImpl::RolledBackLocked(Lsn lsn, size_t epoch) const {
  return epoch < rollback_floors_.size() && lsn > rollback_floors_[epoch];
}

Status LogImpl::NotWrittenError(Lsn lsn) {
  return Status::NoSpace("record " + std::to_string(lsn) +
                         " was not written: the disk is full (it is not in the log)");
}

Status LogImpl::SyncToLocked(std::unique_lock<std::mutex>& lock, Lsn lsn, size_t epoch) {
  for (;;) {
    if (RolledBackLocked(lsn, epoch)) return NotWrittenError(lsn);
    if (DurableLsn() >= lsn) return Status::OK();
    QUIPU_RETURN_IF_ERROR(poison_);
    if (!sync_busy_ && !rotating_) {
      sync_busy_ = true;
      Status s = LeadSyncLocked(lock);
      sync_busy_ = false;
      io_cv_.notify_all();  // a rotation may wait for the token
      WakeSyncWaitersLocked();
      // A full disk refused the unwritten rest of the buffer, but what was
      // written before got synced all the same: that may cover this record.
      if (s.IsNoSpace() && DurableLsn() >= lsn) continue;
      QUIPU_RETURN_IF_ERROR(s);
      continue;
    }
    // Follow: sleep without mu_ until the leader (or a rotation) is done. A
    // follower it covered leaves straight away, so K writers released by one
    // fsync do not queue up on mu_ just to return. The generation is read
    // under mu_, so a wake-up after this point cannot be missed.
    const uint32_t generation = sync_gen_.Load();
    followers_.fetch_add(1, std::memory_order_relaxed);
    lock.unlock();
    sync_gen_.WaitWhileEquals(generation);
    followers_.fetch_sub(1, std::memory_order_relaxed);
    // Durable and not rolled back since it was appended (a rollback reuses
    // LSNs, so a durable LSN might then be another record's).
    if (DurableLsn() >= lsn && rollbacks_.load(std::memory_order_acquire) == epoch) {
      return Status::OK();
    }
    lock.lock();
  }
}

Status LogImpl::LeadSyncLocked(std::unique_lock<std::mutex>& lock) {
  // On a full disk the bytes already written are synced anyway: a waiter
  // whose record is among them must not hear NoSpace for a record that stays.
  const Status flushed = FlushLocked(lock);
  if (!flushed.ok() && (!flushed.IsNoSpace() || flushed_lsn_ <= DurableLsn())) return flushed;
  const Lsn target = flushed_lsn_;
  const uint64_t target_size = active_size_;
  const Clock::time_point covered_until = Clock::now();
  WritableFile* file = active_.get();

  lock.unlock();
  const Clock::time_point sync_start = Clock::now();
  Status s = file->Sync();
  const Clock::time_point sync_end = Clock::now();
  lock.lock();

  last_sync_duration_ = sync_end - sync_start;
  ++counters_.syncs;
  if (!s.ok()) {
    PoisonLocked(s);
    return poison_;
  }
  synced_size_ = std::max(synced_size_, target_size);
  // Records of a segment whose predecessor is still being sealed are on disk
  // but not yet findable after a power cut: durable only once it is linked in.
  QUIPU_RETURN_IF_ERROR(AwaitSealLocked(lock));
  AdvanceDurableLocked(target, covered_until);
  return flushed;
}

void LogImpl::MarkSyncedLocked() {
  if (synced_size_ <= marked_size_) return;
  format::AppendMarker(&buf_, segments_.back().base, synced_size_);
  marked_size_ = synced_size_;
  active_bytes_ += format::kMarkerFrameSize;
}

Status LogImpl::WriteClosingMarkerLocked() {
  if (active_ == nullptr || synced_size_ <= marked_size_) return Status::OK();
  std::string marker;
  format::AppendMarker(&marker, segments_.back().base, synced_size_);
  Status s = active_->Append(marker);
  if (s.ok()) s = active_->Sync();
  ++counters_.writes;
  ++counters_.syncs;
  if (!s.ok()) return s;
  active_size_ += marker.size();
  marked_size_ = synced_size_;
  return Status::OK();
}

void LogImpl::AdvanceDurableLocked(Lsn target, Clock::time_point covered_until) {
  if (target > DurableLsn()) durable_lsn_.store(target, std::memory_order_release);
  if (DurableLsn() >= next_lsn_ - 1) {
    oldest_unsynced_.reset();
  } else if (oldest_unsynced_.has_value()) {
    // Records not covered were appended after the flush began; dating them
    // from then errs on the side of syncing early.
    oldest_unsynced_ = covered_until;
  }
  io_cv_.notify_all();
}

Status LogImpl::Flush() {
  std::unique_lock<std::mutex> lock(mu_);
  QUIPU_RETURN_IF_ERROR(UsableLocked());
  return FlushLocked(lock);
}

Status LogImpl::Sync() {
  std::unique_lock<std::mutex> lock(mu_);
  QUIPU_RETURN_IF_ERROR(UsableLocked());
  return SyncToLocked(lock, next_lsn_ - 1, rollback_floors_.size());
}

Lsn LogImpl::LastLsn() const {
  std::lock_guard<std::mutex> guard(mu_);
  return next_lsn_ - 1;
}

Status LogImpl::WaitDurable(Lsn lsn) {
  std::unique_lock<std::mutex> lock(mu_);
  if (lsn >= next_lsn_) {
    return Status::InvalidArgument("LSN " + std::to_string(lsn) + " has not been appended (last " +
                                   std::to_string(next_lsn_ - 1) + ")");
  }
  if (DurableLsn() >= lsn) return Status::OK();
  QUIPU_RETURN_IF_ERROR(UsableLocked());
  return SyncToLocked(lock, lsn, rollback_floors_.size());
}

Result<Lsn> LogImpl::AwaitDurableAbove(Lsn seen, std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock(mu_);
  io_cv_.wait_for(lock, timeout, [&] { return DurableLsn() > seen || !poison_.ok() || closed_; });
  if (DurableLsn() > seen) return DurableLsn();
  QUIPU_RETURN_IF_ERROR(poison_);
  return DurableLsn();
}

void LogImpl::TimerLoop() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!stop_timer_) {
    if (DurableLsn() >= next_lsn_ - 1) oldest_unsynced_.reset();  // e.g. after a rollback
    if (!oldest_unsynced_.has_value() || !poison_.ok()) {
      timer_cv_.wait(lock);
      continue;
    }
    const auto due = *oldest_unsynced_ + options_.durability.interval();
    if (Clock::now() < due) {
      timer_cv_.wait_until(lock, due);
      continue;
    }
    Status s = SyncToLocked(lock, next_lsn_ - 1, rollback_floors_.size());
    if (!lock.owns_lock()) lock.lock();
    if (s.IsNoSpace()) {
      // Appends report the full disk; try again shortly rather than spin.
      timer_cv_.wait_for(lock, options_.durability.interval());
    }
  }
}

Result<std::unique_ptr<LogReader>> LogImpl::NewReader(Lsn from) {
  {
    std::lock_guard<std::mutex> guard(mu_);
    QUIPU_RETURN_IF_ERROR(closed_ ? UsableLocked() : Status::OK());
  }
  return NewLogReader(env_, dir_, NewLiveSource(reader_link_), from);
}

void LogImpl::ReadableView(std::vector<SegmentRef>* segments, Lsn* readable) const {
  std::lock_guard<std::mutex> guard(mu_);
  *segments = segments_;
  *readable = flushed_lsn_;
}

LogStats LogImpl::Stats() const {
  std::lock_guard<std::mutex> guard(mu_);
  LogStats stats = counters_;
  if (next_lsn_ == segments_.front().base) stats.first_lsn = 0;  // empty
  stats.last_lsn = next_lsn_ - 1;
  stats.flushed_lsn = flushed_lsn_;
  stats.durable_lsn = DurableLsn();
  stats.segments = segments_.size();
  return stats;
}

std::unique_ptr<WritableFile> LogImpl::ForAppends(std::unique_ptr<WritableFile> file,
                                                  Lsn base) const {
  // Without syncs the zeros would only double the bytes written. And in the
  // one segment in 2^32 whose base makes a header of zeros a valid empty
  // record, zeros would read as records: that segment grows plainly.
  if (options_.durability.kind() == DurabilityPolicy::Kind::kOsManaged ||
      format::FrameCrc(0, {}, base) == 0) {
    return file;
  }
  return std::make_unique<ZeroAheadFile>(std::move(file), kZerosAhead, options_.segment_size,
                                         kZerosUpToSyncSpan);
}

Status LogImpl::Close() {
  {
    // Before mu_: a reader holds the link's mutex while it takes mu_.
    std::lock_guard<std::mutex> guard(reader_link_->mu);
    reader_link_->log = nullptr;
  }
  std::unique_lock<std::mutex> lock(mu_);
  QUIPU_RETURN_IF_ERROR(closed_ ? UsableLocked() : Status::OK());
  stop_timer_ = true;
  timer_cv_.notify_all();
  stop_flusher_ = true;
  flush_cv_.notify_all();
  stop_sealer_ = true;  // after finishing the seal that runs, if any
  seal_cv_.notify_all();
  lock.unlock();
  if (timer_.joinable()) timer_.join();
  if (flusher_.joinable()) flusher_.join();
  if (sealer_.joinable()) sealer_.join();
  lock.lock();
  Status s = poison_.ok() ? SyncToLocked(lock, next_lsn_ - 1, rollback_floors_.size()) : poison_;
  if (!lock.owns_lock()) lock.lock();
  // The zeros ahead of the data go; the closing marker's sync makes the
  // size durable (without one, recovery would cut them).
  if (s.ok() && active_ != nullptr) s = FinishZeros(active_.get());
  if (s.ok()) s = WriteClosingMarkerLocked();
  closed_ = true;
  io_cv_.notify_all();
  if (active_ != nullptr) {
    Status c = active_->Close();
    if (s.ok()) s = c;
    active_.reset();
  }
  lock_file_.reset();
  return s;
}

}  // namespace quipu
