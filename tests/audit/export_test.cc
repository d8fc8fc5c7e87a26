// AuditStore::Export and AuditRecordReader: records in log order, filters,
// the bound, and a reader that says what the store says from the bytes alone.
#include <gtest/gtest.h>

#include <vector>

#include "audit_test_util.h"
#include "quipu/audit.h"
#include "quipu/audit_records.h"
#include "test_dir.h"

namespace quipu::testing {
namespace {

using Kind = ExportedRecord::Kind;

class ExportTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto s = AuditStore::Open(dir_.log(), AuditOptions());
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    store_ = std::move(*s);
  }
  void TearDown() override {
    if (store_) EXPECT_TRUE(store_->Close().ok());
  }

  // A type, a column, events, an evolution of the type, more events:
  // LSN 1 user, 2 tenant, 3..5 events, 6 user again, 7 an event.
  void Fill() {
    ASSERT_TRUE(store_->DefineType(UserType()).ok());
    ASSERT_TRUE(store_->RegisterColumn(ColumnSpec{"tenant", FieldKind::kText}).ok());
    for (int i = 1; i <= 3; ++i) {
      Event e = MakeEvent(Actor("root"), "m" + std::to_string(i),
                          {User("u" + std::to_string(i % 2), "name" + std::to_string(i))},
                          int64_t{1000} * i);
      e.columns["tenant"] = Value::Text(i % 2 ? "acme" : "other");
      ASSERT_TRUE(store_->Emit(e).ok());
    }
    TypeSchema evolved = UserType();
    evolved.fields.push_back(FieldSpec{"team", FieldKind::kText, false, false});
    ASSERT_TRUE(store_->DefineType(evolved).ok());
    EntityInput u1 = User("u1", "name3");
    u1.fields["team"] = Value::Text("blue");
    ASSERT_TRUE(store_->Emit(MakeEvent(Actor("root"), "m4", {u1}, 4000)).ok());
  }

  std::vector<ExportedRecord> ExportAll(const Query& filter, Lsn last = 0) {
    std::vector<ExportedRecord> out;
    Status s = store_->Export(filter, last, [&](const ExportedRecord& r) {
      out.push_back(r);
      return Status::OK();
    });
    EXPECT_TRUE(s.ok()) << s.ToString();
    return out;
  }

  static std::vector<Lsn> Lsns(const std::vector<ExportedRecord>& records) {
    std::vector<Lsn> lsns;
    for (const ExportedRecord& r : records) lsns.push_back(r.lsn);
    return lsns;
  }

  TestDir dir_;
  std::unique_ptr<AuditStore> store_;
};

TEST_F(ExportTest, EveryRecordInLogOrderWithItsBytes) {
  Fill();
  auto applied = store_->AppliedLsn();
  ASSERT_TRUE(applied.ok());
  EXPECT_EQ(*applied, 7u);
  auto records = ExportAll(Query());
  EXPECT_EQ(Lsns(records), (std::vector<Lsn>{1, 2, 3, 4, 5, 6, 7}));
  EXPECT_EQ(records[0].kind, Kind::kType);
  EXPECT_EQ(records[0].type.fields.size(), 4u);
  EXPECT_EQ(records[1].kind, Kind::kColumn);
  EXPECT_EQ(records[1].column.name, "tenant");
  EXPECT_EQ(records[5].kind, Kind::kType);
  EXPECT_EQ(records[5].type.fields.size(), 5u);
  ASSERT_EQ(records[6].kind, Kind::kEvent);
  EXPECT_EQ(records[6].event.log_id, 4u);
  EXPECT_EQ(records[6].event.targets.at(0).version, 3u);  // u1: m1, m3, m4
  EXPECT_EQ(records[6].event.targets.at(0).fields.at("team").text, "blue");

  // The bytes are the log's: the leaves of the tree.
  ASSERT_TRUE(store_->log()->tree()->CatchUp().ok());
  for (const ExportedRecord& r : records) {
    auto proof = store_->log()->tree()->ProveInclusion(r.lsn);
    ASSERT_TRUE(proof.ok()) << proof.status().ToString();
    EXPECT_EQ(proof->leaf_hash, merkle::LeafHash(r.record)) << "LSN " << r.lsn;
  }
}

