// io/posix_env.cc — Env::Default(): the real filesystem through POSIX calls.
//
// Every system call's failure goes through ErrnoStatus, so the errno-to-Status
// mapping lives in one function. Calls that can be interrupted by a signal
// are retried on EINTR; short reads and writes are continued, never reported.
//
// Every store file is opened with O_NOFOLLOW: whoever can write a store
// directory could otherwise plant LOCK -> ~/.bashrc and have the writer
// truncate or append to any file it can write. Only the last component is
// refused; the directories above it are followed (env.h).
#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "io/errno_status.h"
#include "quipu/env.h"

namespace quipu {

namespace {

// strerror_r comes in two flavours (GNU returns the text, XSI fills the
// buffer and returns an int); overloads pick whichever this libc provides.
[[maybe_unused]] const char* StrerrorText(char* gnu_result, const char* /*buf*/) {
  return gnu_result;
}
[[maybe_unused]] const char* StrerrorText(int xsi_result, const char* buf) {
  return xsi_result == 0 ? buf : "Unknown error";
}

std::string ErrnoText(int err) {
  char buf[256] = {0};
  return StrerrorText(strerror_r(err, buf, sizeof buf), buf);
}

}  // namespace

Status ErrnoStatus(std::string_view op, std::string_view path, int err) {
  std::string msg;
  msg.reserve(op.size() + path.size() + 40);
  if (err == ELOOP) {
    // O_NOFOLLOW met a link. (A loop among the directories above gives the
    // same errno; it is refused all the same, and the path shows it.)
    msg.append(path).append(" is a symbolic link; refusing to follow it");
    return Status::IOError(std::move(msg), err);
  }
  msg.append(op).append(" ").append(path).append(": ").append(ErrnoText(err));
  if (err == ENOSPC || err == EDQUOT) return Status::NoSpace(std::move(msg), err);
  return Status::IOError(std::move(msg), err);
}

namespace {

// Flags every store file is opened with, whatever else the open asks for.
constexpr int kFileFlags = O_CLOEXEC | O_NOFOLLOW;

// A process that closed stdin, stdout or stderr gets those numbers back from
// open(2); a store file there would receive whatever anyone later prints to
// "stderr" (and be read as input). So a descriptor below 3 is moved up.
int AboveStdio(int fd) {
  if (fd < 0 || fd > STDERR_FILENO) return fd;
  const int high = ::fcntl(fd, F_DUPFD_CLOEXEC, STDERR_FILENO + 1);
  const int err = errno;
  ::close(fd);
  errno = err;
  return high;
}

// open(2) retried on EINTR (possible on some filesystems, e.g. FUSE or NFS),
// never returning 0, 1 or 2. On failure -1 with errno set.
int OpenRetrying(const char* path, int flags, mode_t mode = 0) {
  int fd;
  do {
    fd = ::open(path, flags, mode);
  } while (fd < 0 && errno == EINTR);
  return AboveStdio(fd);
}

bool IsSymlink(const std::string& path) {
  struct stat st;
  return ::lstat(path.c_str(), &st) == 0 && S_ISLNK(st.st_mode);
}

class PosixWritableFile final : public WritableFile {
 public:
  PosixWritableFile(std::string path, int fd, uint64_t size)
      : path_(std::move(path)), fd_(fd), size_(size) {}
  ~PosixWritableFile() override {
    if (fd_ >= 0) ::close(fd_);  // Close() was not called: nothing to report to
  }

  // Appends write with pwrite at the tracked end rather than write(2) at the
  // descriptor's offset: the result is the same, and Truncate and WriteAt
  // then never have to keep a kernel file offset in step.
  Status Append(std::string_view data) override {
    if (fd_ < 0) return Closed("write");
    return WriteFully(size_.load(std::memory_order_relaxed), data, "write");
  }

  Status WriteAt(uint64_t offset, std::string_view data) override {
    if (fd_ < 0) return Closed("pwrite");
    return WriteFully(offset, data, "pwrite");
  }

  Status Truncate(uint64_t size) override {
    if (fd_ < 0) return Closed("ftruncate");
    int rc;
    do {
      rc = ::ftruncate(fd_, static_cast<off_t>(size));
    } while (rc != 0 && errno == EINTR);
    if (rc != 0) return ErrnoStatus("ftruncate", path_, errno);
    size_.store(size, std::memory_order_relaxed);
    return Status::OK();
  }

