// Tests for Env::Default(), the POSIX Env, on a fresh directory per test.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "quipu/env.h"
#include "test_dir.h"

namespace quipu {
namespace {

class PosixEnvTest : public ::testing::Test {
 protected:
  std::string Path(const std::string& name) const { return dir_ + "/" + name; }

  // Reads a whole file without going through the Env under test.
  static std::string Slurp(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
  }

  std::unique_ptr<WritableFile> NewFile(const std::string& name) {
    auto f = env_->NewWritableFile(Path(name));
    EXPECT_TRUE(f.ok()) << f.status().ToString();
    return f.ok() ? std::move(f).value() : nullptr;
  }

  Env* env_ = Env::Default();
  testing::TestDir temp_;
  const std::string dir_ = temp_.path();
};

TEST_F(PosixEnvTest, DefaultIsASingleton) { EXPECT_EQ(Env::Default(), Env::Default()); }

TEST_F(PosixEnvTest, NewWritableFileCreatesAnEmptyFile) {
  auto f = NewFile("a");
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(f->Size(), 0u);
  EXPECT_TRUE(std::filesystem::exists(Path("a")));
  // Mode 0644 (before umask): the owner can read and write, nobody executes.
  const auto perms = std::filesystem::status(Path("a")).permissions();
  using P = std::filesystem::perms;
  EXPECT_EQ(perms & (P::owner_read | P::owner_write), P::owner_read | P::owner_write);
  EXPECT_EQ(perms & (P::owner_exec | P::group_write | P::others_write), P::none);
  EXPECT_TRUE(f->Close().ok());
}

TEST_F(PosixEnvTest, NewWritableFileRefusesAnExistingFile) {
  ASSERT_NE(NewFile("a"), nullptr);
  auto again = env_->NewWritableFile(Path("a"));
  ASSERT_FALSE(again.ok());
  EXPECT_TRUE(again.status().IsIOError());
  EXPECT_EQ(again.status().sys_errno(), EEXIST);
}

TEST_F(PosixEnvTest, AppendWritesInOrderAndGrowsSize) {
  auto f = NewFile("a");
  ASSERT_TRUE(f->Append("hello ").ok());
  ASSERT_TRUE(f->Append("").ok());
  ASSERT_TRUE(f->Append("world").ok());
  EXPECT_EQ(f->Size(), 11u);
  ASSERT_TRUE(f->Close().ok());
  EXPECT_EQ(Slurp(Path("a")), "hello world");
}

TEST_F(PosixEnvTest, LargeAppendArrivesWhole) {
  std::string big(5 << 20, '\0');
  for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>(i * 131 + (i >> 12));
  auto f = NewFile("big");
  ASSERT_TRUE(f->Append(big).ok());
  ASSERT_TRUE(f->Sync().ok());
  ASSERT_TRUE(f->Close().ok());
  EXPECT_TRUE(Slurp(Path("big")) == big);
}

TEST_F(PosixEnvTest, WriteAtInsideDoesNotMoveAppendPosition) {
  auto f = NewFile("a");
  ASSERT_TRUE(f->Append("0123456789").ok());
  ASSERT_TRUE(f->WriteAt(2, "xy").ok());
  EXPECT_EQ(f->Size(), 10u);
  ASSERT_TRUE(f->Append("!").ok());
  ASSERT_TRUE(f->Close().ok());
  EXPECT_EQ(Slurp(Path("a")), "01xy456789!");
}

TEST_F(PosixEnvTest, WriteAtPastEndMovesAppendPosition) {
  auto f = NewFile("a");
  ASSERT_TRUE(f->Append("ab").ok());
  ASSERT_TRUE(f->WriteAt(4, "cd").ok());
  EXPECT_EQ(f->Size(), 6u);
  ASSERT_TRUE(f->Append("e").ok());
  ASSERT_TRUE(f->Close().ok());
  EXPECT_EQ(Slurp(Path("a")), std::string("ab\0\0cde", 7));
}

TEST_F(PosixEnvTest, TruncateCutsAndMovesAppendPosition) {
  auto f = NewFile("a");
  ASSERT_TRUE(f->Append("0123456789").ok());
  ASSERT_TRUE(f->Truncate(4).ok());
  EXPECT_EQ(f->Size(), 4u);
  ASSERT_TRUE(f->Append("XY").ok());
  ASSERT_TRUE(f->Close().ok());
  EXPECT_EQ(Slurp(Path("a")), "0123XY");
}

TEST_F(PosixEnvTest, SyncSucceeds) {
  auto f = NewFile("a");
  ASSERT_TRUE(f->Append("data").ok());
  EXPECT_TRUE(f->Sync().ok());
  EXPECT_TRUE(f->Sync().ok());
  EXPECT_TRUE(f->Close().ok());
}

TEST_F(PosixEnvTest, OperationsAfterCloseFailCleanly) {
  auto f = NewFile("a");
  ASSERT_TRUE(f->Close().ok());
  EXPECT_TRUE(f->Close().ok());  // idempotent
  EXPECT_FALSE(f->Append("x").ok());
  EXPECT_FALSE(f->WriteAt(0, "x").ok());
  EXPECT_FALSE(f->Truncate(0).ok());
  EXPECT_FALSE(f->Sync().ok());
}

TEST_F(PosixEnvTest, ReopenAppendsAtTheEnd) {
  {
    auto f = NewFile("a");
    ASSERT_TRUE(f->Append("first").ok());
    ASSERT_TRUE(f->Close().ok());
  }
  auto r = env_->ReopenWritableFile(Path("a"));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ((*r)->Size(), 5u);
  ASSERT_TRUE((*r)->Append(",second").ok());
  EXPECT_EQ((*r)->Size(), 12u);
  ASSERT_TRUE((*r)->Close().ok());
  EXPECT_EQ(Slurp(Path("a")), "first,second");
}

TEST_F(PosixEnvTest, ReopenOfMissingFileFailsNamingThePath) {
  auto r = env_->ReopenWritableFile(Path("missing"));
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(r.status().IsIOError());
  EXPECT_EQ(r.status().sys_errno(), ENOENT);
  EXPECT_NE(r.status().message().find(Path("missing")), std::string::npos);
  EXPECT_NE(r.status().ToString().find("IO error: open "), std::string::npos)
      << r.status().ToString();
  EXPECT_NE(r.status().message().find("No such file or directory"), std::string::npos);
}

TEST_F(PosixEnvTest, RandomAccessReadsAtOffsets) {
  {
    auto f = NewFile("a");
    ASSERT_TRUE(f->Append("0123456789").ok());
    ASSERT_TRUE(f->Close().ok());
  }
  auto r = env_->NewRandomAccessFile(Path("a"));
  ASSERT_TRUE(r.ok());
  std::string out = "garbage";
  ASSERT_TRUE((*r)->Read(3, 4, &out).ok());
  EXPECT_EQ(out, "3456");
  ASSERT_TRUE((*r)->Read(0, 0, &out).ok());
  EXPECT_EQ(out, "");
  auto size = (*r)->Size();
  ASSERT_TRUE(size.ok());
  EXPECT_EQ(*size, 10u);
}

TEST_F(PosixEnvTest, ReadPastEndIsShortNotAnError) {
  {
    auto f = NewFile("a");
    ASSERT_TRUE(f->Append("0123456789").ok());
    ASSERT_TRUE(f->Close().ok());
  }
  auto r = env_->NewRandomAccessFile(Path("a"));
  ASSERT_TRUE(r.ok());
  std::string out;
  ASSERT_TRUE((*r)->Read(7, 100, &out).ok());
  EXPECT_EQ(out, "789");
  ASSERT_TRUE((*r)->Read(50, 10, &out).ok());
  EXPECT_EQ(out, "");
}

TEST_F(PosixEnvTest, RandomAccessSeesLaterAppends) {
  auto w = NewFile("a");
  auto r = env_->NewRandomAccessFile(Path("a"));
  ASSERT_TRUE(r.ok());
  ASSERT_TRUE(w->Append("abc").ok());
  std::string out;
  ASSERT_TRUE((*r)->Read(0, 10, &out).ok());
  EXPECT_EQ(out, "abc");
  EXPECT_EQ(*(*r)->Size(), 3u);
}

TEST_F(PosixEnvTest, NewRandomAccessFileOfMissingFileFails) {
  auto r = env_->NewRandomAccessFile(Path("missing"));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().sys_errno(), ENOENT);
}

TEST_F(PosixEnvTest, ListDirNamesEntriesWithoutDots) {
  ASSERT_NE(NewFile("x"), nullptr);
  ASSERT_NE(NewFile("y"), nullptr);
  ASSERT_TRUE(env_->CreateDir(Path("sub")).ok());
  auto names = env_->ListDir(dir_);
  ASSERT_TRUE(names.ok());
  std::vector<std::string> sorted = *names;
  std::sort(sorted.begin(), sorted.end());
  EXPECT_EQ(sorted, (std::vector<std::string>{"sub", "x", "y"}));
}

TEST_F(PosixEnvTest, ListDirOfEmptyAndMissingDirectory) {
  auto empty = env_->ListDir(dir_);
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(empty->empty());
  auto missing = env_->ListDir(Path("nope"));
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().sys_errno(), ENOENT);
}

