// server/token_file.cc — reading the token file, and replacing it when
// `quipu token` adds or removes an entry.
//
// A replacement is written to PATH.tmp, fsynced, renamed over PATH, and the
// directory fsynced: a reader (the server on SIGHUP) sees the old file or
// the new one, never a mix, and after a crash PATH is one of the two.
//
// PATH.tmp is created exclusively before PATH is read, and renamed only at
// the end, so it is also the lock that keeps two concurrent `quipu token`
// runs from each reading the file and the second dropping the first one's
// change. A run that died leaves it behind; the Busy error says to remove it.
//
// The file is a path the operator chose, like a key file, not part of a
// store: a symbolic link to it is resolved and the file it names replaced,
// so a link into a secrets directory keeps working. It holds no secrets
// (hashes only), but is still made 0600: the server alone needs to read it.
#include "server/token_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "quipu/env.h"
#include "server/auth.h"
#include "util/quote.h"

namespace quipu::server {

namespace {

// The token file is the server's configuration, not a store file: it is
// written with plain POSIX calls, and their errors become a Status here.
Status ErrnoStatus(std::string_view op, std::string_view path, int err) {
  std::string message = std::string(op) + " " + std::string(path) + ": " + std::strerror(err);
  if (err == ENOSPC || err == EDQUOT) return Status::NoSpace(std::move(message), err);
  return Status::IOError(std::move(message), err);
}

// A generous bound (some 10 000 entries); anything larger is the wrong file.
constexpr uint64_t kMaxFileBytes = 4 << 20;
constexpr mode_t kFileMode = 0600;

std::string ResolvedPath(const std::string& path) {
  char* resolved = ::realpath(path.c_str(), nullptr);
  if (resolved == nullptr) return path;  // missing: the open that follows says so
  std::string out(resolved);
  std::free(resolved);
  return out;
}

std::string DirName(const std::string& path) {
  const size_t slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

Result<std::string> ReadFile(const std::string& path) {
  Result<std::unique_ptr<RandomAccessFile>> file = Env::Default()->NewRandomAccessFile(path);
  if (!file.ok() && file.status().sys_errno() == ENOENT) {
    return Status::NotFound("token file " + path + " does not exist");
  }
  if (!file.ok()) return file.status();
  Result<uint64_t> size = (*file)->Size();
  if (!size.ok()) return size.status();
  if (*size > kMaxFileBytes) {
    return Status::InvalidArgument(path + " is larger than 4 MiB; not a token file");
  }
  std::string text;
  QUIPU_RETURN_IF_ERROR((*file)->Read(0, static_cast<size_t>(*size), &text));
  return text;
}

// Opens `tmp` for writing, created here and now with mode 0600.
Result<int> CreateTemporary(const std::string& tmp) {
  const int fd =
      ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, kFileMode);
  if (fd >= 0) return fd;
  if (errno == EEXIST) {
    return Status::Busy(tmp + " exists: another `quipu token` is changing the token file, " +
                        "or one was interrupted (if none is running, remove " + tmp + ")");
  }
  return ErrnoStatus("open", tmp, errno);
}

Status WriteAndSync(int fd, const std::string& path, std::string_view text) {
  for (size_t done = 0; done < text.size();) {
    const ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ErrnoStatus("write", path, errno);
    done += static_cast<size_t>(n);
  }
  // The umask may have narrowed the mode given to open; make it exact.
  if (::fchmod(fd, kFileMode) != 0) return ErrnoStatus("fchmod", path, errno);
  if (::fsync(fd) != 0) return ErrnoStatus("fsync", path, errno);
  return Status::OK();
}

// The entries of `path` after `change`: read from the file, or none if it
// does not exist and `create` is set.
template <typename Change>
Result<std::string> ChangedText(const std::string& path, bool create, Change change) {
  std::vector<TokenEntry> entries;
  Result<TokenSet> current = TokenSet::Load(path);
  if (current.ok()) {
    entries = current->entries();
  } else if (!create || current.status().code() != Status::Code::kNotFound) {
    return current.status();
  }
  QUIPU_RETURN_IF_ERROR(change(&entries));
  std::string text = TokenFileText(entries);
  // Only a file Load accepts is written: a bad entry handed to
  // AddTokenToFile is refused here instead of breaking the server's reload.
  Result<TokenSet> check = TokenSet::Parse(text, path);
  if (!check.ok()) return check.status();
  return text;
}

template <typename Change>
Status ReplaceFile(const std::string& given_path, bool create, Change change) {
  const std::string path = ResolvedPath(given_path);
  const std::string tmp = path + ".tmp";
  Result<int> fd = CreateTemporary(tmp);
  if (!fd.ok()) return fd.status();
  Result<std::string> text = ChangedText(path, create, change);
  Status s = text.ok() ? WriteAndSync(*fd, tmp, *text) : text.status();
  if (::close(*fd) != 0 && s.ok()) s = ErrnoStatus("close", tmp, errno);
  if (s.ok()) s = Env::Default()->RenameFile(tmp, path);
  if (!s.ok()) {
    ::unlink(tmp.c_str());  // best effort: `s` is the error worth reporting
    return s;
  }
  return Env::Default()->SyncDir(DirName(path));
}

}  // namespace

Result<TokenSet> TokenSet::Load(const std::string& path) {
  Result<std::string> text = ReadFile(ResolvedPath(path));
  if (!text.ok()) return text.status();
  return Parse(*text, path);
}

Status AddTokenToFile(const std::string& path, const TokenEntry& entry) {
  return ReplaceFile(path, /*create=*/true, [&](std::vector<TokenEntry>* entries) -> Status {
    for (const TokenEntry& e : *entries) {
      if (e.id == entry.id) {
        return Status::InvalidArgument(path + " already holds a token with id " +
                                       QuoteInput(entry.id));
      }
    }
    entries->push_back(entry);
    return Status::OK();
  });
}

Status RemoveTokenFromFile(const std::string& path, std::string_view id) {
  return ReplaceFile(path, /*create=*/false, [&](std::vector<TokenEntry>* entries) -> Status {
    for (auto it = entries->begin(); it != entries->end(); ++it) {
      if (it->id == id) {
        entries->erase(it);
        return Status::OK();
      }
    }
    return Status::NotFound("no token with id " + QuoteInput(id) + " in " + path);
  });
}

}  // namespace quipu::server
