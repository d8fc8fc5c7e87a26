// io/rocksdb_env.h — a rocksdb::Env whose files live behind a quipu::Env.
//
// quipu keeps derived data (the audit store's persistent indexes) in RocksDB.
// Its file I/O must go through the same quipu::Env as the log's, so that the
// fault-injecting Env of the tests cuts RocksDB's power, fails its fsyncs and
// fills its disk together with the log's, and so that no RocksDB file is
// ever opened through a symbolic link (env.h).
//
// Through quipu::Env (every byte, every sync, every name):
//   NewSequentialFile, NewRandomAccessFile   Env::NewRandomAccessFile; the
//                                            sequential file keeps a position
//   NewWritableFile          Env::NewWritableFile. RocksDB expects an existing
//                            file to be replaced (POSIX opens it O_TRUNC), and
//                            does ask for names that exist (a LOG, a file
//                            number reused after a crash); quipu's refuses
//                            them, so the old file is removed first. A
//                            symbolic link there is refused, never removed.
//   ReopenWritableFile       Env::ReopenWritableFile, or NewWritableFile when
//                            the file is missing (RocksDB expects it created)
//   ReuseWritableFile        RenameFile, then NewWritableFile (nothing of the
//                            old WAL is kept, so recycling saves no work)
//   writable file Append, Truncate, Close, GetFileSize: the same names;
//     Sync and Fsync: WritableFile::Sync (fdatasync: it covers the size);
//     Flush: nothing, as quipu's Append already hands bytes to the OS
//   NewDirectory + Fsync     Env::SyncDir
//   FileExists, GetChildren (ListDir), DeleteFile (RemoveFile), RenameFile,
//   CreateDir, CreateDirIfMissing, Truncate (reopen + truncate),
//   GetFileSize (a RandomAccessFile's Size), GetChildrenFileAttributes
//   LockFile, UnlockFile     Env::LockFile: an flock held until UnlockFile.
//                            Another holder, in this process or another, makes
//                            it fail with an IOError naming the holder's pid.
//   NewLogger                a LOG writer of ours over NewWritableFile
//                            (io/rocksdb_info_log.h): the POSIX one follows
//                            links, and RocksDB's EnvLogger aborts the process
//                            on the line after a failed write (Debian builds
//                            librocksdb with assertions on)
//
// Passed to RocksDB's default (POSIX) file system: calls that read no file's
// bytes and change none — GetFileModificationTime, GetAbsolutePath,
// IsDirectory, AreFilesSame, NumFileLinks, GetFreeSpace, GetTestDirectory,
// the FileOptions tuning hooks — and DeleteDir, which removes only an empty
// directory (quipu::Env has no such verb; RocksDB calls it from DestroyDB).
// GetFreeSpace thus reports the real disk, not a FaultEnv's space limit.
//
// NotSupported (quipu::Env cannot express them, a running DB does not need
// them): NewRandomRWFile, NewMemoryMappedFileBuffer, LinkFile.
// Direct I/O and mmap options are ignored: every read and write is buffered
// pread/pwrite through the Env.
//
// Errors: a quipu Status becomes a rocksdb::IOStatus with the same message.
// NoSpace becomes IOStatus::NoSpace, marked retryable as RocksDB's POSIX
// file system does, so RocksDB's full-disk handling applies; an ENOENT
// becomes PathNotFound (NotFound from FileExists and GetChildren), Busy an
// IOError, Corruption/InvalidArgument/NotSupported/NotFound their namesakes.
//
// Power cuts (tests/io/rocksdb_env_test.cc): RocksDB over this Env keeps
// every synced write and always reopens. The unsynced writes that survive
// are a prefix only if the disk keeps a prefix of the WAL: when it writes
// pages back out of order, RocksDB's WAL recovery reads the zeroed page as
// preallocated space and may replay later writes past lost ones. Derived
// data that needs prefix recovery must sync its writes, or skip the WAL and
// make flushes its durable points (a cut then leaves the last flush).
//
// Locks: quipu takes flock(2) locks and RocksDB's POSIX file system fcntl(2)
// locks, which do not see each other: a DB must be opened through this Env
// by every process (quipu's tools all do), or its lock guards nothing.
//
// Thread safety: as quipu::Env — the returned Env and its files may be used
// as RocksDB uses any Env; a writable file's Sync may run beside its Append.
#ifndef QUIPU_IO_ROCKSDB_ENV_H_
#define QUIPU_IO_ROCKSDB_ENV_H_

#include <rocksdb/env.h>
#include <rocksdb/io_status.h>

#include <memory>

#include "quipu/env.h"
#include "quipu/status.h"

namespace quipu {

// An rocksdb::Env whose file system routes through `env` (not owned; must
// outlive the returned Env and every DB opened with it). Threads, clock and
// scheduling are RocksDB's default Env's.
std::unique_ptr<rocksdb::Env> NewRocksDbEnv(quipu::Env* env);

// The IOStatus that stands for `s` (mapping above). Exposed for tests.
rocksdb::IOStatus ToRocksIOStatus(const Status& s);

}  // namespace quipu

#endif  // QUIPU_IO_ROCKSDB_ENV_H_
