// Tests for io/rocksdb_env: a real RocksDB over the fault-injecting Env —
// reads and writes, flush and compaction, power cuts (plain, torn, pages
// written back in any order), failed syncs, a full disk, a planted symbolic
// link and a second opener. Randomized; QUIPU_SEED replays a run (RocksDB's
// background work can still move where its files are cut).
//
// What a power cut leaves, as these tests found it: every synced write, and
// the DB always opens. The unsynced writes that survive are a prefix when the
// disk keeps a prefix of each file (plain or torn cut), but not when it
// writes pages back in any order: RocksDB's WAL reader takes a zeroed page
// for preallocated space and replays what follows it
// (WalReplayGoesOnPastAZeroedPage). Without the WAL, a cut leaves exactly
// what the last flush wrote, whatever the page order.
#include "io/rocksdb_env.h"

#include <gtest/gtest.h>
#include <rocksdb/db.h>
#include <rocksdb/file_system.h>
#include <rocksdb/options.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "io/fault_env.h"
#include "test_dir.h"

namespace quipu {
namespace {

// The seed of a randomized test: QUIPU_SEED if set, else random; printed so
// a failure can be replayed.
uint64_t TestSeed() {
  const char* env = std::getenv("QUIPU_SEED");
  const uint64_t seed = env != nullptr ? std::strtoull(env, nullptr, 10) : std::random_device{}();
  std::cout << "QUIPU_SEED=" << seed << "\n";
  return seed;
}

std::string Key(int i) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "k%04d", i);
  return buf;
}

// Distinct per key and long enough that a few hundred writes span several
// 32 KiB WAL blocks and many 4 KiB pages.
std::string Value(int i) { return std::string(100 + i % 50, static_cast<char>('a' + i % 26)); }

class RocksDbEnvTest : public ::testing::Test {
 protected:
  rocksdb::Options Options() const {
    rocksdb::Options options;
    options.env = rocks_env_.get();
    options.create_if_missing = true;
    options.recycle_log_file_num = 0;  // ReuseWritableFile is never needed
    // A Crash()ed DB must not flush on its way out (a crashed process does
    // not), and a failed flush would sleep a second before giving up.
    options.avoid_flush_during_shutdown = true;
    return options;
  }

  rocksdb::Status Open(std::unique_ptr<rocksdb::DB>* db) const {
    rocksdb::DB* raw = nullptr;
    rocksdb::Status s = rocksdb::DB::Open(Options(), dir_, &raw);
    db->reset(raw);
    return s;
  }

  std::unique_ptr<rocksdb::DB> MustOpen() const {
    std::unique_ptr<rocksdb::DB> db;
    rocksdb::Status s = Open(&db);
    EXPECT_TRUE(s.ok()) << s.ToString();
    return db;
  }

  static rocksdb::Status Put(rocksdb::DB* db, int i, bool sync, bool wal = true) {
    rocksdb::WriteOptions write;
    write.sync = sync;
    write.disableWAL = !wal;
    return db->Put(write, Key(i), Value(i));
  }

