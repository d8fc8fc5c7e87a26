// io/fault_env.cc — FaultEnv and its file handles: every operation goes to
// the base Env and is recorded in the model (io/fault_state.h).
#include "io/fault_env.h"

#include <algorithm>
#include <utility>
#include <vector>

#include "io/errno_status.h"
#include "io/fault_state.h"

namespace quipu {

using fault_detail::CrashedStatus;
using fault_detail::Normalize;

class FaultEnv::File final : public WritableFile {
 public:
  File(std::shared_ptr<State> state, std::unique_ptr<WritableFile> base, std::string path,
       uint64_t id, uint64_t generation)
      : state_(std::move(state)),
        base_(std::move(base)),
        path_(std::move(path)),
        id_(id),
        generation_(generation) {}

  Status Append(std::string_view data) override {
    std::lock_guard<std::mutex> lock(state_->mu);
    if (!state_->Alive(generation_)) return CrashedStatus();
    state_->appends.fetch_add(1, std::memory_order_relaxed);
    return WriteLocked(base_->Size(), data, /*append=*/true);
  }

  Status WriteAt(uint64_t offset, std::string_view data) override {
    std::lock_guard<std::mutex> lock(state_->mu);
    if (!state_->Alive(generation_)) return CrashedStatus();
    return WriteLocked(offset, data, /*append=*/false);
  }

  Status Truncate(uint64_t size) override {
    std::lock_guard<std::mutex> lock(state_->mu);
    if (!state_->Alive(generation_)) return CrashedStatus();
    State::Inode* ino = state_->FindLive(id_);
    if (ino == nullptr) return base_->Truncate(size);
    ++ino->seq;
    if (size < ino->synced_size) {
      QUIPU_RETURN_IF_ERROR(state_->RememberDurableRange(*ino, size, ino->synced_size - size));
    }
    QUIPU_RETURN_IF_ERROR(base_->Truncate(size));
    state_->live_bytes = state_->live_bytes - ino->size + size;
    ino->size = size;
    // Unsynced extents now past the end no longer exist; the first one left
    // is still the first unsynced write.
    while (!ino->unsynced.empty() && ino->unsynced.back().begin >= size) ino->unsynced.pop_back();
    if (!ino->unsynced.empty()) {
      ino->unsynced.back().end = std::min(ino->unsynced.back().end, size);
    }
    return Status::OK();
  }

  Status Sync() override {
    uint64_t seq = 0;
    uint64_t size = 0;
    {
      std::lock_guard<std::mutex> lock(state_->mu);
      if (!state_->Alive(generation_)) return CrashedStatus();
      state_->syncs.fetch_add(1, std::memory_order_relaxed);
      if (sync_failed_) state_->retried_failed_syncs.fetch_add(1, std::memory_order_relaxed);
      if (state_->sync_failures_left > 0) {
        --state_->sync_failures_left;
        sync_failed_ = true;
        state_->last_failed_sync_path = path_;
        return ErrnoStatus("fdatasync", path_, state_->sync_errno);
      }
      if (const State::Inode* ino = state_->FindLive(id_)) {
        seq = ino->seq;
        size = ino->size;
      }
    }
    // Unlocked: Append may run meanwhile; what it adds is not claimed durable.
    Status s = base_->Sync();
    std::lock_guard<std::mutex> lock(state_->mu);
    if (!s.ok()) return s;
    if (state_->generation != generation_) return CrashedStatus();
    if (State::Inode* ino = state_->FindLive(id_)) state_->ApplySync(*ino, seq, size);
    return Status::OK();
  }

  Status Close() override {
    std::lock_guard<std::mutex> lock(state_->mu);
    if (!state_->Alive(generation_)) return CrashedStatus();
    return base_->Close();
  }

  uint64_t Size() const override { return base_->Size(); }

