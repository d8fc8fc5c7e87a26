// Tests for io/fault_env: the disk after a simulated power cut, and injected
// sync failures, full disks and crashes.
#include "io/fault_env.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "fault_env_fixture.h"

namespace quipu {
namespace {

TEST_F(FaultEnvTest, WritesReachTheRealFile) {
  auto f = Create("a");
  ASSERT_TRUE(f->Append("hello").ok());
  ASSERT_TRUE(f->WriteAt(0, "J").ok());
  EXPECT_EQ(f->Size(), 5u);
  EXPECT_EQ(Disk("a"), "Jello");
  auto r = env_.NewRandomAccessFile(Path("a"));
  ASSERT_TRUE(r.ok());
  std::string out;
  ASSERT_TRUE((*r)->Read(1, 10, &out).ok());
  EXPECT_EQ(out, "ello");
}

TEST_F(FaultEnvTest, PowerLossDropsUnsyncedBytes) {
  auto f = CreateDurable("a", "synced;");
  ASSERT_TRUE(f->Append("unsynced").ok());
  EXPECT_EQ(Disk("a"), "synced;unsynced");
  PowerLoss();
  EXPECT_EQ(Disk("a"), "synced;");
}

TEST_F(FaultEnvTest, SyncedBytesSurvivePowerLoss) {
  auto f = CreateDurable("a", "one;");
  ASSERT_TRUE(f->Append("two;").ok());
  ASSERT_TRUE(f->Sync().ok());
  PowerLoss();
  EXPECT_EQ(Disk("a"), "one;two;");
}

TEST_F(FaultEnvTest, NewFileWhoseDirectoryWasNeverSyncedVanishes) {
  auto f = Create("a");
  ASSERT_TRUE(f->Append("data").ok());
  ASSERT_TRUE(f->Sync().ok());  // data durable, but nothing points at it
  PowerLoss();
  EXPECT_EQ(Disk("a"), "<absent>");
}

TEST_F(FaultEnvTest, NewFileSurvivesOnceItsDirectoryIsSynced) {
  auto f = Create("a");
  ASSERT_TRUE(env_.SyncDir(dir_).ok());
  ASSERT_TRUE(f->Append("data").ok());
  PowerLoss();
  EXPECT_EQ(Disk("a"), "");  // the entry survives; the unsynced data does not
}

TEST_F(FaultEnvTest, SyncDirOfAnotherDirectoryDoesNotHelp) {
  ASSERT_TRUE(env_.CreateDir(Path("sub")).ok());
  auto f = Create("sub/a");
  ASSERT_TRUE(f->Sync().ok());
  ASSERT_TRUE(env_.SyncDir(dir_).ok());
  PowerLoss();
  EXPECT_EQ(Disk("sub/a"), "<absent>");
}

TEST_F(FaultEnvTest, DirectoryPathSpellingDoesNotMatter) {
  auto f = Create("a");
  ASSERT_TRUE(env_.SyncDir(dir_ + "/").ok());
  PowerLoss();
  EXPECT_EQ(Disk("a"), "");
}

TEST_F(FaultEnvTest, RemovedFileComesBackUntilDirectoryIsSynced) {
  auto f = CreateDurable("a", "keep");
  ASSERT_TRUE(f->Append("lose").ok());
  f.reset();
  ASSERT_TRUE(env_.RemoveFile(Path("a")).ok());
  EXPECT_EQ(Disk("a"), "<absent>");
  PowerLoss();
  EXPECT_EQ(Disk("a"), "keep");

  ASSERT_TRUE(env_.RemoveFile(Path("a")).ok());
  ASSERT_TRUE(env_.SyncDir(dir_).ok());
  PowerLoss();
  EXPECT_EQ(Disk("a"), "<absent>");
}

TEST_F(FaultEnvTest, RecreatedFileIsReplacedByTheDurableOne) {
  CreateDurable("a", "old");
  ASSERT_TRUE(env_.RemoveFile(Path("a")).ok());
  auto f = Create("a");
  ASSERT_TRUE(f->Append("new").ok());
  ASSERT_TRUE(f->Sync().ok());
  PowerLoss();
  EXPECT_EQ(Disk("a"), "old");
}

TEST_F(FaultEnvTest, RenameIsUndoneUntilDirectoryIsSynced) {
  CreateDurable("tmp", "content");
  ASSERT_TRUE(env_.RenameFile(Path("tmp"), Path("final")).ok());
  EXPECT_EQ(Disk("final"), "content");
  PowerLoss();
  EXPECT_EQ(Disk("tmp"), "content");
  EXPECT_EQ(Disk("final"), "<absent>");
}

TEST_F(FaultEnvTest, RenameSticksAfterDirectorySync) {
  CreateDurable("tmp", "content");
  ASSERT_TRUE(env_.RenameFile(Path("tmp"), Path("final")).ok());
  ASSERT_TRUE(env_.SyncDir(dir_).ok());
  PowerLoss();
  EXPECT_EQ(Disk("tmp"), "<absent>");
  EXPECT_EQ(Disk("final"), "content");
}

TEST_F(FaultEnvTest, RenameOverADurableFileIsUndone) {
  CreateDurable("target", "old");
  auto f = Create("tmp");
  ASSERT_TRUE(f->Append("new").ok());
  ASSERT_TRUE(f->Sync().ok());
  ASSERT_TRUE(env_.RenameFile(Path("tmp"), Path("target")).ok());
  EXPECT_EQ(Disk("target"), "new");
  PowerLoss();
  EXPECT_EQ(Disk("target"), "old");
  EXPECT_EQ(Disk("tmp"), "<absent>");  // its entry was never durable
}

TEST_F(FaultEnvTest, RenameOverADurableFileSticksAfterDirectorySync) {
  CreateDurable("target", "old");
  auto f = Create("tmp");
  ASSERT_TRUE(f->Append("new").ok());
  ASSERT_TRUE(f->Sync().ok());
  ASSERT_TRUE(env_.RenameFile(Path("tmp"), Path("target")).ok());
  ASSERT_TRUE(env_.SyncDir(dir_).ok());
  PowerLoss();
  EXPECT_EQ(Disk("target"), "new");
}

TEST_F(FaultEnvTest, SwappedNamesComeBack) {
  CreateDurable("a", "A");
  CreateDurable("b", "B");
  ASSERT_TRUE(env_.RenameFile(Path("a"), Path("t")).ok());
  ASSERT_TRUE(env_.RenameFile(Path("b"), Path("a")).ok());
  ASSERT_TRUE(env_.RenameFile(Path("t"), Path("b")).ok());
  EXPECT_EQ(Disk("a"), "B");
  PowerLoss();
  EXPECT_EQ(Disk("a"), "A");
  EXPECT_EQ(Disk("b"), "B");
  EXPECT_EQ(Disk("t"), "<absent>");
}

TEST_F(FaultEnvTest, OverwriteOfSyncedBytesIsUndoneWithoutSync) {
  auto f = CreateDurable("a", "0123456789");
  ASSERT_TRUE(f->WriteAt(2, "xxxx").ok());
  ASSERT_TRUE(f->WriteAt(4, "yyyyyyyyyy").ok());
  EXPECT_EQ(Disk("a"), "01xxyyyyyyyyyy");
  PowerLoss();
  EXPECT_EQ(Disk("a"), "0123456789");
}

TEST_F(FaultEnvTest, OverwriteOfSyncedBytesSticksAfterSync) {
  auto f = CreateDurable("a", "0123456789");
  ASSERT_TRUE(f->WriteAt(2, "xx").ok());
  ASSERT_TRUE(f->Sync().ok());
  PowerLoss();
  EXPECT_EQ(Disk("a"), "01xx456789");
}

TEST_F(FaultEnvTest, TruncateOfSyncedBytesIsUndoneWithoutSync) {
  auto f = CreateDurable("a", "0123456789");
  ASSERT_TRUE(f->Truncate(3).ok());
  ASSERT_TRUE(f->Append("abc").ok());
  EXPECT_EQ(Disk("a"), "012abc");
  PowerLoss();
  EXPECT_EQ(Disk("a"), "0123456789");
}

TEST_F(FaultEnvTest, TruncateSticksAfterSync) {
  auto f = CreateDurable("a", "0123456789");
  ASSERT_TRUE(f->Truncate(3).ok());
  ASSERT_TRUE(f->Sync().ok());
  PowerLoss();
  EXPECT_EQ(Disk("a"), "012");
}

TEST_F(FaultEnvTest, FailSyncsPoisonsOnlyTheNextKSyncs) {
  auto f = CreateDurable("a", "base;");
  env_.FailSyncs(2);
  ASSERT_TRUE(f->Append("one;").ok());
  Status s = f->Sync();
  EXPECT_TRUE(s.IsIOError());
  EXPECT_EQ(s.sys_errno(), EIO);
  EXPECT_NE(s.message().find(Path("a")), std::string::npos) << s.ToString();
  EXPECT_TRUE(f->Sync().IsIOError());
  EXPECT_TRUE(f->Sync().ok());
  EXPECT_TRUE(f->Sync().ok());
}

TEST_F(FaultEnvTest, FailedSyncMakesNothingDurable) {
  auto f = CreateDurable("a", "base;");
  ASSERT_TRUE(f->Append("lost;").ok());
  env_.FailSyncs(1);
  ASSERT_FALSE(f->Sync().ok());
  PowerLoss();
  EXPECT_EQ(Disk("a"), "base;");
}

TEST_F(FaultEnvTest, FailSyncsWithEnospcReportsNoSpace) {
  auto f = CreateDurable("a", "");
  env_.FailSyncs(1, ENOSPC);
  Status s = f->Sync();
  EXPECT_TRUE(s.IsNoSpace()) << s.ToString();
  EXPECT_EQ(s.sys_errno(), ENOSPC);
}

TEST_F(FaultEnvTest, SpaceLimitGivesAShortWriteThenNoSpace) {
  auto f = Create("a");
  env_.SetSpaceLimit(100);
  ASSERT_TRUE(f->Append(Pattern(60, 0)).ok());
  Status s = f->Append(Pattern(60, 1));
  EXPECT_TRUE(s.IsNoSpace()) << s.ToString();
  EXPECT_EQ(s.sys_errno(), ENOSPC);
  EXPECT_EQ(f->Size(), 100u);
  EXPECT_EQ(Disk("a"), Pattern(60, 0) + Pattern(60, 1).substr(0, 40));
  EXPECT_TRUE(f->Append("x").IsNoSpace());
  EXPECT_EQ(f->Size(), 100u);

  env_.ClearSpaceLimit();
  ASSERT_TRUE(f->Append("more").ok());
  EXPECT_EQ(f->Size(), 104u);
}

TEST_F(FaultEnvTest, SpaceLimitCountsEveryFileAndFreesOnRemove) {
  auto a = Create("a");
  auto b = Create("b");
  env_.SetSpaceLimit(10);
  ASSERT_TRUE(a->Append("123456").ok());
  EXPECT_TRUE(b->Append("123456").IsNoSpace());
  EXPECT_EQ(b->Size(), 4u);
  // Overwriting inside a file costs nothing.
  EXPECT_TRUE(a->WriteAt(0, "abcdef").ok());
  a.reset();
  ASSERT_TRUE(env_.RemoveFile(Path("a")).ok());
  EXPECT_TRUE(b->Append("123456").ok());
}

TEST_F(FaultEnvTest, SpaceLimitCountsPreexistingFilesWhenSeen) {
  {
    std::ofstream out(Path("old"), std::ios::binary);
    out << std::string(50, 'o');
  }
  auto old = env_.ReopenWritableFile(Path("old"));
  ASSERT_TRUE(old.ok());
  env_.SetSpaceLimit(60);
  auto f = Create("a");
  EXPECT_TRUE(f->Append(std::string(20, 'x')).IsNoSpace());
  EXPECT_EQ(f->Size(), 10u);
}

TEST_F(FaultEnvTest, TruncateFreesSpace) {
  auto f = Create("a");
  env_.SetSpaceLimit(10);
  ASSERT_TRUE(f->Append("0123456789").ok());
  EXPECT_TRUE(f->Append("x").IsNoSpace());
  ASSERT_TRUE(f->Truncate(5).ok());
  EXPECT_TRUE(f->Append("abcde").ok());
}

TEST_F(FaultEnvTest, CountersCountWhatWasAsked) {
  auto f = Create("a");
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(f->Append("x").ok());
  ASSERT_TRUE(f->Sync().ok());
  env_.FailSyncs(1);
  EXPECT_FALSE(f->Sync().ok());
  ASSERT_TRUE(env_.SyncDir(dir_).ok());
  ASSERT_TRUE(f->WriteAt(0, "y").ok());  // not an Append
  EXPECT_EQ(env_.AppendCount(), 5u);
  EXPECT_EQ(env_.SyncCount(), 2u);  // the failed one counts too
  EXPECT_EQ(env_.DirSyncCount(), 1u);
  env_.ResetCounters();
  EXPECT_EQ(env_.AppendCount(), 0u);
  EXPECT_EQ(env_.SyncCount(), 0u);
  EXPECT_EQ(env_.DirSyncCount(), 0u);
  ASSERT_TRUE(f->Append("x").ok());
  EXPECT_EQ(env_.AppendCount(), 1u);
}

TEST_F(FaultEnvTest, CrashMakesEveryOperationFail) {
  auto f = CreateDurable("a", "data");
  auto r = env_.NewRandomAccessFile(Path("a"));
  ASSERT_TRUE(r.ok());
  env_.Crash();
  auto crashed = [](const Status& s) {
    return s.IsIOError() && s.message().find("simulated crash") != std::string::npos;
  };
  EXPECT_TRUE(crashed(f->Append("x")));
  EXPECT_TRUE(crashed(f->WriteAt(0, "x")));
  EXPECT_TRUE(crashed(f->Truncate(0)));
  EXPECT_TRUE(crashed(f->Sync()));
  EXPECT_TRUE(crashed(f->Close()));
  std::string out;
  EXPECT_TRUE(crashed((*r)->Read(0, 4, &out)));
  EXPECT_TRUE(crashed((*r)->Size().status()));
  EXPECT_TRUE(crashed(env_.NewWritableFile(Path("b")).status()));
  EXPECT_TRUE(crashed(env_.ReopenWritableFile(Path("a")).status()));
  EXPECT_TRUE(crashed(env_.NewRandomAccessFile(Path("a")).status()));
  EXPECT_TRUE(crashed(env_.ListDir(dir_).status()));
  EXPECT_TRUE(crashed(env_.CreateDir(Path("d"))));
  EXPECT_TRUE(crashed(env_.SyncDir(dir_)));
  EXPECT_TRUE(crashed(env_.RenameFile(Path("a"), Path("b"))));
  EXPECT_TRUE(crashed(env_.RemoveFile(Path("a"))));
  EXPECT_TRUE(crashed(env_.FileExists(Path("a")).status()));
  EXPECT_TRUE(crashed(env_.LockFile(Path("LOCK")).status()));
  EXPECT_EQ(Disk("a"), "data");  // nothing reached the disk

  env_.Revive();
  EXPECT_TRUE(f->Append("!").ok());
  EXPECT_TRUE((*r)->Read(0, 5, &out).ok());
  EXPECT_EQ(out, "data!");
}

TEST_F(FaultEnvTest, CrashThenPowerLossThenReopen) {
  auto f = CreateDurable("a", "durable;");
  ASSERT_TRUE(f->Append("volatile;").ok());
  env_.Crash();
  f.reset();  // destroying a handle after a crash writes nothing
  PowerLoss();
  auto again = env_.ReopenWritableFile(Path("a"));
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ((*again)->Size(), 8u);
  ASSERT_TRUE((*again)->Append("after;").ok());
  EXPECT_EQ(Disk("a"), "durable;after;");
}

TEST_F(FaultEnvTest, PowerLossKillsEveryOldHandle) {
  auto f = CreateDurable("a", "data");
  auto r = env_.NewRandomAccessFile(Path("a"));
  ASSERT_TRUE(r.ok());
  PowerLoss();
  EXPECT_FALSE(f->Append("x").ok());
  EXPECT_FALSE(f->Sync().ok());
  EXPECT_FALSE(f->Close().ok());
  std::string out;
  EXPECT_FALSE((*r)->Read(0, 4, &out).ok());
  EXPECT_EQ(Disk("a"), "data");
  // New handles work.
  auto fresh = env_.NewRandomAccessFile(Path("a"));
  ASSERT_TRUE(fresh.ok());
  ASSERT_TRUE((*fresh)->Read(0, 4, &out).ok());
  EXPECT_EQ(out, "data");
}

TEST_F(FaultEnvTest, SurvivorsOfPowerLossAreTheNewDurableBaseline) {
  auto f = CreateDurable("a", "one;");
  ASSERT_TRUE(f->Append(Pattern(3000, 7)).ok());
  PowerLoss({.tear_last_write = true, .seed = 5});
  const std::string survived = Disk("a");
  // A second power cut with no activity in between changes nothing.
  PowerLoss({.tear_last_write = true, .seed = 6});
  EXPECT_EQ(Disk("a"), survived);
}

TEST_F(FaultEnvTest, PreexistingFileIsDurableAtItsSizeWhenFirstSeen) {
  {
    std::ofstream out(Path("old"), std::ios::binary);
    out << "before";
  }
  auto f = env_.ReopenWritableFile(Path("old"));
  ASSERT_TRUE(f.ok());
  EXPECT_EQ((*f)->Size(), 6u);
  ASSERT_TRUE((*f)->Append(";after").ok());
  PowerLoss();
  EXPECT_EQ(Disk("old"), "before");
}

TEST_F(FaultEnvTest, UntouchedFilesAreLeftAlone) {
  {
    std::ofstream out(Path("other"), std::ios::binary);
    out << "mine";
  }
  CreateDurable("a", "x");
  PowerLoss();
  EXPECT_EQ(Disk("other"), "mine");
}

TEST_F(FaultEnvTest, LockFileGoesToTheBaseEnv) {
  auto first = env_.LockFile(Path("LOCK"));
  ASSERT_TRUE(first.ok());
  auto second = env_.LockFile(Path("LOCK"));
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), Status::Code::kBusy);
}