TEST_F(ExportTest, FiltersPickEventsButEveryCatalogRecordStays) {
  Fill();
  Query by_tenant;
  by_tenant.columns["tenant"] = Value::Text("acme");
  EXPECT_EQ(Lsns(ExportAll(by_tenant)), (std::vector<Lsn>{1, 2, 3, 5, 6}));

  Query by_user;  // the driver filter of a query is checked row by row here
  by_user.targets.push_back(EntityFilter{"user", "id", MatchOp::kExact, "u1"});
  EXPECT_EQ(Lsns(ExportAll(by_user)), (std::vector<Lsn>{1, 2, 3, 5, 6, 7}));

  Query window;
  window.since_micros = 2000;
  window.until_micros = 4000;
  EXPECT_EQ(Lsns(ExportAll(window)), (std::vector<Lsn>{1, 2, 4, 5, 6}));

  Query unknown;
  unknown.targets.push_back(EntityFilter{"nobody", "id", MatchOp::kExact, "x"});
  Status s = store_->Export(unknown, 0, [](const ExportedRecord&) { return Status::OK(); });
  EXPECT_EQ(s.code(), Status::Code::kInvalidArgument) << s.ToString();
}

TEST_F(ExportTest, StopsAtTheBoundAndAtTheSinksError) {
  Fill();
  EXPECT_EQ(Lsns(ExportAll(Query(), 4)), (std::vector<Lsn>{1, 2, 3, 4}));
  int seen = 0;
  Status s = store_->Export(Query(), 0, [&](const ExportedRecord&) {
    return ++seen == 3 ? Status::IOError("reader went away") : Status::OK();
  });
  EXPECT_EQ(s.code(), Status::Code::kIOError);
  EXPECT_EQ(seen, 3);
}

TEST_F(ExportTest, TheReaderSaysWhatTheStoreSaysFromTheBytesAlone) {
  Fill();
  AuditRecordReader reader;
  for (const ExportedRecord& r : ExportAll(Query())) {
    auto read = reader.Read(r.record, r.lsn);
    ASSERT_TRUE(read.ok()) << read.status().ToString();
    ASSERT_EQ(read->kind, r.kind);
    if (r.kind == Kind::kType) EXPECT_EQ(read->type.fields.size(), r.type.fields.size());
    if (r.kind == Kind::kColumn) EXPECT_EQ(read->column.name, r.column.name);
    if (r.kind != Kind::kEvent) continue;
    EXPECT_EQ(read->event.log_id, r.event.log_id);
    EXPECT_EQ(read->event.timestamp_micros, r.event.timestamp_micros);
    EXPECT_EQ(read->event.method, r.event.method);
    EXPECT_EQ(read->event.columns, r.event.columns);
    EXPECT_EQ(read->event.actor.type, r.event.actor.type);
    EXPECT_EQ(read->event.actor.version, r.event.actor.version);
    ASSERT_EQ(read->written.size(), r.written.size());
    for (size_t i = 0; i < r.written.size(); ++i) {
      EXPECT_EQ(read->written[i].id, r.written[i].id);
      EXPECT_EQ(read->written[i].version, r.written[i].version);
      EXPECT_EQ(read->written[i].fields, r.written[i].fields);
    }
    ASSERT_EQ(read->event.targets.size(), r.event.targets.size());
    for (size_t i = 0; i < r.event.targets.size(); ++i) {
      const EntityVersion& t = read->event.targets[i];
      EXPECT_EQ(t.version, r.event.targets[i].version);
      // The fields of a pin come with it only where this event wrote them.
      bool wrote = false;
      for (const EntityVersion& w : r.written) wrote |= w.id == t.id && w.version == t.version;
      EXPECT_EQ(t.fields, wrote ? r.event.targets[i].fields : Fields());
    }
  }
}

TEST_F(ExportTest, TheReaderRefusesAnEventWhoseTypeItHasNotSeen) {
  Fill();
  auto records = ExportAll(Query());
  AuditRecordReader reader;
  auto read = reader.Read(records[2].record, records[2].lsn);  // before LSN 1's type
  EXPECT_EQ(read.status().code(), Status::Code::kCorruption) << read.status().ToString();
  EXPECT_NE(read.status().ToString().find("LSN 3"), std::string::npos);
  std::string damaged = records[0].record;
  damaged.resize(damaged.size() - 1);
  EXPECT_EQ(AuditRecordReader().Read(damaged, 1).status().code(), Status::Code::kCorruption);
}

}  // namespace
}  // namespace quipu::testing
