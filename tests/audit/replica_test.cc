// AuditStore::AppendReplicated: a replica appends its writer's records byte
// for byte and ends with the same leaves, roots, rows and idempotency
// window; records that do not decode, or that act beyond the log, are
// refused before anything is written; and a replica whose tail its group
// never committed cuts it (LogOptions::discard_after) and takes the
// group's records in its place.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "audit_test_util.h"
#include "quipu/audit.h"
#include "quipu/reader.h"
#include "test_dir.h"

namespace quipu::testing {
namespace {

std::unique_ptr<AuditStore> MustOpen(const std::string& dir, AuditOptions options = {}) {
  auto store = AuditStore::Open(dir, options);
  EXPECT_TRUE(store.ok()) << store.status().ToString();
  return store.ok() ? std::move(*store) : nullptr;
}

merkle::Hash RootOf(AuditStore& store) {
  EXPECT_TRUE(store.log()->tree()->CatchUp().ok());
  auto root = store.log()->tree()->Root();
  EXPECT_TRUE(root.ok()) << root.status().ToString();
  return root.ok() ? *root : merkle::Hash{};
}

Event Keyed(int i) {
  Event e = MakeEvent(Actor("root", "Root"), "update", {User("u" + std::to_string(i % 7), "n")},
                      1'000'000 + i);
  e.idempotency_key = "key-" + std::to_string(i);
  return e;
}

class ReplicaTest : public ::testing::Test {
 protected:
  // The writer: a type, a column and `events` keyed events.
  void FillWriter(int events) {
    writer_ = MustOpen(writer_dir_.log());
    ASSERT_NE(writer_, nullptr);
    ASSERT_TRUE(writer_->DefineType(UserType()).ok());
    ASSERT_TRUE(writer_->RegisterColumn(ColumnSpec{"tenant", FieldKind::kText}).ok());
    for (int i = 0; i < events; ++i) ASSERT_TRUE(writer_->Emit(Keyed(i)).ok());
  }

  // Copies the writer's records the replica lacks, `chunk` at a time.
  void CopyToReplica(size_t chunk) {
    const Lsn last = writer_->log()->LastLsn();
    while (replica_->log()->LastLsn() < last) {
      const Lsn first = replica_->log()->LastLsn() + 1;
      const Lsn to = std::min<Lsn>(last, first + chunk - 1);
      auto appended = replica_->AppendReplicated(first, RecordsOf(*writer_, first, to));
      ASSERT_TRUE(appended.ok()) << appended.status().ToString();
      ASSERT_EQ(*appended, to);
    }
  }