  Status Sync() override {
    if (fd_ < 0) return Closed("fdatasync");
    // fdatasync is not retried on EINTR: after a failed sync the kernel may
    // have dropped the dirty pages, so a retry could report a false success.
    if (::fdatasync(fd_) != 0) return ErrnoStatus("fdatasync", path_, errno);
    return Status::OK();
  }

  Status Close() override {
    if (fd_ < 0) return Status::OK();
    const int fd = fd_;
    fd_ = -1;
    // close(2) is never retried: on Linux the descriptor is gone even on EINTR.
    if (::close(fd) != 0) return ErrnoStatus("close", path_, errno);
    return Status::OK();
  }

  uint64_t Size() const override { return size_.load(std::memory_order_relaxed); }

 private:
  Status WriteFully(uint64_t offset, std::string_view data, std::string_view op) {
    const char* p = data.data();
    size_t left = data.size();
    while (left > 0) {
      const ssize_t n = ::pwrite(fd_, p, left, static_cast<off_t>(offset));
      if (n < 0) {
        if (errno == EINTR) continue;
        return ErrnoStatus(op, path_, errno);
      }
      p += n;
      left -= static_cast<size_t>(n);
      offset += static_cast<uint64_t>(n);
      // Grow as we go, so a failure part-way leaves Size() at what reached the file.
      if (offset > size_.load(std::memory_order_relaxed)) {
        size_.store(offset, std::memory_order_relaxed);
      }
    }
    return Status::OK();
  }

  Status Closed(std::string_view op) const {
    return Status::FailedPrecondition(std::string(op) + " " + path_ + ": file is closed");
  }

  const std::string path_;
  int fd_;
  // Atomic because Sync may run on another thread while Append grows it, and
  // a caller there may ask Size().
  std::atomic<uint64_t> size_;
};

class PosixRandomAccessFile final : public RandomAccessFile {
 public:
  PosixRandomAccessFile(std::string path, int fd) : path_(std::move(path)), fd_(fd) {}
  ~PosixRandomAccessFile() override { ::close(fd_); }

  Status Read(uint64_t offset, size_t n, std::string* out) const override {
    out->resize(n);
    size_t got = 0;
    while (got < n) {
      const ssize_t r = ::pread(fd_, out->data() + got, n - got, static_cast<off_t>(offset + got));
      if (r < 0) {
        if (errno == EINTR) continue;
        const int err = errno;
        out->clear();
        return ErrnoStatus("pread", path_, err);
      }
      if (r == 0) break;  // end of file
      got += static_cast<size_t>(r);
    }
    out->resize(got);
    return Status::OK();
  }

  Result<uint64_t> Size() const override {
    struct stat st;
    if (::fstat(fd_, &st) != 0) return ErrnoStatus("fstat", path_, errno);
    return static_cast<uint64_t>(st.st_size);
  }

 private:
  const std::string path_;
  const int fd_;
};

// Holding the descriptor holds the flock; closing it (destruction) releases it.
class PosixFileLock final : public FileLock {
 public:
  explicit PosixFileLock(int fd) : fd_(fd) {}
  ~PosixFileLock() override { ::close(fd_); }

 private:
  const int fd_;
};

// The pid text a lock holder wrote, for the Busy message. Best effort: the
// holder may be between truncating and writing it.
std::string ReadLockHolder(int fd) {
  char buf[32];
  ssize_t n;
  do {
    n = ::pread(fd, buf, sizeof buf, 0);
  } while (n < 0 && errno == EINTR);
  std::string text(buf, n > 0 ? static_cast<size_t>(n) : 0);
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
  return text.empty() ? "unknown" : text;
}

class PosixEnv final : public Env {
 public:
  Result<std::unique_ptr<WritableFile>> NewWritableFile(const std::string& path) override {
    const int fd = OpenRetrying(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | kFileFlags, 0644);
    if (fd < 0) {
      // O_EXCL already refuses a link (even a dangling one) with EEXIST;
      // saying it is a link tells the reader why a "new" file exists.
      const int err = errno == EEXIST && IsSymlink(path) ? ELOOP : errno;
      return ErrnoStatus("open", path, err);
    }
    return std::unique_ptr<WritableFile>(new PosixWritableFile(path, fd, 0));
  }

  Result<std::unique_ptr<WritableFile>> ReopenWritableFile(const std::string& path) override {
    const int fd = OpenRetrying(path.c_str(), O_WRONLY | kFileFlags);
    if (fd < 0) return ErrnoStatus("open", path, errno);
    struct stat st;
    if (::fstat(fd, &st) != 0) {
      const int err = errno;
      ::close(fd);
      return ErrnoStatus("fstat", path, err);
    }
    return std::unique_ptr<WritableFile>(
        new PosixWritableFile(path, fd, static_cast<uint64_t>(st.st_size)));
  }

