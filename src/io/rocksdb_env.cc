// io/rocksdb_env.cc — RocksDB's FileSystem interface over a quipu::Env.
//
// Each RocksDB file object owns the quipu file it stands for; reads copy
// from quipu's string into RocksDB's scratch buffer (quipu's Read has no
// caller-owned buffer), one copy per block read, well below RocksDB's own
// checksum and decompression work.
#include "io/rocksdb_env.h"

#include <rocksdb/file_system.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "io/rocksdb_info_log.h"

namespace quipu {

rocksdb::IOStatus ToRocksIOStatus(const Status& s) {
  using rocksdb::IOStatus;
  const std::string& msg = s.message();
  switch (s.code()) {
    case Status::Code::kOk:
      return IOStatus::OK();
    case Status::Code::kNoSpace: {
      // Retryable as RocksDB's POSIX file system marks ENOSPC: RocksDB may
      // then resume by itself once its SstFileManager sees room again.
      IOStatus io = IOStatus::NoSpace(msg);
      io.SetRetryable(true);
      return io;
    }
    case Status::Code::kNotFound:
      return IOStatus::NotFound(msg);
    case Status::Code::kCorruption:
      return IOStatus::Corruption(msg);
    case Status::Code::kInvalidArgument:
      return IOStatus::InvalidArgument(msg);
    case Status::Code::kNotSupported:
      return IOStatus::NotSupported(msg);
    case Status::Code::kIOError:
      // RocksDB tells a missing file from a failing disk by this subcode.
      if (s.sys_errno() == ENOENT) return IOStatus::PathNotFound(msg);
      return IOStatus::IOError(msg);
    default:  // kBusy (a lock held elsewhere), kFailedPrecondition, ...
      return IOStatus::IOError(msg);
  }
}

namespace {

using rocksdb::FileOptions;
using rocksdb::IODebugContext;
using rocksdb::IOOptions;
using rocksdb::IOStatus;
using rocksdb::Slice;

// Reads up to `n` bytes at `offset` into `scratch`, pointing `*result` at them.
IOStatus ReadInto(const RandomAccessFile& file, uint64_t offset, size_t n, std::string* buf,
                  Slice* result, char* scratch) {
  *result = Slice();
  if (Status s = file.Read(offset, n, buf); !s.ok()) return ToRocksIOStatus(s);
  if (!buf->empty()) std::memcpy(scratch, buf->data(), buf->size());
  *result = Slice(scratch, buf->size());
  return IOStatus::OK();
}

class SequentialFile final : public rocksdb::FSSequentialFile {
 public:
  explicit SequentialFile(std::unique_ptr<RandomAccessFile> file) : file_(std::move(file)) {}

  IOStatus Read(size_t n, const IOOptions&, Slice* result, char* scratch,
                IODebugContext*) override {
    IOStatus s = ReadInto(*file_, pos_, n, &buf_, result, scratch);
    if (s.ok()) pos_ += result->size();
    return s;
  }

  // Past the end is allowed, as with fseek: the next Read returns nothing.
  IOStatus Skip(uint64_t n) override {
    pos_ += n;
    return IOStatus::OK();
  }

  IOStatus PositionedRead(uint64_t offset, size_t n, const IOOptions&, Slice* result, char* scratch,
                          IODebugContext*) override {
    return ReadInto(*file_, offset, n, &buf_, result, scratch);
  }

 private:
  const std::unique_ptr<RandomAccessFile> file_;
  uint64_t pos_ = 0;
  std::string buf_;  // reused: RocksDB uses a sequential file from one thread at a time
};

class RandomFile final : public rocksdb::FSRandomAccessFile {
 public:
  explicit RandomFile(std::unique_ptr<RandomAccessFile> file) : file_(std::move(file)) {}

  IOStatus Read(uint64_t offset, size_t n, const IOOptions&, Slice* result, char* scratch,
                IODebugContext*) const override {
    std::string buf;  // per call: reads may be concurrent
    return ReadInto(*file_, offset, n, &buf, result, scratch);
  }