TEST_F(PosixEnvTest, CreateDirIsIdempotentButRefusesAFile) {
  ASSERT_TRUE(env_->CreateDir(Path("d")).ok());
  EXPECT_TRUE(std::filesystem::is_directory(Path("d")));
  EXPECT_TRUE(env_->CreateDir(Path("d")).ok());
  ASSERT_NE(NewFile("f"), nullptr);
  Status s = env_->CreateDir(Path("f"));
  EXPECT_TRUE(s.IsIOError());
  EXPECT_EQ(s.sys_errno(), EEXIST);
  EXPECT_FALSE(env_->CreateDir(Path("no/such/parent")).ok());
}

TEST_F(PosixEnvTest, SyncDirWorksOnDirectoriesOnly) {
  EXPECT_TRUE(env_->SyncDir(dir_).ok());
  EXPECT_EQ(env_->SyncDir(Path("missing")).sys_errno(), ENOENT);
  ASSERT_NE(NewFile("f"), nullptr);
  EXPECT_EQ(env_->SyncDir(Path("f")).sys_errno(), ENOTDIR);
}

TEST_F(PosixEnvTest, RenameMovesAndReplaces) {
  {
    auto a = NewFile("a");
    ASSERT_TRUE(a->Append("A").ok());
    auto b = NewFile("b");
    ASSERT_TRUE(b->Append("B").ok());
  }
  ASSERT_TRUE(env_->RenameFile(Path("a"), Path("b")).ok());
  EXPECT_FALSE(*env_->FileExists(Path("a")));
  EXPECT_EQ(Slurp(Path("b")), "A");
  Status s = env_->RenameFile(Path("a"), Path("c"));
  EXPECT_TRUE(s.IsIOError());
  EXPECT_EQ(s.sys_errno(), ENOENT);
  EXPECT_NE(s.message().find(Path("a")), std::string::npos);
}

