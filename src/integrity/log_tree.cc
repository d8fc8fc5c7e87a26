// integrity/log_tree.cc — the on-disk tree of a log, fed by a follower thread.
//
// Threads and locks (taken in this order, never the reverse):
//   ckpt_mu_  one checkpoint at a time, so CHECKPOINTS grows in tree order
//             and one anchor call runs at a time.
//   file_mu_  the spine's WritableFile and what is known about its bytes
//             (written_, header_): the follower appends under it, SyncSpine
//             syncs and rewrites the header under it.
//   mu_       stop/wake flags, counters, the follower's error; the condition
//             variables wait on it.
// The follower alone owns reader_, builder_, batch_, segment_ and the clock
// of the periodic spine sync (KeepSpineSynced), which raises the synced
// claim to the log's durable watermark at most every spine_sync_interval,
// off the append path. A full disk stalls the follower (its refused bytes
// cut off, the write retried each poll) instead of stopping it. Readers of
// the tree (Root, proofs) use read_file_, which is safe for concurrent reads,
// and never look past size_, which is published only after the nodes it
// covers were handed to the OS.
//
// Invariants:
//   header_.synced_leaves ≤ written_ = size_ ≤ the log's flushed LSN
//   the file holds exactly FileSizeFor(written_) meaningful bytes (plus, after
//   a failed append other than a full disk, garbage that the next Open
//   truncates).
#include "integrity/log_tree.h"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "integrity/spine.h"
#include "integrity/tree_proofs.h"
#include "quipu/env.h"
#include "quipu/log.h"
#include "quipu/tree.h"

namespace quipu {
namespace {

// Nodes the follower buffers before one write to the spine (64 KiB).
constexpr size_t kBatchBytes = 2048 * spine::kNodeSize;

int64_t NowMicros() {
  using namespace std::chrono;
  return duration_cast<microseconds>(system_clock::now().time_since_epoch()).count();
}

class LogTreeImpl final : public OwnedLogTree {
 public:
  LogTreeImpl(Log* log, std::string dir, Env* env, const TreeOptions& options,
              std::function<void(const Status&)> on_fatal)
      : log_(log),
        dir_(std::move(dir)),
        options_(options),
        env_(env != nullptr ? env : Env::Default()),
        on_fatal_(std::move(on_fatal)) {}
  ~LogTreeImpl() override {
    if (follower_.joinable()) (void)Close();
  }

  Status Init();

  uint64_t Size() const override { return size_.load(std::memory_order_acquire); }
  Status CatchUp() override;
  Result<merkle::Hash> Root(std::optional<uint64_t> size) override;
  Result<InclusionProof> ProveInclusion(Lsn lsn, std::optional<uint64_t> size) override;
  Result<ConsistencyProof> ProveConsistency(uint64_t old_size,
                                            std::optional<uint64_t> new_size) override;
  Result<Checkpoint> WriteCheckpoint() override;
  Result<VerifyReport> VerifyIntegrity(const VerifyOptions& options) override;
  TreeStats Stats() const override;
  Status Close() override;
  Result<uint64_t> SyncThroughDurable() override;

 private:
  Status LoadKey();
  // Checks the spine's synced leaves against the recovered log and cuts off
  // the unsynced tail; returns the synced leaf count.
  Result<uint64_t> OpenSpine();
  Status CheckLastSyncedLeaf(uint64_t synced);

  void FollowerMain();
  Status Follow();
  Status Consume();
  Status FlushBatch();
  // FlushBatch, waiting out a full disk (the log carries on through one, so
  // its tree must too): the bytes a refused write left are cut off and the
  // write is tried again every poll interval until it lands or Close begins.
  Status FlushBatchThroughFullDisk();
  // Raises the spine's synced claim towards the durable watermark once
  // spine_sync_interval has passed since the last raise.
  Status KeepSpineSynced();
  // Waits for a CatchUp or the poll interval; false once Close began.
  bool WaitForWork();
  Status OnSegmentSealed(uint64_t end);
  // Waits until the log's durable watermark reaches `end` (the seal of the
  // segment ending there finished); false if the log was poisoned or the
  // tree is stopping first.
  bool AwaitSealed(uint64_t end);

