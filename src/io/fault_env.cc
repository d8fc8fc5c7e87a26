// io/fault_env.cc — the bookkeeping behind FaultEnv.
//
// The model. Every file the env has touched is an "inode" with
//   - a live path (where it is on the real disk now; empty once removed),
//   - a durable path (the name under which it survives a power cut; empty
//     until the directory holding it is synced),
//   - synced_size: the length Sync last made durable, and an undo list holding
//     the old bytes of any durable range overwritten or truncated away since,
//     so PowerLoss can put the durable content back exactly,
//   - the extents of writes past synced_size since the last sync, the first
//     of which is where PowerLoss tears when asked to.
// Directory entries live in two maps, `live` and `durable` (path -> inode).
// SyncDir(d) copies live to durable for the entries of d. A rename is thus a
// create of the new name plus a remove of the old one until the directory is
// synced; renaming across directories becomes durable when the destination
// is synced (an inode has one durable name at a time).
//
// Simplifications, on purpose:
//   - Directories themselves are always durable: only files appear and vanish.
//   - A file the env meets for the first time (reopened, read, or the target
//     of a rename or remove) is taken as durable at its size at that moment.
//     Files it never touches are left alone by PowerLoss.
//   - Every change to a tracked file must go through this env.
//
// Locking: one mutex in State guards all of it and is held across the base
// Env call of every operation except WritableFile::Sync, which drops it while
// fdatasync runs so Append can proceed from another thread; the sync then
// applies the size it saw when it began.
#include "io/fault_env.h"

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <deque>
#include <optional>
#include <utility>
#include <vector>

#include "io/errno_status.h"

namespace quipu {

namespace {

constexpr uint64_t kTearGranularity = 512;
constexpr uint64_t kPageSize = 4096;

Status CrashedStatus() { return Status::IOError("simulated crash", EIO); }

// Map keys must not depend on how a caller spelled the path: "d//f" and "d/f"
// are one file, "d/" and "d" one directory.
std::string Normalize(std::string_view path) {
  std::string out;
  out.reserve(path.size());
  for (char c : path) {
    if (c == '/' && !out.empty() && out.back() == '/') continue;
    out.push_back(c);
  }
  if (out.size() > 1 && out.back() == '/') out.pop_back();
  return out;
}

std::string ParentDir(const std::string& path) {
  const size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

}  // namespace

struct FaultEnv::State {
  struct Undo {
    uint64_t seq;  // Inode::seq of the change that overwrote these bytes
    uint64_t offset;
    std::string bytes;
  };
  struct Extent {
    uint64_t seq;
    uint64_t begin;
    uint64_t end;
  };
  struct Inode {
    std::string live_path;     // empty: removed or replaced
    std::string durable_path;  // empty: no durable directory entry
    uint64_t size = 0;         // as written through this env
    uint64_t synced_size = 0;
    uint64_t seq = 0;         // bumped by every write and truncate
    uint64_t synced_seq = 0;  // seq covered by the last applied sync
    std::vector<Undo> undo;   // oldest first; undone newest first
    std::deque<Extent> unsynced;
    // Durable content kept in memory once the file has no live path.
    std::optional<std::string> saved;
  };

  explicit State(Env* b) : base(b) {}

  Env* const base;
  std::mutex mu;
  // Everything below is guarded by mu, except the counters.
  std::map<uint64_t, Inode> inodes;
  std::map<std::string, uint64_t> live;
  std::map<std::string, uint64_t> durable;
  uint64_t next_id = 1;
  uint64_t generation = 0;  // bumped by PowerLoss: older handles are dead
  bool crashed = false;
  int sync_failures_left = 0;
  int sync_errno = EIO;
  std::optional<uint64_t> space_limit;
  int full_writes_left = 0;
  uint64_t live_bytes = 0;  // sum of Inode::size over files with a live path

  std::atomic<uint64_t> syncs{0};
  std::atomic<uint64_t> dir_syncs{0};
  std::atomic<uint64_t> appends{0};

  // --- helpers; all require mu ---

  bool Alive(uint64_t gen) const { return !crashed && gen == generation; }