  // A cache hint; there is no cache of ours to drop.
  IOStatus InvalidateCache(size_t, size_t) override { return IOStatus::OK(); }

 private:
  const std::unique_ptr<RandomAccessFile> file_;
};

class WritableFileAdapter final : public rocksdb::FSWritableFile {
 public:
  WritableFileAdapter(std::unique_ptr<WritableFile> file, const FileOptions& options)
      : rocksdb::FSWritableFile(options), file_(std::move(file)) {}

  IOStatus Append(const Slice& data, const IOOptions&, IODebugContext*) override {
    return ToRocksIOStatus(file_->Append({data.data(), data.size()}));
  }
  IOStatus Truncate(uint64_t size, const IOOptions&, IODebugContext*) override {
    return ToRocksIOStatus(file_->Truncate(size));
  }
  IOStatus Close(const IOOptions&, IODebugContext*) override {
    return ToRocksIOStatus(file_->Close());
  }
  // Append has already handed the bytes to the OS: a process crash keeps them.
  IOStatus Flush(const IOOptions&, IODebugContext*) override { return IOStatus::OK(); }
  IOStatus Sync(const IOOptions&, IODebugContext*) override {
    return ToRocksIOStatus(file_->Sync());
  }
  // fdatasync makes the file size durable too, which is all the metadata
  // RocksDB needs of a file; its name is the directory's Fsync.
  IOStatus Fsync(const IOOptions& options, IODebugContext* dbg) override {
    return Sync(options, dbg);
  }
  // quipu's contract: Sync may run while another thread appends.
  bool IsSyncThreadSafe() const override { return true; }
  uint64_t GetFileSize(const IOOptions&, IODebugContext*) override { return file_->Size(); }
  IOStatus InvalidateCache(size_t, size_t) override { return IOStatus::OK(); }

 private:
  const std::unique_ptr<WritableFile> file_;
};

class Directory final : public rocksdb::FSDirectory {
 public:
  Directory(Env* env, std::string dir) : env_(env), dir_(std::move(dir)) {}

  IOStatus Fsync(const IOOptions&, IODebugContext*) override {
    return ToRocksIOStatus(env_->SyncDir(dir_));
  }
  IOStatus Close(const IOOptions&, IODebugContext*) override { return IOStatus::OK(); }

 private:
  Env* const env_;
  const std::string dir_;
};

class Lock final : public rocksdb::FileLock {
 public:
  explicit Lock(std::unique_ptr<quipu::FileLock> lock) : lock_(std::move(lock)) {}

 private:
  const std::unique_ptr<quipu::FileLock> lock_;  // released when destroyed
};

class QuipuFileSystem final : public rocksdb::FileSystemWrapper {
 public:
  explicit QuipuFileSystem(Env* env)
      : rocksdb::FileSystemWrapper(rocksdb::FileSystem::Default()), env_(env) {}

  const char* Name() const override { return "QuipuFileSystem"; }

  IOStatus NewSequentialFile(const std::string& fname, const FileOptions&,
                             std::unique_ptr<rocksdb::FSSequentialFile>* result,
                             IODebugContext*) override {
    result->reset();
    auto file = env_->NewRandomAccessFile(fname);
    if (!file.ok()) return ToRocksIOStatus(file.status());
    *result = std::make_unique<SequentialFile>(std::move(*file));
    return IOStatus::OK();
  }

  IOStatus NewRandomAccessFile(const std::string& fname, const FileOptions&,
                               std::unique_ptr<rocksdb::FSRandomAccessFile>* result,
                               IODebugContext*) override {
    result->reset();
    auto file = env_->NewRandomAccessFile(fname);
    if (!file.ok()) return ToRocksIOStatus(file.status());
    *result = std::make_unique<RandomFile>(std::move(*file));
    return IOStatus::OK();
  }