TEST_F(PosixEnvTest, RemoveFileDeletesAndReportsMissing) {
  ASSERT_NE(NewFile("a"), nullptr);
  ASSERT_TRUE(env_->RemoveFile(Path("a")).ok());
  EXPECT_FALSE(*env_->FileExists(Path("a")));
  Status s = env_->RemoveFile(Path("a"));
  EXPECT_TRUE(s.IsIOError());
  EXPECT_EQ(s.sys_errno(), ENOENT);
}

TEST_F(PosixEnvTest, FileExistsAnswersForFilesAndDirectories) {
  EXPECT_FALSE(*env_->FileExists(Path("a")));
  ASSERT_NE(NewFile("a"), nullptr);
  EXPECT_TRUE(*env_->FileExists(Path("a")));
  EXPECT_TRUE(*env_->FileExists(dir_));
  EXPECT_FALSE(*env_->FileExists(Path("a/below-a-file")));  // ENOTDIR means "no"
}

TEST_F(PosixEnvTest, LockFileRecordsOurPid) {
  auto lock = env_->LockFile(Path("LOCK"));
  ASSERT_TRUE(lock.ok()) << lock.status().ToString();
  EXPECT_EQ(Slurp(Path("LOCK")), std::to_string(::getpid()) + "\n");
}

