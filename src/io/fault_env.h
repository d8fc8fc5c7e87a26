// io/fault_env.h — an Env that can make the disk lie the way real disks do.
//
// FaultEnv wraps a real Env (files live on the real filesystem, normally in a
// test's temporary directory) and remembers, per file, how much of it has
// been made durable by Sync and whether its directory entry has been made
// durable by SyncDir. From that it can rebuild the disk as a power cut would
// leave it, and it can inject the failures a durable log must survive:
//
//   PowerLoss(opts)   Every file is cut back to its last synced size (keeping,
//                     if asked, a torn prefix of the first unsynced write at
//                     512-byte granularity, or a random subset of its
//                     unsynced 4 KiB pages); files created since their
//                     directory was last synced disappear, and files removed
//                     since then come back (their durable bytes). Call it only
//                     after the code under test has stopped touching files:
//                     usually after Crash(), then destroy the Log, then
//                     PowerLoss(), then reopen.
//   Crash()           From now on every operation fails with IOError (as if
//                     the process had died): lets a test destroy a Log without
//                     its destructor writing anything. PowerLoss() or Revive()
//                     ends it.
//   FailSyncs(k, e)   The next k file Syncs fail with errno e (default EIO);
//                     the failed sync makes nothing durable.
//   SetSpaceLimit(b)  Appends/WriteAts that would make the total bytes of all
//                     live files exceed b fail with ENOSPC after writing what
//                     fits (a short write, as a real full disk does);
//                     ClearSpaceLimit() lifts it.
//   FailWritesWithNoSpace(k)  The next k Appends/WriteAts fail with ENOSPC
//                     and write nothing, whatever the limit: a disk that was
//                     full for a moment, with room again when the caller looks.
//
// Counters (SyncCount etc.) let tests observe what the code under test asked
// of the disk, e.g. "EveryN(64) with 6 400 appends made 100 syncs".
//
// Thread safety: all methods may be called concurrently.
#ifndef QUIPU_IO_FAULT_ENV_H_
#define QUIPU_IO_FAULT_ENV_H_

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <set>
#include <string>

#include "quipu/env.h"

namespace quipu {

struct PowerLossOptions {
  // Keep a prefix of the first unsynced write, torn at a 512-byte boundary of
  // the file, chosen with `seed`.
  bool tear_last_write = false;
  // Models a disk that wrote back dirty pages in any order: each file-aligned
  // 4 KiB page holding unsynced appended bytes survives with probability
  // `page_keep_probability`; the file ends with the last kept page, and the
  // dropped pages before it read as zeros (a hole). Pages of synced bytes
  // that unsynced writes overwrote keep their new bytes with the same
  // probability, else their durable ones (without this option every
  // overwrite is undone). Takes precedence over tear_last_write.
  bool keep_random_pages = false;
  double page_keep_probability = 0.5;
  uint64_t seed = 0;
};

class FaultEnv : public Env {
 public:
  explicit FaultEnv(Env* base);
  ~FaultEnv() override;

  // --- Env ---
  Result<std::unique_ptr<WritableFile>> NewWritableFile(const std::string& path) override;
  Result<std::unique_ptr<WritableFile>> ReopenWritableFile(const std::string& path) override;
  Result<std::unique_ptr<RandomAccessFile>> NewRandomAccessFile(const std::string& path) override;
  Result<std::vector<std::string>> ListDir(const std::string& dir) override;
  Status CreateDir(const std::string& dir) override;
  Status SyncDir(const std::string& dir) override;
  Status RenameFile(const std::string& from, const std::string& to) override;
  Status RemoveFile(const std::string& path) override;
  Result<bool> FileExists(const std::string& path) override;
  Result<std::unique_ptr<FileLock>> LockFile(const std::string& path) override;

  // --- fault control ---
  void Crash();
  void Revive();
  Status PowerLoss(const PowerLossOptions& options = {});
  void FailSyncs(int count, int err = 5 /* EIO */);
  void SetSpaceLimit(uint64_t bytes);
  void ClearSpaceLimit();
  void FailWritesWithNoSpace(int count);

  // --- observation ---
  uint64_t SyncCount() const;  // successful + failed WritableFile::Sync calls
  // Syncs called on a file handle whose earlier Sync failed: the retry
  // PostgreSQL's fsyncgate taught never to make (it may falsely succeed).
  uint64_t RetriedFailedSyncs() const;
  // The path of the file whose Sync failed last by FailSyncs; "" if none did.
  std::string LastFailedSyncPath() const;
  uint64_t DirSyncCount() const;
  uint64_t AppendCount() const;  // WritableFile::Append calls
  void ResetCounters();

 private:
  class File;          // WritableFile handed out by this Env
  class ReadableFile;  // RandomAccessFile handed out by this Env
  struct State;
  std::shared_ptr<State> state_;  // shared with open files, which may outlive calls
};

}  // namespace quipu

#endif  // QUIPU_IO_FAULT_ENV_H_