  Inode* Find(uint64_t id) {
    auto it = inodes.find(id);
    return it == inodes.end() ? nullptr : &it->second;
  }

  // A live, tracked inode; writes to removed files are passed through untracked.
  Inode* FindLive(uint64_t id) {
    Inode* ino = Find(id);
    return ino != nullptr && !ino->live_path.empty() ? ino : nullptr;
  }

  uint64_t Track(const std::string& path, uint64_t size, bool entry_durable) {
    const uint64_t id = next_id++;
    Inode& ino = inodes[id];
    ino.live_path = path;
    ino.size = ino.synced_size = size;
    if (entry_durable) {
      ino.durable_path = path;
      durable[path] = id;
    }
    live[path] = id;
    live_bytes += size;
    return id;
  }

  // The id of the file at `path`, registering a file met for the first time
  // as durable at its current size. 0 when there is no such file.
  uint64_t See(const std::string& path, const std::string& raw_path) {
    if (auto it = live.find(path); it != live.end()) return it->second;
    auto file = base->NewRandomAccessFile(raw_path);
    if (!file.ok()) return 0;
    auto size = (*file)->Size();
    if (!size.ok()) return 0;
    // A durable entry for this name belongs to an older, removed file; the
    // one found on disk replaces it.
    if (auto it = durable.find(path); it != durable.end()) Forget(it->second);
    return Track(path, *size, /*entry_durable=*/true);
  }

  // Drops every trace of an inode.
  void Forget(uint64_t id) {
    Inode* ino = Find(id);
    if (ino == nullptr) return;
    if (!ino->live_path.empty()) {
      live.erase(ino->live_path);
      live_bytes -= ino->size;
    }
    if (!ino->durable_path.empty()) durable.erase(ino->durable_path);
    inodes.erase(id);
  }

  // Reads the bytes `ino` would hold after a power cut without tearing.
  Result<std::string> ReadDurable(const Inode& ino) {
    std::string bytes;
    auto file = base->NewRandomAccessFile(ino.live_path);
    if (!file.ok()) return file.status();
    QUIPU_RETURN_IF_ERROR((*file)->Read(0, ino.synced_size, &bytes));
    for (auto u = ino.undo.rbegin(); u != ino.undo.rend(); ++u) {
      if (bytes.size() < u->offset + u->bytes.size()) bytes.resize(u->offset + u->bytes.size());
      bytes.replace(u->offset, u->bytes.size(), u->bytes);
    }
    bytes.resize(ino.synced_size);
    return bytes;
  }

  // Saves the durable bytes in [offset, offset + len) before they change.
  Status RememberDurableRange(Inode& ino, uint64_t offset, uint64_t len) {
    const uint64_t end = std::min({offset + len, ino.synced_size, ino.size});
    if (offset >= end) return Status::OK();
    auto file = base->NewRandomAccessFile(ino.live_path);
    if (!file.ok()) return file.status();
    std::string old;
    QUIPU_RETURN_IF_ERROR((*file)->Read(offset, end - offset, &old));
    ino.undo.push_back(Undo{ino.seq, offset, std::move(old)});
    return Status::OK();
  }

  // How many of `n` bytes written at `offset` fit under the space limit.
  uint64_t BytesThatFit(const Inode* ino, uint64_t offset, uint64_t n) const {
    if (!space_limit || ino == nullptr) return n;
    const uint64_t room = *space_limit > live_bytes ? *space_limit - live_bytes : 0;
    const uint64_t max_end = ino->size + room;  // growth beyond ino->size costs space
    if (offset + n <= max_end) return n;
    return max_end > offset ? max_end - offset : 0;
  }

  // Records a write of [offset, end) that reached the file (fully or not).
  void NoteWrite(Inode& ino, uint64_t offset, uint64_t end) {
    if (end > ino.size) {
      live_bytes += end - ino.size;
      ino.size = end;
    }
    if (end > ino.synced_size) {
      ino.unsynced.push_back(Extent{ino.seq, std::max(offset, ino.synced_size), end});
    }
  }