  TestDir writer_dir_, replica_dir_;
  std::unique_ptr<AuditStore> writer_, replica_;
};

TEST_F(ReplicaTest, AReplicaHoldsTheWritersLeavesRowsAndKeys) {
  FillWriter(300);
  replica_ = MustOpen(replica_dir_.log());
  ASSERT_NE(replica_, nullptr);
  CopyToReplica(64);
  EXPECT_EQ(RootOf(*replica_), RootOf(*writer_));
  EXPECT_EQ(replica_->LastLogId(), writer_->LastLogId());
  EXPECT_EQ(replica_->Types().size(), writer_->Types().size());
  Query q;
  q.limit = 1000;
  EXPECT_EQ(AllPages(*replica_, q), AllPages(*writer_, q));
  auto history = replica_->EntityHistory("user", "u3");
  ASSERT_TRUE(history.ok()) << history.status().ToString();
  EXPECT_EQ(history->size(), writer_->EntityHistory("user", "u3")->size());
  // The replica answers a retry as its writer would: it is the same event.
  auto retry = replica_->Emit(Keyed(17));
  ASSERT_TRUE(retry.ok()) << retry.status().ToString();
  EXPECT_TRUE(retry->duplicate);
  auto original = writer_->Emit(Keyed(17));
  ASSERT_TRUE(original.ok());
  EXPECT_EQ(retry->log_id, original->log_id);
  // Reopened, it is an ordinary store with the same history.
  const merkle::Hash root = RootOf(*replica_);
  ASSERT_TRUE(replica_->Close().ok());
  replica_ = MustOpen(replica_dir_.log());
  ASSERT_NE(replica_, nullptr);
  EXPECT_EQ(replica_->index_report().action, IndexReport::Action::kNone);
  EXPECT_EQ(RootOf(*replica_), root);
  // And it can become the writer: its next event follows the copied ones.
  auto next = replica_->Emit(Keyed(1000));
  ASSERT_TRUE(next.ok()) << next.status().ToString();
  EXPECT_EQ(next->log_id, writer_->LastLogId() + 1);
}

TEST_F(ReplicaTest, RecordsAreRefusedBeforeAnyIsWritten) {
  FillWriter(5);
  replica_ = MustOpen(replica_dir_.log());
  ASSERT_NE(replica_, nullptr);
  std::vector<std::string> records = RecordsOf(*writer_, 1, writer_->log()->LastLsn());
  // Not at the replica's next LSN.
  auto gap = replica_->AppendReplicated(2, records);
  EXPECT_EQ(gap.status().code(), Status::Code::kInvalidArgument);
  EXPECT_NE(gap.status().ToString().find("next LSN is 1"), std::string::npos);
  // One record that does not decode refuses the lot.
  std::vector<std::string> damaged = records;
  damaged[3].resize(damaged[3].size() - 1);
  auto bad = replica_->AppendReplicated(1, damaged);
  EXPECT_EQ(bad.status().code(), Status::Code::kCorruption);
  EXPECT_NE(bad.status().ToString().find("LSN 4"), std::string::npos) << bad.status().ToString();
  EXPECT_EQ(replica_->log()->LastLsn(), 0u);
  // A purge record acts beyond the log.
  std::vector<std::string> purge = {std::string("\x04\x05", 2) + std::string(64, '\0')};
  EXPECT_EQ(replica_->AppendReplicated(1, purge).status().code(), Status::Code::kNotSupported);
  EXPECT_EQ(replica_->log()->LastLsn(), 0u);
  // The good records still go in afterwards.
  auto good = replica_->AppendReplicated(1, records, Durability::kImmediate);
  ASSERT_TRUE(good.ok()) << good.status().ToString();
  EXPECT_EQ(replica_->DurableLsn(), *good);
}

TEST_F(ReplicaTest, AnUncommittedTailIsCutAndTheGroupsRecordsTakeItsPlace) {
  FillWriter(40);
  const Lsn committed = writer_->log()->LastLsn();
  // The old writer went on alone: records its group never committed.
  auto old = MustOpen(replica_dir_.log());
  ASSERT_NE(old, nullptr);
  ASSERT_TRUE(old->AppendReplicated(1, RecordsOf(*writer_, 1, committed)).ok());
  for (int i = 0; i < 25; ++i) ASSERT_TRUE(old->Emit(Keyed(5000 + i)).ok());
  ASSERT_TRUE(old->Close().ok());
  // Meanwhile the group committed other records after `committed`.
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(writer_->Emit(Keyed(40 + i)).ok());
  AuditOptions options;
  options.log.discard_after = committed;
  replica_ = MustOpen(replica_dir_.log(), options);
  ASSERT_NE(replica_, nullptr);
  EXPECT_EQ(replica_->log()->LastLsn(), committed);
  EXPECT_EQ(replica_->log()->Recovery().discarded_records, 25u);
  EXPECT_EQ(replica_->index_report().action, IndexReport::Action::kRepaired);
  // The discarded keys are gone from the window: the retry is new there.
  EXPECT_EQ(replica_->LastLogId(), 40u);
  CopyToReplica(4);
  EXPECT_EQ(RootOf(*replica_), RootOf(*writer_));
  Query q;
  q.limit = 1000;
  EXPECT_EQ(AllPages(*replica_, q), AllPages(*writer_, q));
  auto retry = replica_->Emit(Keyed(5003));
  ASSERT_TRUE(retry.ok()) << retry.status().ToString();
  EXPECT_FALSE(retry->duplicate);
}

}  // namespace
}  // namespace quipu::testing