  // Every key in order; checks each value on the way.
  static std::vector<std::string> Keys(rocksdb::DB* db) {
    std::vector<std::string> keys;
    std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(rocksdb::ReadOptions()));
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
      keys.push_back(it->key().ToString());
      const int i = std::atoi(keys.back().c_str() + 1);
      EXPECT_EQ(it->value().ToString(), Value(i)) << keys.back();
    }
    EXPECT_TRUE(it->status().ok()) << it->status().ToString();
    return keys;
  }

  // k0001..k<at_least> are all there (the durable writes), and, when
  // `prefix`, nothing after a missing key. Returns N, where k0001..kN is the
  // longest run from the start.
  static int ExpectSurvivors(rocksdb::DB* db, int at_least, bool prefix) {
    const std::vector<std::string> keys = Keys(db);
    int run = 0;
    while (run < static_cast<int>(keys.size()) && keys[run] == Key(run + 1)) ++run;
    EXPECT_GE(run, at_least) << "a durable write was lost";
    if (prefix) {
      EXPECT_EQ(run, static_cast<int>(keys.size()))
          << "survivors are not a prefix: " << keys[run] << " follows " << Key(run);
    }
    return run;
  }

  struct Cut {
    PowerLossOptions loss;
    bool wal = true;     // else: writes skip the WAL, and a flush is the durable point
    bool prefix = true;  // the survivors must be a prefix
  };

  // Rounds of: reopen, write on from the survivors with one durable point
  // somewhere (a sync=true write, or without the WAL a flush) and sometimes
  // a memtable flush, crash, cut the power.
  void PowerLossRounds(Cut cut, uint64_t seed) {
    std::mt19937_64 rng(seed);
    int durable = 0;
    for (int round = 0; round <= 3; ++round) {
      SCOPED_TRACE("round " + std::to_string(round));
      std::unique_ptr<rocksdb::DB> db = MustOpen();
      ASSERT_NE(db, nullptr);
      const int survivors = ExpectSurvivors(db.get(), durable, cut.prefix);
      if (round == 3 || HasFailure()) return;
      // Overwrites whatever a hole left beyond the run with the same values.
      const int n = 50 + static_cast<int>(rng() % 400);
      durable = survivors + 1 + static_cast<int>(rng() % n);
      const int flush_at = rng() % 2 == 0 ? survivors + 1 + static_cast<int>(rng() % n) : -1;
      for (int i = survivors + 1; i <= survivors + n; ++i) {
        rocksdb::Status s = Put(db.get(), i, cut.wal && i == durable, cut.wal);
        ASSERT_TRUE(s.ok()) << s.ToString();
        if (i == flush_at || (!cut.wal && i == durable)) {
          s = db->Flush(rocksdb::FlushOptions());
          ASSERT_TRUE(s.ok()) << s.ToString();
        }
      }
      fault_.Crash();
      db.reset();
      cut.loss.seed = rng();
      Status s = fault_.PowerLoss(cut.loss);
      ASSERT_TRUE(s.ok()) << s.ToString();
    }
  }

  void PowerLossSeeds(const Cut& cut) {
    const uint64_t seed = TestSeed();
    for (uint64_t k = 0; k < 4 && !HasFailure(); ++k) {
      SCOPED_TRACE("seed " + std::to_string(seed + k));
      PowerLossRounds(cut, seed + k);
    }
  }

  uint64_t DirBytes() const {
    uint64_t total = 0;
    for (const auto& e : std::filesystem::directory_iterator(dir_)) {
      if (e.is_regular_file()) total += e.file_size();
    }
    return total;
  }

  testing::TestDir temp_;
  const std::string dir_ = temp_.path() + "/db";
  FaultEnv fault_{Env::Default()};
  const std::unique_ptr<rocksdb::Env> rocks_env_ = NewRocksDbEnv(&fault_);
};

TEST_F(RocksDbEnvTest, PutGetIterateFlushCompactAndReopen) {
  std::unique_ptr<rocksdb::DB> db = MustOpen();
  ASSERT_NE(db, nullptr);
  for (int i = 1; i <= 300; ++i) ASSERT_TRUE(Put(db.get(), i, false).ok());
  ASSERT_TRUE(db->Flush(rocksdb::FlushOptions()).ok());
  for (int i = 301; i <= 600; ++i) ASSERT_TRUE(Put(db.get(), i, false).ok());
  ASSERT_TRUE(db->Delete(rocksdb::WriteOptions(), Key(600)).ok());
  ASSERT_TRUE(db->Flush(rocksdb::FlushOptions()).ok());
  rocksdb::Status s = db->CompactRange(rocksdb::CompactRangeOptions(), nullptr, nullptr);
  ASSERT_TRUE(s.ok()) << s.ToString();

  std::string value;
  ASSERT_TRUE(db->Get(rocksdb::ReadOptions(), Key(42), &value).ok());
  EXPECT_EQ(value, Value(42));
  EXPECT_TRUE(db->Get(rocksdb::ReadOptions(), Key(600), &value).IsNotFound());
  EXPECT_EQ(Keys(db.get()).size(), 599u);
  // The bytes went through the quipu Env, and so did the syncs of the flushes.
  EXPECT_GT(fault_.AppendCount(), 0u);
  EXPECT_GT(fault_.SyncCount(), 0u);
  EXPECT_GT(fault_.DirSyncCount(), 0u);

  ASSERT_TRUE(db->Close().ok());
  db = MustOpen();
  ASSERT_NE(db, nullptr);
  EXPECT_EQ(ExpectSurvivors(db.get(), 599, true), 599);
  EXPECT_GT(std::filesystem::file_size(dir_ + "/LOG"), 0u);  // our info log
}

TEST_F(RocksDbEnvTest, PowerLossKeepsSyncedWritesAndAPrefix) { PowerLossSeeds(Cut{}); }

TEST_F(RocksDbEnvTest, TornLastWriteKeepsSyncedWritesAndAPrefix) {
  Cut cut;
  cut.loss.tear_last_write = true;
  PowerLossSeeds(cut);
}

// Not a prefix: see WalReplayGoesOnPastAZeroedPage.
TEST_F(RocksDbEnvTest, PagesWrittenBackInAnyOrderKeepSyncedWrites) {
  Cut cut;
  cut.loss.keep_random_pages = true;
  cut.prefix = false;
  PowerLossSeeds(cut);
}

TEST_F(RocksDbEnvTest, WithoutTheWalPagesInAnyOrderLeaveTheFlushedPrefix) {
  Cut cut;
  cut.loss.keep_random_pages = true;
  cut.wal = false;
  PowerLossSeeds(cut);
}