  void ApplySync(Inode& ino, uint64_t seq, uint64_t size) {
    if (seq <= ino.synced_seq) return;  // a later sync already covered more
    ino.synced_seq = seq;
    ino.synced_size = size;
    std::erase_if(ino.undo, [seq](const Undo& u) { return u.seq <= seq; });
    while (!ino.unsynced.empty() && ino.unsynced.front().seq <= seq) ino.unsynced.pop_front();
  }

  // A live inode lost its name (removed, or replaced by a rename). `saved` is
  // its durable content, read before the base call destroyed it.
  void Unlink(uint64_t id, std::optional<std::string> saved) {
    Inode& ino = inodes.at(id);
    live.erase(ino.live_path);
    live_bytes -= ino.size;
    ino.live_path.clear();
    if (ino.durable_path.empty()) {
      inodes.erase(id);
    } else {
      ino.saved = std::move(saved);
      ino.undo.clear();
      ino.unsynced.clear();
    }
  }

  // Durable content of live inode `id` if it has a durable entry to lose.
  Result<std::optional<std::string>> CaptureIfDurable(uint64_t id) {
    const Inode& ino = inodes.at(id);
    if (ino.durable_path.empty()) return std::optional<std::string>();
    auto bytes = ReadDurable(ino);
    if (!bytes.ok()) return bytes.status();
    return std::optional<std::string>(std::move(*bytes));
  }