  IOStatus NewWritableFile(const std::string& fname, const FileOptions& options,
                           std::unique_ptr<rocksdb::FSWritableFile>* result,
                           IODebugContext*) override {
    result->reset();
    auto file = CreateReplacing(fname);
    if (!file.ok()) return ToRocksIOStatus(file.status());
    *result = std::make_unique<WritableFileAdapter>(std::move(*file), options);
    return IOStatus::OK();
  }

  IOStatus ReopenWritableFile(const std::string& fname, const FileOptions& options,
                              std::unique_ptr<rocksdb::FSWritableFile>* result,
                              IODebugContext* dbg) override {
    result->reset();
    auto file = env_->ReopenWritableFile(fname);
    if (!file.ok() && file.status().sys_errno() == ENOENT) {
      return NewWritableFile(fname, options, result, dbg);
    }
    if (!file.ok()) return ToRocksIOStatus(file.status());
    *result = std::make_unique<WritableFileAdapter>(std::move(*file), options);
    return IOStatus::OK();
  }

  IOStatus ReuseWritableFile(const std::string& fname, const std::string& old_fname,
                             const FileOptions& options,
                             std::unique_ptr<rocksdb::FSWritableFile>* result,
                             IODebugContext* dbg) override {
    result->reset();
    if (Status s = env_->RenameFile(old_fname, fname); !s.ok()) return ToRocksIOStatus(s);
    return NewWritableFile(fname, options, result, dbg);
  }

  IOStatus NewRandomRWFile(const std::string& fname, const FileOptions&,
                           std::unique_ptr<rocksdb::FSRandomRWFile>*, IODebugContext*) override {
    return IOStatus::NotSupported("NewRandomRWFile through quipu::Env", fname);
  }

  IOStatus NewMemoryMappedFileBuffer(const std::string& fname,
                                     std::unique_ptr<rocksdb::MemoryMappedFileBuffer>*) override {
    return IOStatus::NotSupported("NewMemoryMappedFileBuffer through quipu::Env", fname);
  }

  IOStatus NewDirectory(const std::string& name, const IOOptions& options,
                        std::unique_ptr<rocksdb::FSDirectory>* result,
                        IODebugContext* dbg) override {
    result->reset();
    // Fails now, as POSIX's open(2) of the directory would, not at Fsync.
    if (IOStatus s = FileExists(name, options, dbg); !s.ok()) {
      return s.IsNotFound() ? IOStatus::PathNotFound("open directory " + name + ": not found") : s;
    }
    *result = std::make_unique<Directory>(env_, name);
    return IOStatus::OK();
  }

  IOStatus FileExists(const std::string& fname, const IOOptions&, IODebugContext*) override {
    auto exists = env_->FileExists(fname);
    if (!exists.ok()) return ToRocksIOStatus(exists.status());
    return *exists ? IOStatus::OK() : IOStatus::NotFound(fname);
  }

  IOStatus GetChildren(const std::string& dir, const IOOptions&, std::vector<std::string>* result,
                       IODebugContext*) override {
    result->clear();
    auto names = env_->ListDir(dir);
    if (!names.ok()) {
      // RocksDB's callers test IsNotFound() for a directory that is not there.
      const int err = names.status().sys_errno();
      if (err == ENOENT || err == ENOTDIR || err == EACCES) {
        return IOStatus::NotFound(names.status().message());
      }
      return ToRocksIOStatus(names.status());
    }
    *result = std::move(*names);
    return IOStatus::OK();
  }

  // The base class's version, over our GetChildren and GetFileSize; the
  // wrapper would hand it to the POSIX file system.
  IOStatus GetChildrenFileAttributes(const std::string& dir, const IOOptions& options,
                                     std::vector<rocksdb::FileAttributes>* result,
                                     IODebugContext* dbg) override {
    return rocksdb::FileSystem::GetChildrenFileAttributes(dir, options, result, dbg);
  }

  IOStatus DeleteFile(const std::string& fname, const IOOptions&, IODebugContext*) override {
    return ToRocksIOStatus(env_->RemoveFile(fname));
  }