  // Makes the spine durable up to min(written, log's DurableLsn) and records
  // that in the header. A failure is sticky (as a failed fsync must be).
  Status SyncSpine();
  Status WaitForSize(uint64_t target);
  Status Usable() const;
  // The tree size a query means (nullopt: everything, after CatchUp).
  Result<uint64_t> ResolveSize(std::optional<uint64_t> size);
  // Signs and appends the checkpoint of the first `size` (synced) leaves.
  Result<Checkpoint> CheckpointLocked(uint64_t size);
  void ReportBackground(const Status& s);
  // Tells the owner, once, that the tree can no longer follow the log.
  void ReportFatal(const Status& s);

  Log* const log_;
  const std::string dir_;
  const TreeOptions options_;
  Env* const env_;
  const std::function<void(const Status&)> on_fatal_;
  std::once_flag fatal_once_;
  std::optional<SigningKey> key_;
  std::unique_ptr<RandomAccessFile> read_file_;
  std::atomic<uint64_t> size_{0};
  std::atomic<bool> stopping_{false};  // Close began

  // --- follower thread only ---
  std::unique_ptr<LogReader> reader_;
  merkle::TreeBuilder builder_;
  std::vector<merkle::Subtree> completed_;
  std::string batch_;
  std::string segment_;  // segment of the last record hashed
  std::chrono::steady_clock::time_point last_spine_sync_ = std::chrono::steady_clock::now();
  uint64_t consumed_since_sync_check_ = 0;

  std::mutex ckpt_mu_;
  uint64_t last_checkpoint_size_ = 0;  // guarded by ckpt_mu_

  mutable std::mutex file_mu_;
  std::unique_ptr<WritableFile> spine_;  // guarded by file_mu_
  uint64_t written_ = 0;                 // guarded by file_mu_
  spine::Header header_;                 // guarded by file_mu_
  Status sync_error_;                    // guarded by file_mu_