// RocksDB (7.8) reads a zeroed record header in its WAL as preallocated
// space: it skips to the next 32 KiB block without reporting corruption, and
// point-in-time recovery replays what it finds there. A power cut makes that
// header when the disk drops the page after the WAL's synced end (a record
// boundary) but keeps a later one: if the next block begins with a whole
// record, writes made after lost ones come back. Should a RocksDB upgrade
// report the hole instead, this test fails; then
// PagesWrittenBackInAnyOrderKeepSyncedWrites can require a prefix.
TEST_F(RocksDbEnvTest, WalReplayGoesOnPastAZeroedPage) {
  constexpr uint64_t kBlock = 32768;
  std::unique_ptr<rocksdb::DB> db = MustOpen();
  ASSERT_NE(db, nullptr);
  std::string wal;
  for (const auto& e : std::filesystem::directory_iterator(dir_)) {
    if (e.path().extension() == ".log") wal = e.path();
  }
  ASSERT_FALSE(wal.empty());
  // Each Put reaches the file before it returns, so the WAL's size after one
  // is a record boundary.
  auto put = [&](int i, size_t value_size) {
    rocksdb::Status s = db->Put(rocksdb::WriteOptions(), Key(i), std::string(value_size, 'v'));
    EXPECT_TRUE(s.ok()) << s.ToString();
    return std::filesystem::file_size(wal);
  };
  int i = 0;
  uint64_t size = 0;
  while (size < 5000) size = put(++i, 100);
  const int last_kept = i;  // the hole starts where its record ends
  const uint64_t hole = size;
  while (size < kBlock - 400) size = put(++i, 100);
  // One record that ends exactly at the block's end: 7 bytes of header, 12
  // of batch header, a tag, the key's length and 5 bytes, the value's
  // length (2 bytes from 128 on) and the value.
  size = put(++i, kBlock - size - 28);
  ASSERT_EQ(size, kBlock);
  const int first_after = i + 1;
  for (int k = 0; k < 20; ++k) put(++i, 100);
  fault_.Crash();
  db.reset();
  fault_.Revive();
  {
    // The disk kept the first block up to the hole and the second block.
    std::fstream f(wal, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(static_cast<std::streamoff>(hole));
    const std::string zeros((hole / 4096 + 2) * 4096 - hole, '\0');
    f.write(zeros.data(), static_cast<std::streamsize>(zeros.size()));
  }
  db = MustOpen();
  ASSERT_NE(db, nullptr);
  std::string value;
  EXPECT_TRUE(db->Get(rocksdb::ReadOptions(), Key(last_kept), &value).ok());
  EXPECT_TRUE(db->Get(rocksdb::ReadOptions(), Key(last_kept + 1), &value).IsNotFound());
  EXPECT_TRUE(db->Get(rocksdb::ReadOptions(), Key(first_after), &value).ok())
      << "replay stopped at the hole";
  EXPECT_TRUE(db->Get(rocksdb::ReadOptions(), Key(i), &value).ok());
}

TEST_F(RocksDbEnvTest, FailedSyncFailsTheSyncedWrite) {
  std::unique_ptr<rocksdb::DB> db = MustOpen();
  ASSERT_NE(db, nullptr);
  ASSERT_TRUE(Put(db.get(), 1, true).ok());
  ASSERT_TRUE(Put(db.get(), 2, false).ok());
  fault_.FailSyncs(1);
  rocksdb::Status s = Put(db.get(), 3, true);
  EXPECT_FALSE(s.ok());
  EXPECT_TRUE(s.IsIOError()) << s.ToString();
  // RocksDB stops writing rather than retry the sync that failed (a retry
  // on the same file can falsely succeed once the kernel dropped the pages).
  EXPECT_FALSE(Put(db.get(), 4, true).ok());
  EXPECT_EQ(fault_.RetriedFailedSyncs(), 0u);

  db.reset();
  ASSERT_TRUE(fault_.PowerLoss().ok());
  db = MustOpen();
  ASSERT_NE(db, nullptr);
  EXPECT_GE(ExpectSurvivors(db.get(), 1, true), 1);
}

TEST_F(RocksDbEnvTest, FullDiskIsNoSpaceAndLosesNothingSynced) {
  std::unique_ptr<rocksdb::DB> db = MustOpen();
  ASSERT_NE(db, nullptr);
  for (int i = 1; i <= 50; ++i) ASSERT_TRUE(Put(db.get(), i, i == 50).ok());
  fault_.SetSpaceLimit(DirBytes() + 4096);
  rocksdb::Status s;
  int i = 51;
  for (; i <= 2000 && s.ok(); ++i) s = Put(db.get(), i, true);
  ASSERT_FALSE(s.ok()) << "the disk never filled";
  EXPECT_TRUE(s.IsNoSpace()) << s.ToString();
  const int last_synced = i - 2;  // every Put before the failed one was synced

  fault_.ClearSpaceLimit();
  db.reset();
  ASSERT_TRUE(fault_.PowerLoss().ok());
  db = MustOpen();
  ASSERT_NE(db, nullptr);
  const int survivors = ExpectSurvivors(db.get(), last_synced, true);
  EXPECT_LE(survivors, last_synced + 1);  // the failed write may or may not be there
  EXPECT_TRUE(Put(db.get(), survivors + 1, true).ok());
}

TEST_F(RocksDbEnvTest, SymlinkInPlaceOfCurrentIsRefused) {
  {
    std::unique_ptr<rocksdb::DB> db = MustOpen();
    ASSERT_NE(db, nullptr);
    ASSERT_TRUE(Put(db.get(), 1, true).ok());
    ASSERT_TRUE(db->Close().ok());
  }
  // A link to an exact copy: following it would open the DB, so an error
  // can only mean the link was refused.
  const std::string elsewhere = temp_.path() + "/CURRENT.elsewhere";
  std::filesystem::copy_file(dir_ + "/CURRENT", elsewhere);
  std::filesystem::remove(dir_ + "/CURRENT");
  std::filesystem::create_symlink(elsewhere, dir_ + "/CURRENT");

  std::unique_ptr<rocksdb::DB> db;
  rocksdb::Status s = Open(&db);
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.ToString().find("symbolic link"), std::string::npos) << s.ToString();
  EXPECT_TRUE(std::filesystem::is_symlink(dir_ + "/CURRENT"));
}