TEST_F(FaultEnvTest, ConcurrentAppendAndSyncAreRaceFreeAndSyncCoversEarlierAppends) {
  constexpr int kRecords = 2000;
  constexpr size_t kRecordSize = 100;
  auto f = CreateDurable("a", "");
  std::atomic<int> appended{0};
  std::atomic<bool> done{false};
  std::atomic<bool> failed{false};

  std::thread writer([&] {
    for (int i = 0; i < kRecords; ++i) {
      if (!f->Append(Pattern(kRecordSize, i)).ok()) failed = true;
      appended.fetch_add(1, std::memory_order_release);
    }
    done = true;
  });
  // Every Sync must cover at least the appends that returned before it began.
  int guaranteed = 0;
  int syncs = 0;
  while (!done.load() || syncs == 0) {
    const int before = appended.load(std::memory_order_acquire);
    const Status s = f->Sync();
    if (!s.ok()) {
      ADD_FAILURE() << s.ToString();
      break;
    }
    guaranteed = std::max(guaranteed, before);
    ++syncs;
  }
  writer.join();
  ASSERT_FALSE(failed.load());

  PowerLoss();
  const std::string after = Disk("a");
  EXPECT_EQ(after.size() % kRecordSize, 0u);  // a sync never sees half an Append
  EXPECT_GE(after.size(), static_cast<size_t>(guaranteed) * kRecordSize);
  for (size_t i = 0; i * kRecordSize < after.size(); ++i) {
    ASSERT_EQ(after.substr(i * kRecordSize, kRecordSize), Pattern(kRecordSize, i))
        << "record " << i;
  }
  EXPECT_EQ(env_.SyncCount(), static_cast<uint64_t>(syncs) + 1);  // + CreateDurable's
}

TEST_F(FaultEnvTest, ConcurrentFilesInManyThreads) {
  constexpr int kThreads = 4;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      const std::string name = Path("t" + std::to_string(t));
      auto f = env_.NewWritableFile(name);
      ASSERT_TRUE(f.ok());
      for (int i = 0; i < 200; ++i) {
        ASSERT_TRUE((*f)->Append("0123456789").ok());
        if (i % 20 == 0) {
          ASSERT_TRUE((*f)->Sync().ok());
        }
      }
      ASSERT_TRUE((*f)->Sync().ok());
      ASSERT_TRUE(env_.SyncDir(dir_).ok());
      ASSERT_TRUE((*f)->Close().ok());
    });
  }
  for (auto& t : threads) t.join();
  PowerLoss();
  for (int t = 0; t < kThreads; ++t) EXPECT_EQ(Disk("t" + std::to_string(t)).size(), 2000u);
}

}  // namespace
}  // namespace quipu
