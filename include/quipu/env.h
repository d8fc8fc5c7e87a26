// quipu/env.h — the only door between quipu and the operating system.
//
// Every byte quipu reads or writes, every fsync, every directory change and the
// writer lock go through an Env. Env::Default() is the POSIX implementation;
// tests substitute a fault-injecting Env that can forget unsynced data (power
// loss), tear the last write, fail an fsync, or report a full disk.
//
// The durability ladder, which callers must respect:
//   WritableFile::Append  bytes handed to the OS: they survive a process crash,
//                         not a power loss.
//   WritableFile::Sync    fdatasync: the file's data and size survive power loss.
//   Env::SyncDir          fsync of a directory: entries created, renamed or
//                         removed in it survive power loss. A new file is not
//                         durably findable until its directory has been synced.
// Nothing else (close, rename, a successful write) makes anything durable.
//
// Errors: every method returns a non-OK Status on failure, never throws.
// ENOSPC becomes Status::NoSpace; other errno values Status::IOError carrying
// the errno. After a failed Append a prefix of the data may have been written;
// the caller decides whether to Truncate it away.
//
// Symbolic links: a file is never reached through one. Opening, reopening,
// creating or locking a path whose last component is a symbolic link fails
// with IOError (errno ELOOP) "<path> is a symbolic link; refusing to follow
// it", so whoever can write a store directory cannot point LOCK, a segment or
// CHECKPOINTS at a file elsewhere and have the writer truncate or append to
// it, nor have a reader read something else. Directories on the way are
// followed: a store directory may itself be a symlink. RenameFile and
// RemoveFile act on a link itself, never on its target.
//
// Descriptors: files are never held on descriptors 0, 1 or 2. If the process
// has closed stdin, stdout or stderr, whatever it (or a child inheriting them)
// later prints there must not land in a store file.
//
// Thread safety: an Env is safe for concurrent use. A WritableFile is not: one
// thread at a time, except that Sync may run concurrently with Append (the
// sync then covers at least the bytes whose Append returned before it began).
// A RandomAccessFile is safe for concurrent reads.
#ifndef QUIPU_ENV_H_
#define QUIPU_ENV_H_

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "quipu/status.h"

namespace quipu {

class WritableFile {
 public:
  virtual ~WritableFile() = default;

  // Writes all of `data` at the end of the file (write(2), retried on short
  // writes and EINTR).
  virtual Status Append(std::string_view data) = 0;
  // Writes `data` at `offset` (pwrite(2)); does not move the append position
  // unless it writes past the end.
  virtual Status WriteAt(uint64_t offset, std::string_view data) = 0;
  // Cuts the file to `size` bytes; later Appends continue from there.
  virtual Status Truncate(uint64_t size) = 0;
  // fdatasync(2): data written so far and the file size reach stable storage.
  virtual Status Sync() = 0;
  // Releases the descriptor. Does not sync.
  virtual Status Close() = 0;
  // Current size in bytes as seen by this handle (end of the last write).
  virtual uint64_t Size() const = 0;
};

class RandomAccessFile {
 public:
  virtual ~RandomAccessFile() = default;

  // Reads up to `n` bytes at `offset` into `*out` (resized to what was read:
  // fewer than `n` only at end of file).
  virtual Status Read(uint64_t offset, size_t n, std::string* out) const = 0;
  // Size of the file now.
  virtual Result<uint64_t> Size() const = 0;
};

// An exclusive advisory lock on a file; released when destroyed.
class FileLock {
 public:
  virtual ~FileLock() = default;
};

class Env {
 public:
  virtual ~Env() = default;

  // The POSIX implementation. Never null, never destroyed.
  static Env* Default();

  // Creates a new empty file; fails if it already exists.
  virtual Result<std::unique_ptr<WritableFile>> NewWritableFile(const std::string& path) = 0;
  // Opens an existing file for appending at its current end.
  virtual Result<std::unique_ptr<WritableFile>> ReopenWritableFile(const std::string& path) = 0;
  virtual Result<std::unique_ptr<RandomAccessFile>> NewRandomAccessFile(
      const std::string& path) = 0;

  // Names (not paths) of the entries of `dir`, without "." and "..", unsorted.
  virtual Result<std::vector<std::string>> ListDir(const std::string& dir) = 0;
  // Creates `dir` (one level); OK if it already exists as a directory.
  virtual Status CreateDir(const std::string& dir) = 0;
  // fsync(2) on the directory itself.
  virtual Status SyncDir(const std::string& dir) = 0;
  virtual Status RenameFile(const std::string& from, const std::string& to) = 0;
  virtual Status RemoveFile(const std::string& path) = 0;
  virtual Result<bool> FileExists(const std::string& path) = 0;

  // Takes an exclusive lock on `path` (created if missing) and records this
  // process's pid in it. If another holder has it, returns Status::Busy whose
  // message names the holder's pid.
  virtual Result<std::unique_ptr<FileLock>> LockFile(const std::string& path) = 0;
};

}  // namespace quipu

#endif  // QUIPU_ENV_H_