 private:
  Status WriteLocked(uint64_t offset, std::string_view data, bool append) {
    if (state_->full_writes_left > 0) {
      --state_->full_writes_left;
      return ErrnoStatus(append ? "write" : "pwrite", path_, ENOSPC);
    }
    State::Inode* ino = state_->FindLive(id_);
    const uint64_t fits = state_->BytesThatFit(ino, offset, data.size());
    const std::string_view part = data.substr(0, fits);
    Status s;
    if (ino != nullptr) {
      ++ino->seq;
      if (offset < ino->synced_size) {
        QUIPU_RETURN_IF_ERROR(state_->RememberDurableRange(*ino, offset, part.size()));
      }
    }
    if (!part.empty()) s = append ? base_->Append(part) : base_->WriteAt(offset, part);
    if (ino != nullptr) {
      // On a failed write the base handle's size tells how far it got.
      const uint64_t end = s.ok() ? offset + part.size() : std::min(offset + part.size(), Size());
      if (end > offset) state_->NoteWrite(*ino, offset, end);
    }
    if (!s.ok()) return s;
    if (fits < data.size()) return ErrnoStatus(append ? "write" : "pwrite", path_, ENOSPC);
    return Status::OK();
  }

  const std::shared_ptr<State> state_;
  const std::unique_ptr<WritableFile> base_;
  const std::string path_;
  const uint64_t id_;  // 0: not tracked
  const uint64_t generation_;
  bool sync_failed_ = false;  // guarded by state_->mu: an injected Sync failure hit this handle
};

class FaultEnv::ReadableFile final : public RandomAccessFile {
 public:
  ReadableFile(std::shared_ptr<State> state, std::unique_ptr<RandomAccessFile> base,
               uint64_t generation)
      : state_(std::move(state)), base_(std::move(base)), generation_(generation) {}

  Status Read(uint64_t offset, size_t n, std::string* out) const override {
    if (!Alive()) return CrashedStatus();
    return base_->Read(offset, n, out);
  }

  Result<uint64_t> Size() const override {
    if (!Alive()) return CrashedStatus();
    return base_->Size();
  }

 private:
  bool Alive() const {
    std::lock_guard<std::mutex> lock(state_->mu);
    return state_->Alive(generation_);
  }

