// io/fault_state.h — the model behind FaultEnv: what every file it touched
// holds, what a power cut would leave of it, and the faults armed next.
// Private to src/io (fault_env.cc and fault_state.cc).
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
#ifndef QUIPU_IO_FAULT_STATE_H_
#define QUIPU_IO_FAULT_STATE_H_

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "io/fault_env.h"

namespace quipu {

namespace fault_detail {

inline constexpr uint64_t kTearGranularity = 512;
inline constexpr uint64_t kPageSize = 4096;

inline Status CrashedStatus() { return Status::IOError("simulated crash", EIO); }

// Map keys must not depend on how a caller spelled the path: "d//f" and "d/f"
// are one file, "d/" and "d" one directory.
inline std::string Normalize(std::string_view path) {
  std::string out;
  out.reserve(path.size());
  for (char c : path) {
    if (c == '/' && !out.empty() && out.back() == '/') continue;
    out.push_back(c);
  }
  if (out.size() > 1 && out.back() == '/') out.pop_back();
  return out;
}

inline std::string ParentDir(const std::string& path) {
  const size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

}  // namespace fault_detail

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
  std::string last_failed_sync_path;
  std::optional<uint64_t> space_limit;
  int full_writes_left = 0;
  uint64_t live_bytes = 0;  // sum of Inode::size over files with a live path

  std::atomic<uint64_t> syncs{0};
  std::atomic<uint64_t> retried_failed_syncs{0};
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
  Status UndoOverwrites(const Inode& ino, WritableFile& w, const PowerLossOptions& options,
                        std::mt19937_64& rng);
  Result<uint64_t> KeepRandomPages(WritableFile& w, uint64_t from, uint64_t to,
                                   const PowerLossOptions& options, std::mt19937_64& rng);
  Status Restore(const Inode& ino);
};

}  // namespace quipu

#endif  // QUIPU_IO_FAULT_STATE_H_
