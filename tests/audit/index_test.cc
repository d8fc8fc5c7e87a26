// The derived index: what Open does when the index is up to date, missing,
// damaged, behind the log, ahead of it, or from another log — and that in
// every case the store then answers exactly as one rebuilt from its log.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "audit_test_util.h"
#include "quipu/audit.h"
#include "store_dump.h"
#include "test_dir.h"

namespace quipu::testing {
namespace {

namespace fs = std::filesystem;
using Action = IndexReport::Action;

class IndexTest : public ::testing::Test {
 protected:
  std::unique_ptr<AuditStore> Open(const std::string& dir, bool rebuild = false) {
    AuditOptions options;
    options.log.create_if_missing = true;
    options.log.durability = DurabilityPolicy::OsManaged();
    options.rebuild_index = rebuild;
    auto store = AuditStore::Open(dir, options);
    EXPECT_TRUE(store.ok()) << store.status().ToString();
    return store.ok() ? std::move(*store) : nullptr;
  }

  // Writes events [from, to): users renamed now and then, keyed events,
  // a column, so that every kind of index entry exists.
  void Write(const std::string& dir, int from, int to) {
    auto store = Open(dir);
    ASSERT_NE(store, nullptr);
    ASSERT_TRUE(store->DefineType(UserType()).ok());
    ASSERT_TRUE(store->RegisterColumn(ColumnSpec{"tenant", FieldKind::kText}).ok());
    for (int i = from; i < to; ++i) {
      Event e = MakeEvent(Actor("a" + std::to_string(i % 3), "Actor " + std::to_string(i % 2)),
                          "m" + std::to_string(i % 4),
                          {User("u" + std::to_string(i % 5), "Name " + std::to_string(i % 7))},
                          1'700'000'000'000'000 + (i % 6) * 1000);
      e.columns["tenant"] = Value::Text(i % 2 ? "t1" : "t2");
      if (i % 3 == 0) e.idempotency_key = "key-" + std::to_string(i);
      ASSERT_TRUE(store->Emit(e).ok());
    }
    ASSERT_TRUE(store->Close().ok());
  }

  // The dump of an open store, which is then closed (a store directory is
  // copied only while no process has it open).
  static std::string DumpAndClose(std::unique_ptr<AuditStore>& store) {
    std::string dump = DumpStore(*store);
    EXPECT_TRUE(store->Close().ok());
    store.reset();
    return dump;
  }

  // Expects the open `store` to answer as one rebuilt from the log at `dir`
  // does. Closes it first: a store is copied only while nothing has it open.
  void ExpectAsRebuilt(std::unique_ptr<AuditStore>& store, const std::string& dir) {
    const std::string reopened = DumpAndClose(store);
    EXPECT_EQ(reopened, Rebuilt(dir));
  }

  // The dump of the store at `dir` once rebuilt from its log (on a copy).
  std::string Rebuilt(const std::string& dir) {
    const std::string copy = dir + "-rebuilt";
    fs::remove_all(copy);
    fs::copy(dir, copy, fs::copy_options::recursive);
    auto store = Open(copy, /*rebuild=*/true);
    EXPECT_EQ(store->index_report().action, Action::kRebuilt);
    std::string dump = DumpStore(*store);
    EXPECT_TRUE(store->Close().ok());
    fs::remove_all(copy);
    return dump;
  }

  TestDir tmp_;
  std::string dir_ = tmp_.path() + "/store";
};

TEST_F(IndexTest, AReopenAfterACleanCloseAppliesNothing) {
  Write(dir_, 0, 40);
  auto store = Open(dir_);
  EXPECT_EQ(store->index_report().action, Action::kNone);
  EXPECT_EQ(store->index_report().records_applied, 0u);
  EXPECT_EQ(store->LastLogId(), 40u);
  ExpectAsRebuilt(store, dir_);
}

TEST_F(IndexTest, AMissingIndexIsRebuiltAndSaysSo) {
  Write(dir_, 0, 40);
  fs::remove_all(dir_ + "/index");
  auto store = Open(dir_);
  EXPECT_EQ(store->index_report().action, Action::kRebuilt);
  EXPECT_EQ(store->index_report().reason, "missing");
  EXPECT_EQ(store->index_report().records_applied, 42u);  // 40 events, a type, a column
  ExpectAsRebuilt(store, dir_);
}

TEST_F(IndexTest, ADamagedIndexIsRebuilt) {
  Write(dir_, 0, 40);
  // Every table file and the manifest garbled: RocksDB reports corruption.
  for (const auto& entry : fs::directory_iterator(dir_ + "/index")) {
    const std::string name = entry.path().filename();
    if (name.ends_with(".sst") || name.starts_with("MANIFEST")) {
      std::ofstream(entry.path(), std::ios::binary | std::ios::trunc) << "garbage, not a table";
    }
  }
  auto store = Open(dir_);
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(store->index_report().action, Action::kRebuilt);
  EXPECT_NE(store->index_report().reason.find("damaged"), std::string::npos)
      << store->index_report().reason;
  EXPECT_EQ(store->LastLogId(), 40u);
  ExpectAsRebuilt(store, dir_);
}

TEST_F(IndexTest, AnIndexBehindTheLogCatchesUpWithWhatItLacks) {
  Write(dir_, 0, 30);
  const std::string old_index = tmp_.path() + "/old-index";
  fs::copy(dir_ + "/index", old_index, fs::copy_options::recursive);
  Write(dir_, 30, 50);
  fs::remove_all(dir_ + "/index");
  fs::copy(old_index, dir_ + "/index", fs::copy_options::recursive);
  auto store = Open(dir_);
  EXPECT_EQ(store->index_report().action, Action::kCaughtUp);
  EXPECT_EQ(store->index_report().records_applied, 20u);
  EXPECT_EQ(store->LastLogId(), 50u);
  ExpectAsRebuilt(store, dir_);
}

TEST_F(IndexTest, AnIndexAheadOfTheLogTakesBackWhatTheLogLost) {
  Write(dir_, 0, 30);
  const std::string short_log = tmp_.path() + "/short";
  fs::copy(dir_, short_log, fs::copy_options::recursive);
  Write(dir_, 30, 50);
  // The short store gets the longer store's index: as after a power cut
  // that kept the index's writes but not the log's.
  fs::remove_all(short_log + "/index");
  fs::copy(dir_ + "/index", short_log + "/index", fs::copy_options::recursive);
  {
    auto store = Open(short_log);
    EXPECT_EQ(store->index_report().action, Action::kRepaired);
    EXPECT_EQ(store->index_report().records_undone, 20u);
    EXPECT_EQ(store->LastLogId(), 30u);
    ExpectAsRebuilt(store, short_log);
  }
  {
    // It goes on from there: the next event is row 31, and keys of the
    // lost events are free again.
    auto store = Open(short_log);
    EXPECT_EQ(store->index_report().action, Action::kNone);
    Event e = MakeEvent(Actor("a1"), "again", {User("u1", "Other")});
    e.idempotency_key = "key-33";
    auto r = store->Emit(e);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_EQ(r->log_id, 31u);
    EXPECT_FALSE(r->duplicate);
    ASSERT_TRUE(store->Close().ok());
  }
  auto store = Open(short_log);
  EXPECT_EQ(store->index_report().action, Action::kNone);
  ExpectAsRebuilt(store, short_log);
}

TEST_F(IndexTest, AnIndexOfAnotherLogIsRebuilt) {
  Write(dir_, 0, 30);
  // Other events at the same LSNs: an index that has seen fewer records
  // than the log, and one that has seen more.
  for (int other_end : {110, 140}) {
    const std::string other = tmp_.path() + "/other" + std::to_string(other_end);
    Write(other, 100, other_end);
    fs::remove_all(dir_ + "/index");
    fs::copy(other + "/index", dir_ + "/index", fs::copy_options::recursive);
    auto store = Open(dir_);
    EXPECT_EQ(store->index_report().action, Action::kRebuilt);
    EXPECT_NE(store->index_report().reason.find("does not match"), std::string::npos)
        << store->index_report().reason;
    EXPECT_EQ(store->LastLogId(), 30u);
    ExpectAsRebuilt(store, dir_);
  }
}

TEST_F(IndexTest, ReadOnlyOpenWithoutAnIndexSaysHowToBuildOne) {
  Write(dir_, 0, 5);
  fs::remove_all(dir_ + "/index");
  AuditOptions options;
  options.read_only = true;
  auto store = AuditStore::Open(dir_, options);
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.status().code(), Status::Code::kFailedPrecondition);
  EXPECT_NE(store.status().message().find("quipu reindex"), std::string::npos);
}

TEST_F(IndexTest, ProgressIsReportedWhileRebuilding) {
  Write(dir_, 0, 20);
  AuditOptions options;
  options.rebuild_index = true;
  Lsn last_seen = 0;
  options.on_index_progress = [&](Lsn applied, Lsn last) {
    EXPECT_LE(applied, last);
    last_seen = applied;
  };
  auto store = AuditStore::Open(dir_, options);
  ASSERT_TRUE(store.ok());
  EXPECT_EQ(last_seen, 22u);
}

TEST_F(IndexTest, EntitiesPageInOrderOfCreation) {
  Write(dir_, 0, 20);
  auto store = Open(dir_);
  std::vector<std::string> ids;
  std::string cursor;
  int pages = 0;
  do {
    auto page = store->ListEntities("user", 2, cursor);
    ASSERT_TRUE(page.ok()) << page.status().ToString();
    for (const EntityVersion& v : page->entities) ids.push_back(v.id);
    cursor = page->next_cursor;
    ++pages;
  } while (!cursor.empty());
  EXPECT_EQ(ids, (std::vector<std::string>{"u0", "u1", "u2", "u3", "u4"}));
  EXPECT_EQ(pages, 3);
  EXPECT_EQ(store->ListEntities("user", 0, "").status().code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(store->ListEntities("user", 2, "nonsense").status().code(),
            Status::Code::kInvalidArgument);
}

TEST_F(IndexTest, CountAgreesWithThePages) {
  Write(dir_, 0, 60);
  auto store = Open(dir_);
  std::vector<Query> queries(5);
  queries[1].targets.push_back(EntityFilter{"user", "id", MatchOp::kExact, "u3"});
  queries[2].targets.push_back(EntityFilter{"user", "name", MatchOp::kPrefix, "Name"});
  queries[2].method = "m1";
  queries[3].since_micros = 1'700'000'000'002'000;
  queries[3].until_micros = 1'700'000'000'004'000;
  queries[4].actor = EntityFilter{"default_actor", "name", MatchOp::kExactCi, "actor 1"};
  queries[4].columns["tenant"] = Value::Text("t1");
  for (const Query& q : queries) {
    auto count = store->Count(q);
    ASSERT_TRUE(count.ok()) << count.status().ToString();
    EXPECT_EQ(*count, AllPages(*store, q).size());
  }
}

}  // namespace
}  // namespace quipu::testing