  const std::shared_ptr<State> state_;
  const std::unique_ptr<RandomAccessFile> base_;
  const uint64_t generation_;
};

// ---------------------------------------------------------------------------

FaultEnv::FaultEnv(Env* base) : state_(std::make_shared<State>(base)) {}
FaultEnv::~FaultEnv() = default;

Result<std::unique_ptr<WritableFile>> FaultEnv::NewWritableFile(const std::string& path) {
  std::lock_guard<std::mutex> lock(state_->mu);
  if (state_->crashed) return CrashedStatus();
  auto file = state_->base->NewWritableFile(path);
  if (!file.ok()) return file.status();
  const std::string key = Normalize(path);
  // Still tracked under this name means it was removed behind our back.
  if (auto it = state_->live.find(key); it != state_->live.end()) state_->Forget(it->second);
  const uint64_t id = state_->Track(key, 0, /*entry_durable=*/false);
  return std::unique_ptr<WritableFile>(
      new File(state_, std::move(*file), path, id, state_->generation));
}

Result<std::unique_ptr<WritableFile>> FaultEnv::ReopenWritableFile(const std::string& path) {
  std::lock_guard<std::mutex> lock(state_->mu);
  if (state_->crashed) return CrashedStatus();
  const uint64_t id = state_->See(Normalize(path), path);
  auto file = state_->base->ReopenWritableFile(path);
  if (!file.ok()) return file.status();
  return std::unique_ptr<WritableFile>(
      new File(state_, std::move(*file), path, id, state_->generation));
}

Result<std::unique_ptr<RandomAccessFile>> FaultEnv::NewRandomAccessFile(const std::string& path) {
  std::lock_guard<std::mutex> lock(state_->mu);
  if (state_->crashed) return CrashedStatus();
  auto file = state_->base->NewRandomAccessFile(path);
  if (!file.ok()) return file.status();
  state_->See(Normalize(path), path);
  return std::unique_ptr<RandomAccessFile>(
      new ReadableFile(state_, std::move(*file), state_->generation));
}

Result<std::vector<std::string>> FaultEnv::ListDir(const std::string& dir) {
  std::lock_guard<std::mutex> lock(state_->mu);
  if (state_->crashed) return CrashedStatus();
  return state_->base->ListDir(dir);
}

Status FaultEnv::CreateDir(const std::string& dir) {
  std::lock_guard<std::mutex> lock(state_->mu);
  if (state_->crashed) return CrashedStatus();
  return state_->base->CreateDir(dir);
}

Status FaultEnv::SyncDir(const std::string& dir) {
  std::lock_guard<std::mutex> lock(state_->mu);
  if (state_->crashed) return CrashedStatus();
  state_->dir_syncs.fetch_add(1, std::memory_order_relaxed);
  QUIPU_RETURN_IF_ERROR(state_->base->SyncDir(dir));
  state_->CommitDir(Normalize(dir));
  return Status::OK();
}

Status FaultEnv::RenameFile(const std::string& from, const std::string& to) {
  std::lock_guard<std::mutex> lock(state_->mu);
  if (state_->crashed) return CrashedStatus();
  const std::string src = Normalize(from);
  const std::string dst = Normalize(to);
  if (src == dst) return state_->base->RenameFile(from, to);
  const uint64_t moved = state_->See(src, from);
  const uint64_t replaced = state_->See(dst, to);
  std::optional<std::string> saved;
  if (replaced != 0) {
    auto captured = state_->CaptureIfDurable(replaced);
    if (!captured.ok()) return captured.status();
    saved = std::move(*captured);
  }
  QUIPU_RETURN_IF_ERROR(state_->base->RenameFile(from, to));
  if (replaced != 0) state_->Unlink(replaced, std::move(saved));
  if (moved != 0) {
    state_->live.erase(src);
    state_->live[dst] = moved;
    state_->inodes.at(moved).live_path = dst;
  }
  return Status::OK();
}

Status FaultEnv::RemoveFile(const std::string& path) {
  std::lock_guard<std::mutex> lock(state_->mu);
  if (state_->crashed) return CrashedStatus();
  const uint64_t id = state_->See(Normalize(path), path);
  if (id == 0) return state_->base->RemoveFile(path);  // missing: let the base say so
  auto saved = state_->CaptureIfDurable(id);
  if (!saved.ok()) return saved.status();
  QUIPU_RETURN_IF_ERROR(state_->base->RemoveFile(path));
  state_->Unlink(id, std::move(*saved));
  return Status::OK();
}

Result<bool> FaultEnv::FileExists(const std::string& path) {
  std::lock_guard<std::mutex> lock(state_->mu);
  if (state_->crashed) return CrashedStatus();
  return state_->base->FileExists(path);
}

Result<std::unique_ptr<FileLock>> FaultEnv::LockFile(const std::string& path) {
  std::lock_guard<std::mutex> lock(state_->mu);
  if (state_->crashed) return CrashedStatus();
  return state_->base->LockFile(path);
}

void FaultEnv::Crash() {
  std::lock_guard<std::mutex> lock(state_->mu);
  state_->crashed = true;
}

void FaultEnv::Revive() {
  std::lock_guard<std::mutex> lock(state_->mu);
  state_->crashed = false;
}

Status FaultEnv::PowerLoss(const PowerLossOptions& options) {
  std::lock_guard<std::mutex> lock(state_->mu);
  return state_->PowerLoss(options);
}

void FaultEnv::FailSyncs(int count, int err) {
  std::lock_guard<std::mutex> lock(state_->mu);
  state_->sync_failures_left = count;
  state_->sync_errno = err;
}

void FaultEnv::SetSpaceLimit(uint64_t bytes) {
  std::lock_guard<std::mutex> lock(state_->mu);
  state_->space_limit = bytes;
}

void FaultEnv::ClearSpaceLimit() {
  std::lock_guard<std::mutex> lock(state_->mu);
  state_->space_limit.reset();
}

void FaultEnv::FailWritesWithNoSpace(int count) {
  std::lock_guard<std::mutex> lock(state_->mu);
  state_->full_writes_left = count;
}

uint64_t FaultEnv::SyncCount() const { return state_->syncs.load(std::memory_order_relaxed); }
uint64_t FaultEnv::RetriedFailedSyncs() const {
  return state_->retried_failed_syncs.load(std::memory_order_relaxed);
}
std::string FaultEnv::LastFailedSyncPath() const {
  std::lock_guard<std::mutex> lock(state_->mu);
  return state_->last_failed_sync_path;
}
uint64_t FaultEnv::DirSyncCount() const {
  return state_->dir_syncs.load(std::memory_order_relaxed);
}
uint64_t FaultEnv::AppendCount() const { return state_->appends.load(std::memory_order_relaxed); }

void FaultEnv::ResetCounters() {
  state_->syncs.store(0, std::memory_order_relaxed);
  state_->retried_failed_syncs.store(0, std::memory_order_relaxed);
  state_->dir_syncs.store(0, std::memory_order_relaxed);
  state_->appends.store(0, std::memory_order_relaxed);
}

}  // namespace quipu