  mutable std::mutex mu_;
  std::condition_variable wake_cv_;      // CatchUp or Close wants the follower
  std::condition_variable progress_cv_;  // size_ moved or the follower stopped
  bool stop_ = false;                    // guarded by mu_
  bool wake_ = false;                    // guarded by mu_
  bool closed_ = false;                  // guarded by mu_
  bool follower_done_ = false;           // guarded by mu_
  Status follower_error_;                // guarded by mu_
  Status stalled_;                       // guarded by mu_: the full disk the follower waits out
  TreeStats counters_;                   // guarded by mu_ (size fields unused)
  std::thread follower_;
};

Status LogTreeImpl::LoadKey() {
  if (options_.signing_key && options_.signing_key_path) {
    return Status::InvalidArgument("TreeOptions: set signing_key or signing_key_path, not both");
  }
  if (options_.signing_key) key_ = options_.signing_key;
  if (options_.signing_key_path) {
    auto key = SigningKey::Load(env_, *options_.signing_key_path);
    if (!key.ok()) return key.status();
    key_ = std::move(*key);
  }
  return Status::OK();
}

Status LogTreeImpl::Init() {
  QUIPU_RETURN_IF_ERROR(LoadKey());
  auto synced = OpenSpine();
  if (!synced.ok()) return synced.status().WithContext(spine::SpinePath(dir_));
  auto reader = log_->NewReader(*synced + 1);
  if (!reader.ok()) return reader.status();
  reader_ = std::move(*reader);
  counters_.recomputed_at_open = log_->LastLsn() - *synced;
  follower_ = std::thread([this] { FollowerMain(); });
  return Status::OK();
}

Result<uint64_t> LogTreeImpl::OpenSpine() {
  const std::string path = spine::SpinePath(dir_);
  auto exists = env_->FileExists(path);
  if (!exists.ok()) return exists.status();
  if (!*exists) QUIPU_RETURN_IF_ERROR(spine::CreateSpine(env_, dir_));
  auto file = env_->NewRandomAccessFile(path);
  if (!file.ok()) return file.status();
  read_file_ = std::move(*file);
  auto snapshot = spine::ReadSnapshot(*read_file_, std::string(kSpineFileName));
  if (!snapshot.ok()) return snapshot.status();
  const uint64_t synced = snapshot->header.synced_leaves;
  if (snapshot->leaves < synced) {
    return Status::Corruption("the header says " + std::to_string(synced) +
                              " leaves were synced but the file holds only " +
                              std::to_string(snapshot->leaves));
  }
  const Lsn last = log_->LastLsn();
  if (synced > last) {
    return Status::Corruption("the tree vouches for " + std::to_string(synced) +
                              " durable records but the log holds only " + std::to_string(last) +
                              ": records " + std::to_string(last + 1) + ".." +
                              std::to_string(synced) + " were lost or cut off");
  }
  QUIPU_RETURN_IF_ERROR(CheckLastSyncedLeaf(synced));
  // Nodes past the synced claim may belong to records a power cut took, or
  // be garbage: they are recomputed from the recovered records.
  auto writable = env_->ReopenWritableFile(path);
  if (!writable.ok()) return writable.status();
  QUIPU_RETURN_IF_ERROR((*writable)->Truncate(spine::FileSizeFor(synced)));
  auto builder =
      merkle::TreeBuilder::FromSource(spine::FileSource(read_file_.get(), synced), synced);
  if (!builder.ok()) return builder.status();
  builder_ = std::move(*builder);
  std::lock_guard<std::mutex> guard(file_mu_);
  spine_ = std::move(*writable);
  written_ = synced;
  header_ = snapshot->header;
  size_.store(synced, std::memory_order_release);
  return synced;
}

// One read that catches a spine from another log (or a log rewritten under
// its spine) at Open; VerifyIntegrity checks every leaf.
Status LogTreeImpl::CheckLastSyncedLeaf(uint64_t synced) {
  if (synced == 0) return Status::OK();
  auto reader = log_->NewReader(synced);
  if (!reader.ok()) return reader.status();
  auto more = (*reader)->Next();
  if (!more.ok()) return more.status();
  if (!*more || (*reader)->lsn() != synced) return Status::OK();  // its segment is gone
  auto stored = spine::FileSource(read_file_.get(), synced).SubtreeHash(0, synced - 1);
  if (!stored.ok()) return stored.status();
  if (merkle::LeafHash((*reader)->payload()) != *stored) {
    return Status::Corruption("LSN " + std::to_string(synced) + " in " + (*reader)->segment() +
                              " at offset " + std::to_string((*reader)->offset()) +
                              " does not match its leaf in the spine");
  }
  return Status::OK();
}

void LogTreeImpl::FollowerMain() {
  Status s = Follow();
  if (!s.ok() && !(s.IsNoSpace() && stopping_.load())) {
    s = s.WithContext("tree follower stopped");
    ReportBackground(s);
    ReportFatal(s);
  }
  std::lock_guard<std::mutex> guard(mu_);
  follower_error_ = s;
  follower_done_ = true;
  progress_cv_.notify_all();
}

Status LogTreeImpl::Follow() {
  // Records between two looks at the clock while the log keeps the
  // follower busy (it then never finds itself caught up).
  constexpr uint64_t kRecordsPerSyncCheck = 1024;
  for (;;) {
    // Checked per record too: a busy log would otherwise keep Close waiting.
    if (stopping_.load(std::memory_order_relaxed)) return FlushBatchThroughFullDisk();
    auto more = reader_->Next();
    if (!more.ok()) return more.status();
    if (*more) {
      QUIPU_RETURN_IF_ERROR(Consume());
      if (++consumed_since_sync_check_ % kRecordsPerSyncCheck == 0) {
        QUIPU_RETURN_IF_ERROR(KeepSpineSynced());
      }
      continue;
    }
    QUIPU_RETURN_IF_ERROR(FlushBatchThroughFullDisk());
    QUIPU_RETURN_IF_ERROR(KeepSpineSynced());
    if (!WaitForWork()) return Status::OK();
  }
}

Status LogTreeImpl::KeepSpineSynced() {
  const auto now = std::chrono::steady_clock::now();
  if (now - last_spine_sync_ < options_.spine_sync_interval) return Status::OK();
  {
    std::lock_guard<std::mutex> guard(file_mu_);
    if (std::min<uint64_t>(written_, log_->DurableLsn()) <= header_.synced_leaves) {
      return Status::OK();
    }
  }
  QUIPU_RETURN_IF_ERROR(FlushBatchThroughFullDisk());
  Status s = SyncSpine();
  if (s.IsNoSpace()) return Status::OK();  // the claim stays; tried again next pass
  last_spine_sync_ = now;
  return s;
}

Status LogTreeImpl::FlushBatchThroughFullDisk() {
  for (;;) {
    Status s = FlushBatch();
    if (!s.IsNoSpace()) {
      if (s.ok()) {
        std::lock_guard<std::mutex> guard(mu_);
        stalled_ = Status::OK();
      }
      return s;
    }
    {
      std::lock_guard<std::mutex> guard(file_mu_);
      // Cut what the refused write left, so the retry lands where it should.
      QUIPU_RETURN_IF_ERROR(spine_->Truncate(spine::FileSizeFor(written_)));
    }
    bool first;
    {
      std::lock_guard<std::mutex> guard(mu_);
      first = stalled_.ok();
      stalled_ = s;
      progress_cv_.notify_all();  // CatchUp callers learn of the stall
      if (stop_) return s;
    }
    if (first) ReportBackground(s.WithContext("tree follower waits for disk space"));
    if (!WaitForWork()) return s;
  }
}

Status LogTreeImpl::Consume() {
  const Lsn lsn = reader_->lsn();
  if (lsn != builder_.size() + 1) {
    return Status::Corruption("the tree needs LSN " + std::to_string(builder_.size() + 1) +
                              " next but the log continues at LSN " + std::to_string(lsn));
  }
  // The reader moves into the next segment as soon as a rotation starts
  // it; OnSegmentSealed waits for the old one's seal to finish.
  if (!segment_.empty() && reader_->segment() != segment_) {
    QUIPU_RETURN_IF_ERROR(OnSegmentSealed(lsn - 1));
  }
  if (segment_ != reader_->segment()) segment_ = reader_->segment();
  completed_.clear();
  builder_.Append(merkle::LeafHash(reader_->payload()), &completed_);
  for (const merkle::Subtree& node : completed_) batch_.append(node.hash.AsBytes());
  if (batch_.size() >= kBatchBytes) QUIPU_RETURN_IF_ERROR(FlushBatchThroughFullDisk());
  return Status::OK();
}

Status LogTreeImpl::FlushBatch() {
  if (batch_.empty()) return Status::OK();
  {
    std::lock_guard<std::mutex> guard(file_mu_);
    QUIPU_RETURN_IF_ERROR(spine_->Append(batch_));
    written_ = builder_.size();
  }
  batch_.clear();
  std::lock_guard<std::mutex> guard(mu_);
  size_.store(builder_.size(), std::memory_order_release);
  progress_cv_.notify_all();
  return Status::OK();
}

bool LogTreeImpl::WaitForWork() {
  std::unique_lock<std::mutex> lock(mu_);
  wake_cv_.wait_for(lock, options_.poll_interval, [this] { return stop_ || wake_; });
  wake_ = false;
  return !stop_;
}

bool LogTreeImpl::AwaitSealed(uint64_t end) {
  for (;;) {
    const Lsn durable = log_->DurableLsn();
    if (durable >= end) return true;
    {
      std::lock_guard<std::mutex> guard(mu_);
      if (stop_) return false;
    }
    // Without causing a sync: the sealer thread's own makes `end` durable.
    auto moved = log_->AwaitDurableAbove(durable, std::chrono::milliseconds(50));
    if (!moved.ok()) return false;  // poisoned: the log reports it
  }
}

Status LogTreeImpl::OnSegmentSealed(uint64_t end) {
  QUIPU_RETURN_IF_ERROR(FlushBatchThroughFullDisk());
  // Rotation starts the next segment before the seal has synced this one:
  // until it has, neither the spine's claim nor a checkpoint may reach
  // `end` (a power cut could still take those records). Not sealed (the log
  // poisoned or the tree closing): the next seal or the close signs.
  if (!AwaitSealed(end)) return Status::OK();
  std::lock_guard<std::mutex> guard(ckpt_mu_);
  Status synced = SyncSpine();
  if (synced.IsNoSpace()) {
    // No checkpoint without a synced claim; the next seal or close signs.
    ReportBackground(synced.WithContext("spine sync at segment seal deferred"));
    return Status::OK();
  }
  QUIPU_RETURN_IF_ERROR(synced);
  last_spine_sync_ = std::chrono::steady_clock::now();
  if (!key_ || !options_.checkpoint_on_seal || end <= last_checkpoint_size_) {
    return Status::OK();
  }
  auto cp = CheckpointLocked(end);
  if (!cp.ok()) {
    {
      std::lock_guard<std::mutex> stats(mu_);
      ++counters_.checkpoint_failures;
    }
    ReportBackground(cp.status().WithContext("checkpoint at segment seal"));
  }
  return Status::OK();
}

Status LogTreeImpl::SyncSpine() {
  std::lock_guard<std::mutex> guard(file_mu_);
  QUIPU_RETURN_IF_ERROR(sync_error_);
  const uint64_t target = std::min<uint64_t>(written_, log_->DurableLsn());
  if (target <= header_.synced_leaves) return Status::OK();
  // Nodes first, then the claim: the header never vouches for nodes that a
  // power cut could still take.
  const spine::Header next{header_.sequence + 1, target};
  Status s = spine_->Sync();
  if (s.ok()) {
    s = spine_->WriteAt((next.sequence % 2) * spine::kSlotSize, spine::EncodeSlot(next));
    // A slot write refused for space changed at most the inactive slot; the
    // current claim still stands, and the write can be tried again.
    if (s.IsNoSpace()) return s;
  }
  if (s.ok()) s = spine_->Sync();
  if (!s.ok()) {
    sync_error_ = s.WithContext("spine sync failed (reopen to recover)");
    ReportFatal(sync_error_);
    return sync_error_;
  }
  header_ = next;
  std::lock_guard<std::mutex> stats(mu_);
  counters_.spine_syncs += 2;
  return Status::OK();
}

Result<uint64_t> LogTreeImpl::SyncThroughDurable() {
  QUIPU_RETURN_IF_ERROR(Usable());
  QUIPU_RETURN_IF_ERROR(WaitForSize(log_->DurableLsn()));
  std::lock_guard<std::mutex> guard(ckpt_mu_);
  QUIPU_RETURN_IF_ERROR(SyncSpine());
  std::lock_guard<std::mutex> file(file_mu_);
  return header_.synced_leaves;
}

Status LogTreeImpl::Usable() const {
  std::lock_guard<std::mutex> guard(mu_);
  if (closed_) return Status::FailedPrecondition(dir_ + ": tree is closed");
  return Status::OK();
}

Status LogTreeImpl::WaitForSize(uint64_t target) {
  std::unique_lock<std::mutex> lock(mu_);
  if (closed_) return Status::FailedPrecondition(dir_ + ": tree is closed");
  wake_ = true;
  wake_cv_.notify_all();
  progress_cv_.wait(lock, [&] { return Size() >= target || follower_done_ || !stalled_.ok(); });
  if (Size() >= target) return Status::OK();
  if (!follower_error_.ok()) return follower_error_;
  if (!stalled_.ok()) return stalled_;
  return Status::FailedPrecondition(dir_ + ": tree is closing");
}

Status LogTreeImpl::CatchUp() {
  const Lsn target = log_->LastLsn();
  QUIPU_RETURN_IF_ERROR(log_->Flush());
  return WaitForSize(target);
}

Result<uint64_t> LogTreeImpl::ResolveSize(std::optional<uint64_t> size) {
  QUIPU_RETURN_IF_ERROR(Usable());
  if (!size) {
    QUIPU_RETURN_IF_ERROR(CatchUp());
    return Size();
  }
  if (*size > Size()) {
    const Lsn last = log_->LastLsn();
    if (*size > last) {
      return Status::InvalidArgument("tree size " + std::to_string(*size) + " exceeds the log's " +
                                     std::to_string(last) + " records");
    }
    QUIPU_RETURN_IF_ERROR(CatchUp());
  }
  return *size;
}

Result<merkle::Hash> LogTreeImpl::Root(std::optional<uint64_t> size) {
  auto n = ResolveSize(size);
  if (!n.ok()) return n.status();
  return merkle::RootHash(spine::FileSource(read_file_.get(), *n), *n);
}

Result<InclusionProof> LogTreeImpl::ProveInclusion(Lsn lsn, std::optional<uint64_t> size) {
  auto n = ResolveSize(size);
  if (!n.ok()) return n.status();
  return integrity::AssembleInclusionProof(spine::FileSource(read_file_.get(), *n), lsn, *n);
}

Result<ConsistencyProof> LogTreeImpl::ProveConsistency(uint64_t old_size,
                                                       std::optional<uint64_t> new_size) {
  auto n = ResolveSize(new_size);
  if (!n.ok()) return n.status();
  return integrity::AssembleConsistencyProof(spine::FileSource(read_file_.get(), *n), old_size, *n);
}

Result<Checkpoint> LogTreeImpl::WriteCheckpoint() {
  QUIPU_RETURN_IF_ERROR(Usable());
  if (!key_) return Status::FailedPrecondition(dir_ + ": no signing key, so no checkpoints");
  QUIPU_RETURN_IF_ERROR(WaitForSize(log_->DurableLsn()));
  std::lock_guard<std::mutex> guard(ckpt_mu_);
  QUIPU_RETURN_IF_ERROR(SyncSpine());
  uint64_t synced;
  {
    std::lock_guard<std::mutex> file(file_mu_);
    synced = header_.synced_leaves;
  }
  return CheckpointLocked(synced);
}

Result<Checkpoint> LogTreeImpl::CheckpointLocked(uint64_t size) {
  auto root = merkle::RootHash(spine::FileSource(read_file_.get(), size), size);
  if (!root.ok()) return root.status();
  auto cp = SignCheckpoint(*key_, NowMicros(), size, *root);
  if (!cp.ok()) return cp.status();
  QUIPU_RETURN_IF_ERROR(AppendCheckpoint(env_, dir_, *cp));
  last_checkpoint_size_ = std::max(last_checkpoint_size_, size);
  Status anchored;
  if (options_.anchor) anchored = options_.anchor(*cp, CheckpointToJson(*cp));
  {
    std::lock_guard<std::mutex> guard(mu_);
    ++counters_.checkpoints;
    if (options_.anchor) counters_.last_anchor_error = anchored;
    if (!anchored.ok()) ++counters_.anchor_failures;
  }
  if (!anchored.ok()) ReportBackground(anchored.WithContext("anchor"));
  return cp;
}

Result<VerifyReport> LogTreeImpl::VerifyIntegrity(const VerifyOptions& options) {
  QUIPU_RETURN_IF_ERROR(CatchUp());
  VerifyOptions with_env = options;
  if (with_env.env == nullptr) with_env.env = env_;
  return quipu::VerifyIntegrity(dir_, with_env);
}

TreeStats LogTreeImpl::Stats() const {
  TreeStats stats;
  {
    std::lock_guard<std::mutex> guard(mu_);
    stats = counters_;
    stats.follower_error = follower_error_;
  }
  stats.size = Size();
  std::lock_guard<std::mutex> file(file_mu_);
  stats.synced_size = header_.synced_leaves;
  return stats;
}

void LogTreeImpl::ReportBackground(const Status& s) {
  if (options_.on_background_error) options_.on_background_error(s);
}

void LogTreeImpl::ReportFatal(const Status& s) {
  if (on_fatal_) std::call_once(fatal_once_, [&] { on_fatal_(s); });
}

Status LogTreeImpl::Close() {
  {
    std::lock_guard<std::mutex> guard(mu_);
    if (closed_) return Status::FailedPrecondition(dir_ + ": tree is closed");
    closed_ = true;
    stop_ = true;
    stopping_.store(true, std::memory_order_relaxed);
    wake_cv_.notify_all();
  }
  if (follower_.joinable()) follower_.join();
  Status s = follower_error_;  // the follower has stopped: no lock needed
  if (s.ok()) s = FlushBatch();
  if (s.IsNoSpace()) {
    // Left unwritten; the next open hashes those records again.
    std::lock_guard<std::mutex> guard(file_mu_);
    (void)spine_->Truncate(spine::FileSizeFor(written_));
  }
  Status synced = SyncSpine();
  if (s.ok()) s = synced;
  std::lock_guard<std::mutex> guard(file_mu_);
  if (spine_ != nullptr) {
    Status closed = spine_->Close();
    if (s.ok()) s = closed;
  }
  return s;
}

}  // namespace

Result<std::unique_ptr<OwnedLogTree>> OpenLogTree(Log* log, const std::string& dir, Env* env,
                                                  const TreeOptions& options,
                                                  std::function<void(const Status&)> on_fatal) {
  if (log == nullptr) return Status::InvalidArgument("OpenLogTree: no log");
  QUIPU_RETURN_IF_ERROR(merkle::CheckSha256());
  auto tree = std::make_unique<LogTreeImpl>(log, dir, env, options, std::move(on_fatal));
  QUIPU_RETURN_IF_ERROR(tree->Init());
  return std::unique_ptr<OwnedLogTree>(std::move(tree));
}

}  // namespace quipu