TEST_F(RocksDbEnvTest, SecondOpenFailsOnTheLock) {
  std::unique_ptr<rocksdb::DB> first = MustOpen();
  ASSERT_NE(first, nullptr);
  std::unique_ptr<rocksdb::DB> second;
  rocksdb::Status s = Open(&second);
  EXPECT_FALSE(s.ok());
  EXPECT_TRUE(s.IsIOError()) << s.ToString();
  EXPECT_NE(s.ToString().find("locked by pid"), std::string::npos) << s.ToString();

  first.reset();  // releases the lock
  EXPECT_NE(MustOpen(), nullptr);
}

// RocksDB's expectations of a file system, which quipu's Env differs from.
TEST_F(RocksDbEnvTest, NewWritableFileReplacesAnExistingFile) {
  std::filesystem::create_directory(dir_);
  const std::string path = dir_ + "/f";
  std::ofstream(path) << "old content";
  const auto fs = rocks_env_->GetFileSystem();
  std::unique_ptr<rocksdb::FSWritableFile> file;
  ASSERT_TRUE(fs->NewWritableFile(path, rocksdb::FileOptions(), &file, nullptr).ok());
  ASSERT_TRUE(file->Append("new", rocksdb::IOOptions(), nullptr).ok());
  ASSERT_TRUE(file->Close(rocksdb::IOOptions(), nullptr).ok());
  std::ifstream in(path);
  EXPECT_EQ(std::string(std::istreambuf_iterator<char>(in), {}), "new");
}

TEST_F(RocksDbEnvTest, ReopenWritableFileCreatesAMissingFile) {
  std::filesystem::create_directory(dir_);
  const auto fs = rocks_env_->GetFileSystem();
  std::unique_ptr<rocksdb::FSWritableFile> file;
  rocksdb::IOStatus s = fs->ReopenWritableFile(dir_ + "/g", rocksdb::FileOptions(), &file, nullptr);
  ASSERT_TRUE(s.ok()) << s.ToString();
  ASSERT_TRUE(file->Append("x", rocksdb::IOOptions(), nullptr).ok());
  EXPECT_EQ(file->GetFileSize(rocksdb::IOOptions(), nullptr), 1u);
}

TEST_F(RocksDbEnvTest, StatusesKeepTheirMeaning) {
  rocksdb::IOStatus full = ToRocksIOStatus(Status::NoSpace("write f: No space left on device"));
  EXPECT_TRUE(full.IsNoSpace());
  EXPECT_TRUE(full.GetRetryable());
  EXPECT_NE(full.ToString().find("write f: No space left"), std::string::npos);
  EXPECT_TRUE(ToRocksIOStatus(Status::IOError("open f: gone", ENOENT)).IsPathNotFound());
  EXPECT_TRUE(ToRocksIOStatus(Status::IOError("fdatasync f", EIO)).IsIOError());
  EXPECT_TRUE(ToRocksIOStatus(Status::Busy("LOCK is locked by pid 7")).IsIOError());
  EXPECT_TRUE(ToRocksIOStatus(Status::Corruption("bad")).IsCorruption());
  EXPECT_TRUE(ToRocksIOStatus(Status::OK()).ok());
}

}  // namespace
}  // namespace quipu