  Result<std::unique_ptr<RandomAccessFile>> NewRandomAccessFile(const std::string& path) override {
    const int fd = OpenRetrying(path.c_str(), O_RDONLY | kFileFlags);
    if (fd < 0) return ErrnoStatus("open", path, errno);
    return std::unique_ptr<RandomAccessFile>(new PosixRandomAccessFile(path, fd));
  }

  Result<std::vector<std::string>> ListDir(const std::string& dir) override {
    DIR* d = ::opendir(dir.c_str());
    if (d == nullptr) return ErrnoStatus("opendir", dir, errno);
    std::vector<std::string> names;
    for (;;) {
      errno = 0;  // readdir signals errors only through errno
      const struct dirent* e = ::readdir(d);
      if (e == nullptr) break;
      const std::string_view name = e->d_name;
      if (name != "." && name != "..") names.emplace_back(name);
    }
    const int err = errno;
    ::closedir(d);
    if (err != 0) return ErrnoStatus("readdir", dir, err);
    return names;
  }

  Status CreateDir(const std::string& dir) override {
    if (::mkdir(dir.c_str(), 0755) == 0) return Status::OK();
    const int err = errno;
    if (err == EEXIST) {
      struct stat st;
      if (::stat(dir.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) return Status::OK();
    }
    return ErrnoStatus("mkdir", dir, err);
  }

  Status SyncDir(const std::string& dir) override {
    const int fd = OpenRetrying(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return ErrnoStatus("open", dir, errno);
    Status s;
    if (::fsync(fd) != 0) s = ErrnoStatus("fsync", dir, errno);
    ::close(fd);
    return s;
  }

  // rename(2) and unlink(2) act on a link itself, never on its target, so
  // they need no O_NOFOLLOW counterpart.
  Status RenameFile(const std::string& from, const std::string& to) override {
    if (::rename(from.c_str(), to.c_str()) != 0) {
      return ErrnoStatus("rename", from + " -> " + to, errno);
    }
    return Status::OK();
  }

  Status RemoveFile(const std::string& path) override {
    if (::unlink(path.c_str()) != 0) return ErrnoStatus("unlink", path, errno);
    return Status::OK();
  }

  Result<bool> FileExists(const std::string& path) override {
    struct stat st;
    if (::stat(path.c_str(), &st) == 0) return true;
    if (errno == ENOENT || errno == ENOTDIR) return false;
    return ErrnoStatus("stat", path, errno);
  }

  Result<std::unique_ptr<FileLock>> LockFile(const std::string& path) override {
    const int fd = OpenRetrying(path.c_str(), O_RDWR | O_CREAT | kFileFlags, 0644);
    if (fd < 0) return ErrnoStatus("open", path, errno);
    // flock locks belong to the open file description, so a second open in
    // this same process conflicts too: a log cannot be opened twice anywhere.
    int rc;
    do {
      rc = ::flock(fd, LOCK_EX | LOCK_NB);
    } while (rc != 0 && errno == EINTR);
    if (rc != 0) {
      const int err = errno;
      Status s = err == EWOULDBLOCK ? Status::Busy(path + " is locked by pid " + ReadLockHolder(fd))
                                    : ErrnoStatus("flock", path, err);
      ::close(fd);
      return s;
    }
    if (Status s = RecordHolder(fd, path); !s.ok()) {
      ::close(fd);
      return s;
    }
    return std::unique_ptr<FileLock>(new PosixFileLock(fd));
  }

 private:
  // Replaces the lock file's content with "<pid>\n".
  static Status RecordHolder(int fd, const std::string& path) {
    if (::ftruncate(fd, 0) != 0) return ErrnoStatus("ftruncate", path, errno);
    const std::string text = std::to_string(::getpid()) + "\n";
    size_t done = 0;
    while (done < text.size()) {
      const ssize_t n =
          ::pwrite(fd, text.data() + done, text.size() - done, static_cast<off_t>(done));
      if (n < 0) {
        if (errno == EINTR) continue;
        return ErrnoStatus("pwrite", path, errno);
      }
      done += static_cast<size_t>(n);
    }
    return Status::OK();
  }
};

}  // namespace

Env* Env::Default() {
  // Leaked on purpose: never destroyed, so usable from static destructors.
  static Env* const env = new PosixEnv;
  return env;
}

}  // namespace quipu
