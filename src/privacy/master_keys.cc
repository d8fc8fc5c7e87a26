// privacy/master_keys.cc — parsing, reading and writing master key files.
//
// Key files live outside a store's directory and are the operator's, so they
// are read and written with POSIX calls here rather than through the store's
// Env. They are opened O_NOFOLLOW and created O_EXCL with mode 0600, and a
// descriptor never stays on 0, 1 or 2 (a closed stdout must not become the
// key file that a later print would write into).
#include "privacy/master_keys.h"

#include <fcntl.h>
#include <openssl/crypto.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include "crypto/mac.h"
#include "crypto/x25519.h"
#include "util/hex.h"

namespace quipu::privacy {

namespace {

constexpr std::string_view kLineTag = "quipu-master-key";
constexpr std::string_view kWriterTag = "quipu-writer-key";
constexpr std::string_view kIndexRootLabel = "quipu index root v1";
constexpr std::string_view kValueKeyLabel = "quipu value key x25519 v1";
constexpr size_t kKeyBytes = 32;

Status Errno(const std::string& what, int err) {
  return Status::IOError(what + ": " + std::strerror(err), err);
}

// Moves a descriptor that landed on 0..2 above them.
Result<int> AboveStdio(int fd, const std::string& path) {
  if (fd < 0 || fd > 2) return fd;
  const int moved = fcntl(fd, F_DUPFD_CLOEXEC, 3);
  const int err = errno;
  close(fd);
  if (moved < 0) return Errno(path, err);
  return moved;
}

void Wipe(std::string* s) {
  if (!s->empty()) OPENSSL_cleanse(s->data(), s->size());
  s->clear();
}

class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

// The text of `line_no` as the error names it: never the key.
Status BadLine(size_t line_no, std::string_view why) {
  return Status::InvalidArgument("master key line " + std::to_string(line_no) + ": " +
                                 std::string(why) + " (expected '" + std::string(kLineTag) +
                                 " <version> <64 hex digits>')");
}

std::string_view NextToken(std::string_view* rest) {
  size_t b = 0;
  while (b < rest->size() && ((*rest)[b] == ' ' || (*rest)[b] == '\t')) ++b;
  size_t e = b;
  while (e < rest->size() && (*rest)[e] != ' ' && (*rest)[e] != '\t') ++e;
  std::string_view token = rest->substr(b, e - b);
  rest->remove_prefix(e);
  return token;
}

// The version of a key line (0 for a comment, a blank or a line that does
// not parse: Parse refuses those).
uint32_t LineVersion(std::string_view line) {
  if (!line.empty() && line.back() == '\n') line.remove_suffix(1);
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  std::string_view rest = line;
  const std::string_view tag = NextToken(&rest);
  if (tag != kLineTag && tag != kWriterTag) return 0;
  uint32_t version = 0;
  for (char c : NextToken(&rest)) {
    if (c < '0' || c > '9' || version > 100'000'000) return 0;
    version = version * 10 + static_cast<uint32_t>(c - '0');
  }
  return version;
}

Result<uint32_t> ParseVersion(std::string_view text, size_t line_no) {
  uint32_t version = 0;
  for (char c : text) {
    if (c < '0' || c > '9' || version > 100'000'000) return BadLine(line_no, "bad version");
    version = version * 10 + static_cast<uint32_t>(c - '0');
  }
  if (version == 0) return BadLine(line_no, "bad version");
  return version;
}

// 32 bytes from 64 hex digits, in a Secret.
Result<crypto::Secret> ParseKey(std::string_view hex, size_t line_no) {
  std::string bytes;
  if (hex.size() != 2 * kKeyBytes || !HexDecode(hex, &bytes)) {
    Wipe(&bytes);
    return BadLine(line_no, "the key is not 64 hex digits");
  }
  crypto::Secret key = crypto::Secret::Copy(bytes);
  Wipe(&bytes);
  return key;
}

// A full version's keys from its secret.
Result<VersionKeys> FromSecret(const crypto::Secret& secret) {
  VersionKeys out;
  auto root = crypto::HkdfSha256(secret.view(), "quipu", kIndexRootLabel, kKeyBytes);
  if (!root.ok()) return root.status();
  auto value = crypto::HkdfSha256(secret.view(), "quipu", kValueKeyLabel, kKeyBytes);
  if (!value.ok()) return value.status();
  auto pub = crypto::X25519PublicKey(value->view());
  if (!pub.ok()) return pub.status();
  out.index_root = std::move(*root);
  out.value_private = std::move(*value);
  out.value_public = std::move(*pub);
  return out;
}

Result<std::map<uint32_t, VersionKeys>> ParseText(std::string_view text) {
  std::map<uint32_t, VersionKeys> keys;
  size_t line_no = 0;
  while (!text.empty()) {
    const size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text.remove_prefix(nl == std::string_view::npos ? text.size() : nl + 1);
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    std::string_view rest = line;
    const std::string_view tag = NextToken(&rest);
    if (tag.empty() || tag[0] == '#') continue;
    const bool writer = tag == kWriterTag;
    if (tag != kLineTag && !writer) return BadLine(line_no, "not a master key");
    auto version = ParseVersion(NextToken(&rest), line_no);
    if (!version.ok()) return version.status();
    if (!keys.empty() && *version <= keys.rbegin()->first) {
      return BadLine(line_no, "versions must ascend");
    }
    auto first = ParseKey(NextToken(&rest), line_no);
    if (!first.ok()) return first.status();
    VersionKeys entry;
    if (writer) {
      auto pub = ParseKey(NextToken(&rest), line_no);
      if (!pub.ok()) return pub.status();
      entry.index_root = std::move(*first);
      entry.value_public = std::string(pub->view());
    } else {
      auto full = FromSecret(*first);
      if (!full.ok()) return full.status();
      entry = std::move(*full);
    }
    if (!NextToken(&rest).empty()) return BadLine(line_no, "trailing text");
    keys.emplace(*version, std::move(entry));
  }
  if (keys.empty()) return Status::InvalidArgument("no master key found");
  return keys;
}

}  // namespace

MasterKeysImpl::MasterKeysImpl(std::map<uint32_t, VersionKeys> keys) : keys_(std::move(keys)) {}

std::vector<uint32_t> MasterKeysImpl::Versions() const {
  std::vector<uint32_t> out;
  for (const auto& [version, key] : keys_) out.push_back(version);
  return out;
}

uint32_t MasterKeysImpl::Newest() const { return keys_.rbegin()->first; }

bool MasterKeysImpl::CanRead() const {
  for (const auto& [version, key] : keys_) {
    if (key.value_private.empty()) return false;
  }
  return true;
}

bool MasterKeysImpl::CanUnwrap(uint32_t version) const {
  auto key = keys_.find(version);
  return key != keys_.end() && !key->second.value_private.empty();
}

Result<std::string> MasterKeysImpl::WriterKeys() const {
  std::string text = "# quipu writer keys: seal and match protected fields, never read them back\n";
  for (const auto& [version, key] : keys_) {
    text += std::string(kWriterTag) + " " + std::to_string(version) + " " +
            HexEncode(key.index_root.view()) + " " + HexEncode(key.value_public) + "\n";
  }
  return text;
}

Result<std::string_view> MasterKeysImpl::ValuePublic(uint32_t version) const {
  auto key = keys_.find(version);
  if (key == keys_.end()) {
    return Status::FailedPrecondition("master key version " + std::to_string(version) +
                                      " is not among the keys given");
  }
  return std::string_view(key->second.value_public);
}

const crypto::Secret* MasterKeysImpl::ValuePrivate(uint32_t version) const {
  auto key = keys_.find(version);
  if (key == keys_.end() || key->second.value_private.empty()) return nullptr;
  return &key->second.value_private;
}

Result<std::shared_ptr<const crypto::Secret>> MasterKeysImpl::Derived(
    uint32_t version, std::string_view label) const {
  auto key = keys_.find(version);
  if (key == keys_.end()) {
    return Status::FailedPrecondition("master key version " + std::to_string(version) +
                                      " is not among the keys given");
  }
  std::lock_guard<std::mutex> lock(mu_);
  auto slot = derived_.find({version, std::string(label)});
  if (slot != derived_.end()) return slot->second;
  auto derived = crypto::HkdfSha256(key->second.index_root.view(), "quipu", label, kKeyBytes);
  if (!derived.ok()) return derived.status();
  auto shared = std::make_shared<const crypto::Secret>(std::move(*derived));
  derived_.emplace(std::make_pair(version, std::string(label)), shared);
  return shared;
}

// Reads all of `fd`.
Status ReadAll(int fd, const std::string& what, std::string* out) {
  char buf[4096];
  for (;;) {
    const ssize_t n = read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Errno(what, errno);
    if (n == 0) break;
    out->append(buf, static_cast<size_t>(n));
    if (out->size() > (1 << 20)) return Status::InvalidArgument(what + ": larger than 1 MiB");
  }
  OPENSSL_cleanse(buf, sizeof buf);
  return Status::OK();
}

Status WriteAll(int fd, const std::string& what, std::string_view data) {
  while (!data.empty()) {
    const ssize_t n = write(fd, data.data(), data.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Errno(what, errno);
    data.remove_prefix(static_cast<size_t>(n));
  }
  return Status::OK();
}

Result<std::string> ReadKeyFile(const std::string& path) {
  const int raw = open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (raw < 0 && errno == ELOOP) {
    return Status::IOError(path + " is a symbolic link; refusing to follow it", ELOOP);
  }
  if (raw < 0) return Errno(path, errno);
  auto fd_or = AboveStdio(raw, path);
  if (!fd_or.ok()) return fd_or.status();
  Fd fd(*fd_or);
  struct stat st;
  if (fstat(fd.get(), &st) != 0) return Errno(path, errno);
  if ((st.st_mode & 077) != 0) {
    return Status::FailedPrecondition(path +
                                      ": a master key file must not be readable by group "
                                      "or others (chmod 600 it)");
  }
  std::string text;
  Status s = ReadAll(fd.get(), path, &text);
  if (!s.ok()) {
    Wipe(&text);
    return s;
  }
  return text;
}

std::string DirOf(const std::string& path) {
  const size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

Status SyncDirOf(const std::string& path) {
  const std::string dir = DirOf(path);
  const int raw = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (raw < 0) return Errno(dir, errno);
  auto fd_or = AboveStdio(raw, dir);
  if (!fd_or.ok()) return fd_or.status();
  Fd fd(*fd_or);
  if (fsync(fd.get()) != 0) return Errno(dir, errno);
  return Status::OK();
}

// Writes `text` to a new file `path` (mode 0600, O_EXCL) and fsyncs it.
Status WriteNewKeyFile(const std::string& path, std::string_view text) {
  const int raw = open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (raw < 0 && errno == EEXIST) return Status::FailedPrecondition(path + " already exists");
  if (raw < 0) return Errno(path, errno);
  auto fd_or = AboveStdio(raw, path);
  if (!fd_or.ok()) return fd_or.status();
  Fd fd(*fd_or);
  QUIPU_RETURN_IF_ERROR(WriteAll(fd.get(), path, text));
  if (fsync(fd.get()) != 0) return Errno(path, errno);
  return Status::OK();
}

Result<std::string> KeyLine(uint32_t version) {
  auto key = crypto::Secret::Random(kKeyBytes);
  if (!key.ok()) return key.status();
  return std::string(kLineTag) + " " + std::to_string(version) + " " + HexEncode(key->view()) +
         "\n";
}

// Replaces the key file at `path` by `text`, atomically.
Status ReplaceKeyFile(const std::string& path, std::string_view text) {
  const std::string tmp = path + ".new";
  (void)unlink(tmp.c_str());
  QUIPU_RETURN_IF_ERROR(WriteNewKeyFile(tmp, text));
  if (rename(tmp.c_str(), path.c_str()) != 0) return Errno(path, errno);
  return SyncDirOf(path);
}

}  // namespace quipu::privacy

namespace quipu {

namespace privacy {

// Reads and parses the key file at `path`, keeping its text in *text (the
// caller wipes it); on failure *text is wiped.
Result<std::shared_ptr<const MasterKeys>> ReadParsed(const std::string& path, std::string* text) {
  auto read = ReadKeyFile(path);
  if (!read.ok()) return read.status();
  *text = std::move(*read);
  auto keys = MasterKeys::Parse(*text);
  if (!keys.ok()) {
    Wipe(text);
    return keys.status().WithContext(path);
  }
  return keys;
}

}  // namespace privacy

Result<std::shared_ptr<const MasterKeys>> MasterKeys::Parse(std::string_view text) {
  auto keys = privacy::ParseText(text);
  if (!keys.ok()) return keys.status();
  return std::shared_ptr<const MasterKeys>(
      std::make_shared<privacy::MasterKeysImpl>(std::move(*keys)));
}

Result<std::shared_ptr<const MasterKeys>> MasterKeys::FromFile(const std::string& path) {
  auto text = privacy::ReadKeyFile(path);
  if (!text.ok()) return text.status();
  auto keys = Parse(*text);
  privacy::Wipe(&*text);
  if (!keys.ok()) return keys.status().WithContext(path);
  return keys;
}

Result<std::shared_ptr<const MasterKeys>> MasterKeys::FromCommand(const std::string& command) {
  int pipe_fds[2];
  if (pipe2(pipe_fds, O_CLOEXEC) != 0) return privacy::Errno("pipe", errno);
  const pid_t pid = fork();
  if (pid < 0) {
    const int err = errno;
    close(pipe_fds[0]);
    close(pipe_fds[1]);
    return privacy::Errno("fork", err);
  }
  if (pid == 0) {
    dup2(pipe_fds[1], STDOUT_FILENO);
    execl("/bin/sh", "sh", "-c", command.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  close(pipe_fds[1]);
  std::string text;
  Status read = privacy::ReadAll(pipe_fds[0], "key command", &text);
  close(pipe_fds[0]);
  int wstatus = 0;
  while (waitpid(pid, &wstatus, 0) < 0 && errno == EINTR) {
  }
  if (!read.ok()) {
    privacy::Wipe(&text);
    return read;
  }
  if (!WIFEXITED(wstatus) || WEXITSTATUS(wstatus) != 0) {
    privacy::Wipe(&text);
    return Status::IOError("key command failed (exit status " +
                           std::to_string(WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : -1) + ")");
  }
  auto keys = Parse(text);
  privacy::Wipe(&text);
  if (!keys.ok()) return keys.status().WithContext("key command output");
  return keys;
}

Status CreateWriterKeyFile(const std::string& master_path, const std::string& writer_path) {
  auto keys = MasterKeys::FromFile(master_path);
  if (!keys.ok()) return keys.status();
  if (!(*keys)->CanRead()) {
    return Status::InvalidArgument(master_path + " is a writer key file already");
  }
  auto text = (*keys)->WriterKeys();
  if (!text.ok()) return text.status();
  Status s = privacy::WriteNewKeyFile(writer_path, *text);
  privacy::Wipe(&*text);
  QUIPU_RETURN_IF_ERROR(s);
  return privacy::SyncDirOf(writer_path);
}

Status CreateMasterKeyFile(const std::string& path) {
  auto line = privacy::KeyLine(1);
  if (!line.ok()) return line.status();
  std::string text =
      "# quipu master keys: keep this file secret, and backed up apart from the "
      "store\n" +
      *line;
  privacy::Wipe(&*line);
  Status s = privacy::WriteNewKeyFile(path, text);
  privacy::Wipe(&text);
  QUIPU_RETURN_IF_ERROR(s);
  return privacy::SyncDirOf(path);
}

Result<uint32_t> AddMasterKeyVersion(const std::string& path) {
  std::string text;
  auto keys = privacy::ReadParsed(path, &text);
  if (!keys.ok()) return keys.status();
  const uint32_t version = (*keys)->Newest() + 1;
  auto line = privacy::KeyLine(version);
  if (!line.ok()) return line.status();
  if (!text.empty() && text.back() != '\n') text.push_back('\n');
  text.append(*line);
  privacy::Wipe(&*line);
  Status s = privacy::ReplaceKeyFile(path, text);
  privacy::Wipe(&text);
  QUIPU_RETURN_IF_ERROR(s);
  return version;
}

Status RetireMasterKeyVersion(const std::string& path, uint32_t version) {
  std::string text;
  auto keys = privacy::ReadParsed(path, &text);
  if (!keys.ok()) return keys.status();
  Status s;
  const std::vector<uint32_t> versions = (*keys)->Versions();
  if (std::find(versions.begin(), versions.end(), version) == versions.end()) {
    s = Status::NotFound(path + " has no master key version " + std::to_string(version));
  } else if (version == (*keys)->Newest()) {
    s = Status::FailedPrecondition("version " + std::to_string(version) +
                                   " is the newest master key; add a newer one first");
  }
  // Lines are told apart with the tokenizer Parse uses, so that every
  // spelling Parse accepts for this version goes.
  std::string kept;
  std::string_view rest = text;
  while (s.ok() && !rest.empty()) {
    const size_t nl = rest.find('\n');
    std::string_view line = rest.substr(0, nl == std::string_view::npos ? rest.size() : nl + 1);
    rest.remove_prefix(line.size());
    if (privacy::LineVersion(line) != version) kept.append(line);
  }
  if (s.ok()) s = privacy::ReplaceKeyFile(path, kept);
  privacy::Wipe(&kept);
  privacy::Wipe(&text);
  return s;
}

}  // namespace quipu
