// io/fault_state.cc — FaultEnv::State: directory commits and power loss.
#include "io/fault_state.h"

#include <algorithm>

#include "io/errno_status.h"

namespace quipu {

using fault_detail::kPageSize;
using fault_detail::kTearGranularity;
using fault_detail::ParentDir;

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
  QUIPU_RETURN_IF_ERROR(UndoOverwrites(ino, w, options, rng));
  for (const Undo& u : ino.undo) size = std::max(size, u.offset + u.bytes.size());
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

// Puts back the durable bytes that unsynced writes overwrote. With random
// pages, each overwritten page either reached the disk with its newest bytes
// or not at all (the disk wrote pages back in any order); otherwise none did.
Status FaultEnv::State::UndoOverwrites(const Inode& ino, WritableFile& w,
                                       const PowerLossOptions& options, std::mt19937_64& rng) {
  std::map<uint64_t, bool> kept;  // page -> whether its newest bytes survive
  if (options.keep_random_pages) {
    std::bernoulli_distribution keep(options.page_keep_probability);
    for (const Undo& u : ino.undo) {
      for (uint64_t page = u.offset / kPageSize * kPageSize; page < u.offset + u.bytes.size();
           page += kPageSize) {
        if (kept.count(page) == 0) kept[page] = keep(rng);
      }
    }
  }
  for (auto u = ino.undo.rbegin(); u != ino.undo.rend(); ++u) {
    const uint64_t end = u->offset + u->bytes.size();
    for (uint64_t lo = u->offset; lo < end;) {
      const uint64_t page = lo / kPageSize * kPageSize;
      const uint64_t hi = std::min(page + kPageSize, end);
      if (!kept[page]) {
        QUIPU_RETURN_IF_ERROR(
            w.WriteAt(lo, std::string_view(u->bytes).substr(lo - u->offset, hi - lo)));
      }
      lo = hi;
    }
  }
  return Status::OK();
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

}  // namespace quipu