TEST_F(PosixEnvTest, SecondLockInSameProcessIsBusyNamingThePid) {
  auto first = env_->LockFile(Path("LOCK"));
  ASSERT_TRUE(first.ok());
  auto second = env_->LockFile(Path("LOCK"));
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), Status::Code::kBusy);
  EXPECT_EQ(second.status().message(),
            Path("LOCK") + " is locked by pid " + std::to_string(::getpid()));
}

TEST_F(PosixEnvTest, LockIsReleasedWhenDestroyed) {
  {
    auto first = env_->LockFile(Path("LOCK"));
    ASSERT_TRUE(first.ok());
  }
  auto again = env_->LockFile(Path("LOCK"));
  EXPECT_TRUE(again.ok()) << again.status().ToString();
}

TEST_F(PosixEnvTest, LockHeldByAnotherProcessIsBusy) {
  auto mine = env_->LockFile(Path("LOCK"));
  ASSERT_TRUE(mine.ok());
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    // In the child: exit code 0 iff the lock is refused and names the parent.
    auto theirs = Env::Default()->LockFile(Path("LOCK"));
    const bool ok =
        !theirs.ok() && theirs.status().code() == Status::Code::kBusy &&
        theirs.status().message().find(std::to_string(::getppid())) != std::string::npos;
    ::_exit(ok ? 0 : 1);
  }
  int wstatus = 0;
  ASSERT_EQ(::waitpid(child, &wstatus, 0), child);
  ASSERT_TRUE(WIFEXITED(wstatus));
  EXPECT_EQ(WEXITSTATUS(wstatus), 0);
}

TEST_F(PosixEnvTest, LockInMissingDirectoryFails) {
  auto lock = env_->LockFile(Path("nope/LOCK"));
  ASSERT_FALSE(lock.ok());
  EXPECT_TRUE(lock.status().IsIOError());
  EXPECT_EQ(lock.status().sys_errno(), ENOENT);
}

// --- symbolic links: never followed to a file ------------------------------

class PosixEnvSymlinkTest : public PosixEnvTest {
 protected:
  // `name` in the test directory becomes a link to a file outside it that
  // holds "keep"; the victim a planted link would have the writer clobber.
  void PlantLink(const std::string& name) {
    victim_ = outside_.path() + "/victim";
    std::ofstream(victim_) << "keep";
    std::filesystem::create_symlink(victim_, Path(name));
  }

  // The refusal env.h promises, naming the path; and the victim untouched.
  void ExpectRefused(const Status& s, const std::string& name) {
    EXPECT_TRUE(s.IsIOError()) << s.ToString();
    EXPECT_EQ(s.sys_errno(), ELOOP) << s.ToString();
    EXPECT_EQ(s.message(), Path(name) + " is a symbolic link; refusing to follow it");
    EXPECT_EQ(Slurp(victim_), "keep");
  }

  testing::TestDir outside_;
  std::string victim_;
};

TEST_F(PosixEnvSymlinkTest, ReopenWritableFileRefusesALink) {
  PlantLink("00000000000000000001.qlog");
  ExpectRefused(env_->ReopenWritableFile(Path("00000000000000000001.qlog")).status(),
                "00000000000000000001.qlog");
}

TEST_F(PosixEnvSymlinkTest, NewWritableFileRefusesALinkLiveOrDangling) {
  PlantLink("SPINE.tmp");
  ExpectRefused(env_->NewWritableFile(Path("SPINE.tmp")).status(), "SPINE.tmp");
  std::filesystem::create_symlink(outside_.path() + "/not-yet", Path("CHECKPOINTS"));
  ExpectRefused(env_->NewWritableFile(Path("CHECKPOINTS")).status(), "CHECKPOINTS");
  EXPECT_FALSE(std::filesystem::exists(outside_.path() + "/not-yet"));
}

TEST_F(PosixEnvSymlinkTest, NewRandomAccessFileRefusesALink) {
  PlantLink("00000000000000000001.qlog");
  ExpectRefused(env_->NewRandomAccessFile(Path("00000000000000000001.qlog")).status(),
                "00000000000000000001.qlog");
}