  void CommitDir(const std::string& dir);
  Status PowerLoss(const PowerLossOptions& options);
  Status RollBack(Inode& ino, const PowerLossOptions& options, std::mt19937_64& rng);
  Result<uint64_t> KeepRandomPages(WritableFile& w, uint64_t from, uint64_t to,
                                   const PowerLossOptions& options, std::mt19937_64& rng);
  Status Restore(const Inode& ino);
};

// SyncDir succeeded: the entries of `dir` are now what is live there.
void FaultEnv::State::CommitDir(const std::string& dir) {
  for (auto it = durable.begin(); it != durable.end();) {
    auto l = live.find(it->first);
    if (ParentDir(it->first) != dir || (l != live.end() && l->second == it->second)) {
      ++it;
      continue;
    }
    Inode& ino = inodes.at(it->second);
    ino.durable_path.clear();
    if (ino.live_path.empty()) inodes.erase(it->second);
    it = durable.erase(it);
  }
  for (const auto& [path, id] : live) {
    if (ParentDir(path) != dir || durable.count(path) != 0) continue;
    Inode& ino = inodes.at(id);
    // One durable name per inode: syncing the destination of a cross-directory
    // rename retires the old name.
    if (!ino.durable_path.empty()) durable.erase(ino.durable_path);
    ino.durable_path = path;
    durable[path] = id;
  }
}

// Cuts a live, durable inode back to its durable content, in place.
Status FaultEnv::State::RollBack(Inode& ino, const PowerLossOptions& options,
                                 std::mt19937_64& rng) {
  auto file = base->ReopenWritableFile(ino.live_path);
  if (!file.ok()) return file.status();
  WritableFile& w = **file;
  uint64_t size = ino.size;
  for (auto u = ino.undo.rbegin(); u != ino.undo.rend(); ++u) {
    QUIPU_RETURN_IF_ERROR(w.WriteAt(u->offset, u->bytes));
    size = std::max(size, u->offset + u->bytes.size());
  }
  uint64_t cut = ino.synced_size;
  if (options.keep_random_pages) {
    auto end = KeepRandomPages(w, cut, size, options, rng);
    if (!end.ok()) return end.status();
    cut = *end;
  } else if (options.tear_last_write && !ino.unsynced.empty()) {
    const uint64_t hi = std::min(ino.unsynced.front().end, size);
    if (hi > cut) {
      const uint64_t pick = std::uniform_int_distribution<uint64_t>(cut, hi)(rng);
      cut = std::max(cut, pick / kTearGranularity * kTearGranularity);
    }
  }
  QUIPU_RETURN_IF_ERROR(w.Truncate(cut));
  ino.size = cut;
  return w.Close();
}

// Decides page by page which of the unsynced bytes in [from, to) reached the
// disk; returns the new file size. Dropped pages below it are zeroed, which
// is what a file system shows for blocks it allocated but never wrote.
Result<uint64_t> FaultEnv::State::KeepRandomPages(WritableFile& w, uint64_t from, uint64_t to,
                                                  const PowerLossOptions& options,
                                                  std::mt19937_64& rng) {
  std::bernoulli_distribution keep(options.page_keep_probability);
  std::vector<std::pair<uint64_t, uint64_t>> dropped;
  uint64_t end = from;
  for (uint64_t page = from / kPageSize * kPageSize; page < to; page += kPageSize) {
    const uint64_t lo = std::max(page, from);
    const uint64_t hi = std::min(page + kPageSize, to);
    if (keep(rng)) {
      end = hi;
    } else {
      dropped.emplace_back(lo, hi);
    }
  }
  for (const auto& [lo, hi] : dropped) {
    if (lo >= end) break;
    QUIPU_RETURN_IF_ERROR(w.WriteAt(lo, std::string(hi - lo, '\0')));
  }
  return end;
}

// Writes a removed inode's saved durable content back under its durable name.
Status FaultEnv::State::Restore(const Inode& ino) {
  auto exists = base->FileExists(ino.durable_path);
  if (!exists.ok()) return exists.status();
  if (*exists) QUIPU_RETURN_IF_ERROR(base->RemoveFile(ino.durable_path));
  auto file = base->NewWritableFile(ino.durable_path);
  if (!file.ok()) return file.status();
  QUIPU_RETURN_IF_ERROR((*file)->Append(ino.saved ? *ino.saved : std::string()));
  return (*file)->Close();
}

Status FaultEnv::State::PowerLoss(const PowerLossOptions& options) {
  ++generation;
  crashed = false;
  std::mt19937_64 rng(options.seed);
  Status first_error;
  auto note = [&first_error](Status s) {
    if (first_error.ok() && !s.ok()) first_error = std::move(s);
  };

  // 1. Files whose entry never became durable vanish; the rest are cut back in
  //    place, and those living under another name are parked under a
  //    temporary one, so that step 2 can never collide with a live file.
  std::vector<uint64_t> parked;
  for (auto& [id, ino] : inodes) {
    if (ino.live_path.empty()) continue;
    if (ino.durable_path.empty()) {
      note(base->RemoveFile(ino.live_path));
      continue;
    }
    note(RollBack(ino, options, rng));
    if (ino.durable_path != ino.live_path) {
      const std::string parking = ino.durable_path + ".faultenv-" + std::to_string(id);
      note(base->RenameFile(ino.live_path, parking));
      ino.live_path = parking;
      parked.push_back(id);
    }
  }
  // 2. Names come back to what the last directory syncs recorded.
  for (uint64_t id : parked) {
    Inode& ino = inodes.at(id);
    note(base->RenameFile(ino.live_path, ino.durable_path));
  }
  for (auto& [id, ino] : inodes) {
    if (ino.live_path.empty() && !ino.durable_path.empty()) {
      note(Restore(ino));
      ino.size = ino.saved ? ino.saved->size() : 0;
    }
  }
  // 3. What is on disk now is the durable state: start afresh from it.
  live.clear();
  live_bytes = 0;
  for (auto it = inodes.begin(); it != inodes.end();) {
    Inode& ino = it->second;
    if (ino.durable_path.empty()) {
      it = inodes.erase(it);
      continue;
    }
    ino.live_path = ino.durable_path;
    ino.synced_size = ino.size;
    ino.synced_seq = ino.seq;
    ino.undo.clear();
    ino.unsynced.clear();
    ino.saved.reset();
    live[ino.live_path] = it->first;
    live_bytes += ino.size;
    ++it;
  }
  return first_error;
}

// ---------------------------------------------------------------------------

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
      if (state_->sync_failures_left > 0) {
        --state_->sync_failures_left;
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
uint64_t FaultEnv::DirSyncCount() const {
  return state_->dir_syncs.load(std::memory_order_relaxed);
}
uint64_t FaultEnv::AppendCount() const { return state_->appends.load(std::memory_order_relaxed); }

void FaultEnv::ResetCounters() {
  state_->syncs.store(0, std::memory_order_relaxed);
  state_->dir_syncs.store(0, std::memory_order_relaxed);
  state_->appends.store(0, std::memory_order_relaxed);
}

}  // namespace quipu