  IOStatus Truncate(const std::string& fname, size_t size, const IOOptions&,
                    IODebugContext*) override {
    auto file = env_->ReopenWritableFile(fname);
    if (!file.ok()) return ToRocksIOStatus(file.status());
    Status s = (*file)->Truncate(size);
    Status closed = (*file)->Close();
    return ToRocksIOStatus(s.ok() ? closed : s);
  }

  // RocksDB's contract: an existing directory is an error here.
  IOStatus CreateDir(const std::string& dirname, const IOOptions&, IODebugContext*) override {
    auto exists = env_->FileExists(dirname);
    if (!exists.ok()) return ToRocksIOStatus(exists.status());
    if (*exists) return IOStatus::IOError("mkdir " + dirname, "File exists");
    return ToRocksIOStatus(env_->CreateDir(dirname));
  }

  IOStatus CreateDirIfMissing(const std::string& dirname, const IOOptions&,
                              IODebugContext*) override {
    return ToRocksIOStatus(env_->CreateDir(dirname));
  }

  IOStatus GetFileSize(const std::string& fname, const IOOptions&, uint64_t* file_size,
                       IODebugContext*) override {
    *file_size = 0;
    auto file = env_->NewRandomAccessFile(fname);
    if (!file.ok()) return ToRocksIOStatus(file.status());
    auto size = (*file)->Size();
    if (!size.ok()) return ToRocksIOStatus(size.status());
    *file_size = *size;
    return IOStatus::OK();
  }

  IOStatus RenameFile(const std::string& src, const std::string& target, const IOOptions&,
                      IODebugContext*) override {
    return ToRocksIOStatus(env_->RenameFile(src, target));
  }

  IOStatus LinkFile(const std::string& src, const std::string&, const IOOptions&,
                    IODebugContext*) override {
    return IOStatus::NotSupported("LinkFile through quipu::Env", src);
  }

  IOStatus LockFile(const std::string& fname, const IOOptions&, rocksdb::FileLock** lock,
                    IODebugContext*) override {
    *lock = nullptr;
    auto held = env_->LockFile(fname);
    if (!held.ok()) return ToRocksIOStatus(held.status());
    *lock = new Lock(std::move(*held));
    return IOStatus::OK();
  }

  IOStatus UnlockFile(rocksdb::FileLock* lock, const IOOptions&, IODebugContext*) override {
    delete static_cast<Lock*>(lock);
    return IOStatus::OK();
  }

  // Not the wrapper's (POSIX, follows links) nor the base class's EnvLogger
  // (aborts on a failed write): io/rocksdb_info_log.h.
  IOStatus NewLogger(const std::string& fname, const IOOptions&,
                     std::shared_ptr<rocksdb::Logger>* result, IODebugContext*) override {
    result->reset();
    auto file = CreateReplacing(fname);
    if (!file.ok()) return ToRocksIOStatus(file.status());
    *result = NewRocksInfoLog(std::move(*file));
    return IOStatus::OK();
  }

 private:
  // A new empty file at `fname`, replacing a file already there as RocksDB
  // expects (POSIX opens O_TRUNC). A symbolic link there fails with ELOOP in
  // NewWritableFile (env.h), so it is refused, never removed.
  Result<std::unique_ptr<WritableFile>> CreateReplacing(const std::string& fname) {
    auto file = env_->NewWritableFile(fname);
    if (!file.ok() && file.status().sys_errno() == EEXIST) {
      QUIPU_RETURN_IF_ERROR(env_->RemoveFile(fname));
      file = env_->NewWritableFile(fname);
    }
    return file;
  }

  Env* const env_;
};

}  // namespace

std::unique_ptr<rocksdb::Env> NewRocksDbEnv(quipu::Env* env) {
  return rocksdb::NewCompositeEnv(std::make_shared<QuipuFileSystem>(env));
}

}  // namespace quipu