TEST_F(PosixEnvSymlinkTest, LockFileRefusesALink) {
  PlantLink("LOCK");
  ExpectRefused(env_->LockFile(Path("LOCK")).status(), "LOCK");
}

TEST_F(PosixEnvSymlinkTest, RenameAndRemoveActOnTheLinkItself) {
  PlantLink("SPINE");
  {
    auto tmp = NewFile("SPINE.tmp");
    ASSERT_TRUE(tmp->Append("new spine").ok());
    ASSERT_TRUE(tmp->Close().ok());
  }
  ASSERT_TRUE(env_->RenameFile(Path("SPINE.tmp"), Path("SPINE")).ok());
  EXPECT_FALSE(std::filesystem::is_symlink(Path("SPINE")));
  EXPECT_EQ(Slurp(Path("SPINE")), "new spine");
  EXPECT_EQ(Slurp(victim_), "keep");
  PlantLink("RECOVERY");
  ASSERT_TRUE(env_->RemoveFile(Path("RECOVERY")).ok());
  EXPECT_EQ(Slurp(victim_), "keep");
}

TEST_F(PosixEnvSymlinkTest, FilesBehindASymlinkedDirectoryOpen) {
  const std::string link = outside_.path() + "/store-link";
  std::filesystem::create_symlink(dir_, link);
  auto lock = env_->LockFile(link + "/LOCK");
  ASSERT_TRUE(lock.ok()) << lock.status().ToString();
  auto file = env_->NewWritableFile(link + "/a");
  ASSERT_TRUE(file.ok()) << file.status().ToString();
  ASSERT_TRUE((*file)->Append("through the link").ok());
  ASSERT_TRUE((*file)->Close().ok());
  EXPECT_TRUE(env_->ReopenWritableFile(link + "/a").ok());
  EXPECT_TRUE(env_->NewRandomAccessFile(link + "/a").ok());
  EXPECT_TRUE(env_->SyncDir(link).ok());
  EXPECT_TRUE(env_->CreateDir(link).ok());
  EXPECT_EQ(Slurp(Path("a")), "through the link");
}

// --- standard descriptors ----------------------------------------------------

// Closes stdin, stdout and stderr for its lifetime, keeping copies above 2
// that the destructor puts back, so a test sees what a process that started
// with them closed would get from open(2).
class StdFdsClosed {
 public:
  StdFdsClosed() {
    std::fflush(nullptr);
    for (int fd = 0; fd < 3; fd++) {
      saved_[fd] = ::fcntl(fd, F_DUPFD_CLOEXEC, 3);  // -1 if it was closed already
      ::close(fd);
    }
  }
  ~StdFdsClosed() {
    for (int fd = 0; fd < 3; fd++) {
      if (saved_[fd] < 0) continue;
      ::dup2(saved_[fd], fd);
      ::close(saved_[fd]);
    }
  }
  StdFdsClosed(const StdFdsClosed&) = delete;
  StdFdsClosed& operator=(const StdFdsClosed&) = delete;

 private:
  int saved_[3];
};

TEST_F(PosixEnvTest, StoreFilesNeverTakeTheStandardDescriptors) {
  ASSERT_NE(NewFile("existing"), nullptr);
  bool all_opened = false;
  std::vector<int> taken;  // standard descriptors some store file ended up on
  {
    StdFdsClosed closed;
    auto created = env_->NewWritableFile(Path("new"));
    auto reopened = env_->ReopenWritableFile(Path("existing"));
    auto readable = env_->NewRandomAccessFile(Path("existing"));
    auto lock = env_->LockFile(Path("LOCK"));
    Status synced = env_->SyncDir(dir_);
    all_opened = created.ok() && reopened.ok() && readable.ok() && lock.ok() && synced.ok();
    for (int fd = 0; fd < 3; fd++) {
      if (::fcntl(fd, F_GETFD) != -1) taken.push_back(fd);
    }
  }  // the files close before the standard descriptors come back
  EXPECT_TRUE(all_opened);
  EXPECT_TRUE(taken.empty()) << "a store file is on descriptor " << taken.front();
}

}  // namespace
}  // namespace quipu
