// AuditStore::Retain: what a purge drops and keeps, that the derived index
// rebuilt from the retained log is the index the purge left, and that the
// tree, proofs and verification keep working across purges.
#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "audit_test_util.h"
#include "quipu/audit.h"
#include "quipu/checkpoint.h"
#include "quipu/inspect.h"
#include "quipu/merkle.h"
#include "quipu/tree.h"
#include "store_dump.h"
#include "test_dir.h"

namespace quipu::testing {
namespace {

constexpr int64_t kDay = int64_t{86'400'000'000};

class RetentionTest : public ::testing::Test {
 protected:
  AuditOptions Options() const {
    AuditOptions options;
    options.log.segment_size = 16 << 10;
    options.log.max_record_size = 8 << 10;
    options.log.durability = DurabilityPolicy::OsManaged();
    return options;
  }

  void Open(AuditOptions options) {
    store_.reset();
    auto s = AuditStore::Open(dir_.log(), options);
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    store_ = std::move(*s);
  }
  void Open() { Open(Options()); }

  void Close() {
    ASSERT_TRUE(store_->Close().ok());
    store_.reset();
  }

  // Events on a few users, each renamed now and then, with idempotency
  // keys, timestamps `day` days after the epoch.
  void Emit(int from, int count, int64_t day) {
    for (int i = from; i < from + count; ++i) {
      Event e = MakeEvent(Actor("admin" + std::to_string(i % 3)), "m" + std::to_string(i % 7),
                          {User("u" + std::to_string(i % 10), "name" + std::to_string(i / 10))},
                          day * kDay + i);
      e.idempotency_key = "key-" + std::to_string(i);
      e.content = Value::Text(std::string(200, 'x'));
      auto r = store_->Emit(e);
      ASSERT_TRUE(r.ok()) << r.status().ToString();
    }
  }

  void Fill() {
    ASSERT_TRUE(store_->DefineType(UserType()).ok());
    ASSERT_TRUE(store_->RegisterColumn(ColumnSpec{"tenant", FieldKind::kText}).ok());
    Emit(0, 300, 1);
    ASSERT_TRUE(store_->log()->Sync().ok());
  }

  RetainReport Retain(const RetentionPolicy& policy, bool dry_run = false) {
    auto r = store_->Retain(policy, dry_run);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? *r : RetainReport{};
  }

  static RetentionPolicy Bytes(uint64_t max) {
    RetentionPolicy p;
    p.max_bytes = max;
    return p;
  }

  std::string Rebuilt() {
    AuditOptions options = Options();
    options.rebuild_index = true;
    Open(options);
    EXPECT_EQ(store_->index_report().action, IndexReport::Action::kRebuilt);
    return DumpStore(*store_);
  }

  TestDir dir_;
  std::unique_ptr<AuditStore> store_;
};

TEST_F(RetentionTest, DropsWholeSegmentsAndTheRowsInThem) {
  Open();
  Fill();
  const Lsn last = store_->log()->LastLsn();
  const RetainReport dry = Retain(Bytes(40 << 10), /*dry_run=*/true);
  EXPECT_FALSE(dry.purged);
  EXPECT_GT(dry.first_kept, 1u);
  EXPECT_EQ(store_->log()->FirstLsn(), 1u) << "a dry run changes nothing";

  const RetainReport r = Retain(Bytes(40 << 10));
  ASSERT_TRUE(r.purged);
  EXPECT_EQ(r.first_kept, dry.first_kept);
  EXPECT_EQ(r.segments, dry.segments);
  EXPECT_EQ(r.rows, dry.rows);
  EXPECT_GT(r.purge_lsn, last);
  EXPECT_GE(r.carry_records, 1u);
  EXPECT_EQ(store_->log()->FirstLsn(), r.first_kept);
  EXPECT_EQ(store_->PurgedLogIds(), r.last_log_id);
  EXPECT_GT(r.last_log_id, 10u);

  auto gone = store_->GetRow(r.last_log_id);
  ASSERT_FALSE(gone.ok());
  EXPECT_NE(gone.status().message().find("purged"), std::string::npos) << gone.status().ToString();
  EXPECT_FALSE(store_->LsnOfLogId(1).ok());
  auto kept = store_->GetRow(r.last_log_id + 1);
  ASSERT_TRUE(kept.ok()) << kept.status().ToString();
  EXPECT_GE(kept->lsn, r.first_kept);

  // Queries see only retained rows; every one of them.
  Query all;
  all.order = Order::kOldestFirst;
  const std::vector<uint64_t> ids = AllPages(*store_, all);
  ASSERT_FALSE(ids.empty());
  EXPECT_EQ(ids.front(), r.last_log_id + 1);
  EXPECT_EQ(ids.back(), 300u);
  EXPECT_EQ(ids.size(), 300 - r.last_log_id);
  auto count = store_->Count(all);
  ASSERT_TRUE(count.ok());
  EXPECT_EQ(*count, ids.size());

  // Every entity is still known, from the version current at the cut.
  auto users = store_->ListEntities("user");
  ASSERT_TRUE(users.ok());
  EXPECT_EQ(users->size(), 10u);
  auto history = store_->EntityHistory("user", "u0");
  ASSERT_TRUE(history.ok());
  EXPECT_GT(history->front().version, 1u) << "versions superseded before the cut are gone";
  EXPECT_EQ(history->back().fields.at("name").text, "name29");

  // A name only superseded versions held matches no more; a retained one
  // does (every user is named name29 last, and every row names a user).
  Query by_name;
  by_name.targets.push_back(EntityFilter{"user", "name", MatchOp::kExact, "name0"});
  EXPECT_TRUE(AllPages(*store_, by_name).empty());
  by_name.targets[0].value = "name29";
  EXPECT_EQ(AllPages(*store_, by_name).size(), ids.size());

  // Writing goes on where it was.
  Emit(300, 5, 2);
  EXPECT_EQ(store_->LastLogId(), 305u);
}

TEST_F(RetentionTest, RebuiltIndexIsTheIndexThePurgeLeft) {
  Open();
  Fill();
  ASSERT_TRUE(Retain(Bytes(40 << 10)).purged);
  Emit(300, 40, 2);
  const std::string after = DumpStore(*store_);
  Close();
  Open();
  EXPECT_EQ(DumpStore(*store_), after) << "reopened";
  Close();
  EXPECT_EQ(Rebuilt(), after);
  Close();
  // The index gone altogether: built from the retained log.
  std::filesystem::remove_all(dir_.log() + "/index");
  Open();
  EXPECT_EQ(DumpStore(*store_), after);
}

// An index restored from a backup: one that had applied every purged
// record catches up (applying the purge); one that had not is rebuilt.
TEST_F(RetentionTest, AnIndexFromBeforeThePurgeCatchesUpOrIsRebuilt) {
  Open();
  ASSERT_TRUE(store_->DefineType(UserType()).ok());
  Emit(0, 20, 1);
  Close();
  const std::string index = dir_.log() + "/index";
  const std::string early = dir_.path() + "/index-early";
  std::filesystem::copy(index, early, std::filesystem::copy_options::recursive);
  Open();
  Emit(20, 280, 1);
  Close();
  const std::string late = dir_.path() + "/index-late";
  std::filesystem::copy(index, late, std::filesystem::copy_options::recursive);
  Open();
  const RetainReport r = Retain(Bytes(40 << 10));
  ASSERT_TRUE(r.purged);
  ASSERT_GT(r.first_kept, 22u) << "the early index lacks purged records";
  Emit(300, 10, 2);
  const std::string after = DumpStore(*store_);
  Close();
  for (const auto& [saved, action] :
       {std::pair{late, IndexReport::Action::kCaughtUp}, {early, IndexReport::Action::kRebuilt}}) {
    SCOPED_TRACE(saved);
    std::filesystem::remove_all(index);
    std::filesystem::rename(saved, index);
    Open();
    EXPECT_EQ(store_->index_report().action, action) << store_->index_report().reason;
    EXPECT_EQ(DumpStore(*store_), after);
    Close();
  }
}

TEST_F(RetentionTest, SecondPurgeAndRebuildAfterIt) {
  Open();
  Fill();
  ASSERT_TRUE(Retain(Bytes(60 << 10)).purged);
  Emit(300, 200, 2);
  const RetainReport second = Retain(Bytes(40 << 10));
  ASSERT_TRUE(second.purged);
  EXPECT_GT(store_->PurgedLogIds(), 300u - 0u - 200u);
  Emit(500, 10, 3);
  const std::string after = DumpStore(*store_);
  Close();
  EXPECT_EQ(Rebuilt(), after);
}

TEST_F(RetentionTest, AgeDropsSegmentsWhoseNewestEventIsOlder) {
  Open();
  ASSERT_TRUE(store_->DefineType(UserType()).ok());
  Emit(0, 150, 1);      // day 1
  Emit(150, 150, 365);  // day 365
  ASSERT_TRUE(store_->log()->Sync().ok());
  RetentionPolicy policy;
  // Now is decades after both days: everything is older than a day...
  policy.max_age = std::chrono::hours(24);
  const RetainReport all_old = Retain(policy, /*dry_run=*/true);
  auto segments = store_->log()->Segments();
  ASSERT_TRUE(segments.ok());
  EXPECT_EQ(all_old.first_kept, segments->back().base_lsn) << "all but the active segment";
  // ...while an age bound reaching back between day 1 and day 365 keeps
  // every segment holding a day-365 event.
  const auto since_epoch = std::chrono::system_clock::now().time_since_epoch();
  policy.max_age = std::chrono::duration_cast<std::chrono::microseconds>(since_epoch) -
                   std::chrono::microseconds(100 * kDay);
  const RetainReport r = Retain(policy);
  ASSERT_TRUE(r.purged);
  EXPECT_LE(r.last_log_id, 150u);
  EXPECT_GT(r.last_log_id, 100u) << "the segments of day 1 went, but for the one shared";
  auto hit = store_->GetRow(151);
  EXPECT_TRUE(hit.ok()) << "no day-365 event was purged";
}

TEST_F(RetentionTest, NothingDueChangesNothing) {
  Open();
  Fill();
  const RetainReport r = Retain(Bytes(uint64_t{1} << 40));
  EXPECT_FALSE(r.purged);
  EXPECT_EQ(r.segments, 0u);
  EXPECT_EQ(store_->log()->FirstLsn(), 1u);
  EXPECT_FALSE(store_->Retain(RetentionPolicy{}).ok()) << "a policy without bounds";
}

TEST_F(RetentionTest, TreeProofsAndVerifyKeepWorking) {
  Open();
  Fill();
  LogTree* tree = store_->log()->tree();
  const uint64_t old_size = store_->log()->LastLsn();
  auto old_root = tree->Root(old_size);
  ASSERT_TRUE(old_root.ok());
  const RetainReport r = Retain(Bytes(40 << 10));
  ASSERT_TRUE(r.purged);
  auto root = tree->Root(old_size);
  ASSERT_TRUE(root.ok());
  EXPECT_EQ(*root, *old_root) << "the root of a size before the purge is unchanged";
  auto now_root = tree->Root();
  ASSERT_TRUE(now_root.ok());
  auto consistency = tree->ProveConsistency(old_size);
  ASSERT_TRUE(consistency.ok()) << consistency.status().ToString();
  EXPECT_TRUE(merkle::VerifyConsistency(old_size, consistency->new_size, *old_root, *now_root,
                                        consistency->proof)
                  .ok());
  auto kept = store_->GetRow(r.last_log_id + 1);
  ASSERT_TRUE(kept.ok());
  auto inclusion = tree->ProveInclusion(kept->lsn);
  ASSERT_TRUE(inclusion.ok()) << inclusion.status().ToString();
  Close();
  auto report = VerifyIntegrity(dir_.log(), VerifyOptions());
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_EQ(report->purged, r.first_kept - 1);
  auto marker = ReadPurgeMarker(dir_.log());
  ASSERT_TRUE(marker.ok() && marker->has_value());
  EXPECT_EQ((*marker)->first_kept, r.first_kept);
}

TEST_F(RetentionTest, SignedCheckpointsFromBeforeAndAfterAPurgeVerify) {
  const std::string key = dir_.path() + "/signing.pem";
  ASSERT_TRUE(GenerateKeyPair(key).ok());
  AuditOptions options = Options();
  options.log.tree.signing_key_path = key;
  Open(options);
  Fill();
  // One checkpoint inside what the purge drops, one after all of it.
  auto early = store_->log()->tree()->WriteCheckpoint();
  ASSERT_TRUE(early.ok()) << early.status().ToString();
  const RetainReport r = Retain(Bytes(40 << 10));
  ASSERT_TRUE(r.purged);
  ASSERT_LT(r.first_kept, early->tree_size) << "the early checkpoint covers retained records";
  Emit(300, 20, 2);
  ASSERT_TRUE(store_->log()->Sync().ok());
  auto late = store_->log()->tree()->WriteCheckpoint();
  ASSERT_TRUE(late.ok()) << late.status().ToString();
  Close();
  VerifyOptions verify;
  verify.public_key_path = key + ".pub";
  auto report = VerifyIntegrity(dir_.log(), verify);
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_GE(report->checkpoints, 2u) << "and one at each sealed segment";
  EXPECT_TRUE(report->signatures_checked);
  EXPECT_EQ(report->checkpoint_size, late->tree_size);
  EXPECT_EQ(report->purged, r.first_kept - 1);
  EXPECT_TRUE(CheckRecordedPurge(dir_.log()).ok());
}

TEST_F(RetentionTest, ConcurrentEmitsDuringRetain) {
  Open();
  Fill();
  std::atomic<bool> failed{false};
  std::vector<std::thread> writers;
  for (int t = 0; t < 2; ++t) {
    writers.emplace_back([&, t] {
      for (int i = 0; i < 150; ++i) {
        Event e = MakeEvent(Actor("w" + std::to_string(t)), "write",
                            {User("u" + std::to_string(i % 10), "t" + std::to_string(i))},
                            int64_t{2} * kDay + i);
        e.content = Value::Text(std::string(200, 'y'));
        if (!store_->Emit(e).ok()) failed = true;
      }
    });
  }
  int purges = 0;
  for (int round = 0; round < 5; ++round) purges += Retain(Bytes(40 << 10)).purged;
  for (std::thread& w : writers) w.join();
  EXPECT_FALSE(failed);
  EXPECT_GE(purges, 1);
  EXPECT_EQ(store_->LastLogId(), 600u);
  const std::string after = DumpStore(*store_);
  Close();
  EXPECT_EQ(Rebuilt(), after);
}

TEST_F(RetentionTest, RetentionOptionAppliesAtOpen) {
  Open();
  Fill();
  Close();
  AuditOptions options = Options();
  options.retention.max_bytes = 40 << 10;
  Open(options);
  EXPECT_GT(store_->log()->FirstLsn(), 1u);
  EXPECT_GT(store_->PurgedLogIds(), 0u);
}

}  // namespace
}  // namespace quipu::testing
