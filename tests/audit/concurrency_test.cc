// The audit store under concurrent writers and readers (also run under TSan).
#include <gtest/gtest.h>

#include <atomic>
#include <set>
#include <thread>

#include "audit_test_util.h"
#include "io/fault_env.h"
#include "quipu/audit.h"
#include "test_dir.h"

namespace quipu::testing {
namespace {

std::unique_ptr<AuditStore> MustOpen(const std::string& dir, const AuditOptions& options) {
  auto s = AuditStore::Open(dir, options);
  EXPECT_TRUE(s.ok()) << s.status().ToString();
  return s.ok() ? std::move(*s) : nullptr;
}

TEST(AuditConcurrencyTest, ConcurrentEmittersShareSyncsUnderGroupCommit) {
  TestDir dir;
  FaultEnv env(Env::Default());  // real files and fsyncs, counted
  AuditOptions options;
  options.log.env = &env;
  options.log.durability = DurabilityPolicy::GroupCommit();
  auto store = MustOpen(dir.log(), options);
  ASSERT_NE(store, nullptr);
  constexpr int kThreads = 32;
  constexpr int kPerThread = 40;
  env.ResetCounters();
  std::vector<std::vector<EmitResult>> results(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        auto r = store->Emit(MakeEvent(Actor("a" + std::to_string(t), "n" + std::to_string(i)), "m",
                                       {EntityInput{"default_target", "shared", {}}}));
        ASSERT_TRUE(r.ok()) << r.status().ToString();
        // Always-like policy: durable when Emit returns.
        ASSERT_LE(r->lsn, store->DurableLsn());
        results[t].push_back(*r);
      }
    });
  }
  for (auto& th : threads) th.join();
  std::set<uint64_t> ids;
  for (const auto& v : results) {
    for (const EmitResult& r : v) ids.insert(r.log_id);
  }
  ASSERT_EQ(ids.size(), size_t{kThreads * kPerThread});
  EXPECT_EQ(*ids.begin(), 1u);
  EXPECT_EQ(*ids.rbegin(), uint64_t{kThreads * kPerThread});
  const uint64_t syncs = env.SyncCount();
  std::cout << kThreads * kPerThread << " events, " << syncs << " fdatasyncs\n";
  EXPECT_LT(syncs, uint64_t{kThreads * kPerThread} / 2) << "emitters did not share syncs";
  // Every actor went through kPerThread versions, in its thread's order.
  for (int t = 0; t < kThreads; ++t) {
    auto history = store->EntityHistory("default_actor", "a" + std::to_string(t));
    ASSERT_TRUE(history.ok());
    ASSERT_EQ(history->size(), size_t{kPerThread});
    for (int i = 0; i < kPerThread; ++i) {
      EXPECT_EQ((*history)[i].fields.at("name").text, "n" + std::to_string(i));
      EXPECT_EQ((*history)[i].created_log_id, results[t][i].log_id);
    }
  }
  ASSERT_TRUE(store->Close().ok());
}

// Concurrent Emits are written in batches by whichever of them leads
// (audit/emit_queue.h); each must still get its own answer: its own error,
// and durability exactly when it asked for it.
TEST(AuditConcurrencyTest, ConcurrentEmitsInBatchesEachGetTheirOwnAnswer) {
  TestDir dir;
  AuditOptions options;
  options.log.durability = DurabilityPolicy::OsManaged();
  auto store = MustOpen(dir.log(), options);
  ASSERT_NE(store, nullptr);
  constexpr int kThreads = 16;
  constexpr int kPerThread = 60;
  std::atomic<int> written{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      // Even threads ask for durability per event; odd ones take the policy (none).
      const Durability durability = t % 2 == 0 ? Durability::kImmediate : Durability::kPolicy;
      for (int i = 0; i < kPerThread; ++i) {
        const bool bad = i % 7 == 3;  // an empty entity id is refused
        auto r = store->Emit(
            MakeEvent(Actor(bad ? "" : "a" + std::to_string(t)), "m" + std::to_string(i), {}),
            durability);
        if (bad) {
          ASSERT_FALSE(r.ok());
          EXPECT_EQ(r.status().code(), Status::Code::kInvalidArgument) << r.status().ToString();
          continue;
        }
        ASSERT_TRUE(r.ok()) << r.status().ToString();
        if (durability == Durability::kImmediate) {
          ASSERT_LE(r->lsn, store->DurableLsn());
        }
        written.fetch_add(1);
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(store->LastLogId(), static_cast<uint64_t>(written.load()));
  int bad_per_thread = 0;
  for (int i = 0; i < kPerThread; ++i) bad_per_thread += i % 7 == 3;
  EXPECT_EQ(written.load(), kThreads * (kPerThread - bad_per_thread));
  auto count = store->Count(Query{});
  ASSERT_TRUE(count.ok());
  EXPECT_EQ(*count, static_cast<uint64_t>(written.load()));
  ASSERT_TRUE(store->Close().ok());
}

// A failed fdatasync fails every Emit waiting for it, whichever thread led
// the batch, and every Emit after it (the log is poisoned).
TEST(AuditConcurrencyTest, ConcurrentEmitsAllFailWhenTheirSyncFails) {
  TestDir dir;
  FaultEnv env(Env::Default());
  AuditOptions options;
  options.log.env = &env;
  options.log.durability = DurabilityPolicy::GroupCommit();
  auto store = MustOpen(dir.log(), options);
  ASSERT_NE(store, nullptr);
  env.FailSyncs(1 << 20);
  constexpr int kThreads = 16;
  std::atomic<int> succeeded{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 5; ++i) {
        auto r = store->Emit(MakeEvent(Actor("a" + std::to_string(t)), "m", {}));
        if (r.ok()) succeeded.fetch_add(1);
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(succeeded.load(), 0);
  auto after = store->Emit(MakeEvent(Actor("late"), "m", {}), Durability::kBuffered);
  EXPECT_FALSE(after.ok());
  (void)store->Close();
}

// Full index batches are sealed under the writer mutex and written to
// RocksDB by the committer meanwhile. A retry must find its key, and a read
// its row, whether the batch holding them is pending, sealed or written.
TEST(AuditConcurrencyTest, ConcurrentRetriesAndReadsFindEventsInEveryBatchState) {
  TestDir dir;
  AuditOptions options;
  options.log.durability = DurabilityPolicy::OsManaged();
  auto store = MustOpen(dir.log(), options);
  ASSERT_NE(store, nullptr);
  constexpr int kThreads = 4;
  constexpr int kPerThread = 1500;  // several 1 024-record batches
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        Event e = MakeEvent(Actor("a" + std::to_string(t)), "m", {});
        e.idempotency_key = "k-" + std::to_string(t) + "-" + std::to_string(i);
        auto first = store->Emit(e);
        ASSERT_TRUE(first.ok()) << first.status().ToString();
        ASSERT_FALSE(first->duplicate);
        auto retry = store->Emit(e);
        ASSERT_TRUE(retry.ok()) << retry.status().ToString();
        ASSERT_TRUE(retry->duplicate) << "key " << e.idempotency_key << " not found";
        ASSERT_EQ(retry->log_id, first->log_id);
        if (i % 97 == 0) {
          auto row = store->GetRow(first->log_id);
          ASSERT_TRUE(row.ok()) << row.status().ToString();
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(store->LastLogId(), uint64_t{kThreads * kPerThread});
  auto count = store->Count(Query{});
  ASSERT_TRUE(count.ok());
  EXPECT_EQ(*count, uint64_t{kThreads * kPerThread});
  ASSERT_TRUE(store->Close().ok());
  auto reopened = MustOpen(dir.log(), options);
  ASSERT_NE(reopened, nullptr);
  EXPECT_EQ(reopened->index_report().action, IndexReport::Action::kNone);
  ASSERT_TRUE(reopened->Close().ok());
}

TEST(AuditConcurrencyTest, ConcurrentPaginationIsStableWhileWriting) {
  TestDir dir;
  AuditOptions options;
  options.log.durability = DurabilityPolicy::OsManaged();
  auto store = MustOpen(dir.log(), options);
  ASSERT_NE(store, nullptr);
  constexpr int kExisting = 300;
  for (int i = 0; i < kExisting; ++i) {
    // Timestamps spread over [0, 3000) with ties.
    ASSERT_TRUE(store->Emit(MakeEvent(Actor("a"), "old", {}, 10 * (i % 300))).ok());
  }
  std::atomic<bool> stop{false};
  std::thread writer([&] {
    // Bounded, so that paging (which follows rows that sort after its
    // cursor) ends.
    for (int i = 0; i < 1500 && !stop.load(); ++i) {
      // New rows land before, between and after the existing ones.
      auto r = store->Emit(MakeEvent(Actor("a"), "new", {}, (i * 7919) % 4000));
      ASSERT_TRUE(r.ok()) << r.status().ToString();
    }
  });
  // Start paging once the writer is under way (bounded, should it fail).
  for (int spin = 0; spin < 10'000'000 && store->LastLogId() < kExisting + 50; ++spin) {
    std::this_thread::yield();
  }
  for (Order order : {Order::kNewestFirst, Order::kOldestFirst}) {
    Query q;
    q.order = order;
    q.limit = 13;
    std::vector<uint64_t> ids;
    std::vector<std::pair<int64_t, uint64_t>> keys;
    while (true) {
      auto page = store->Query(q);
      ASSERT_TRUE(page.ok()) << page.status().ToString();
      for (const Hit& h : page->hits) {
        ids.push_back(h.log_id);
        keys.emplace_back(h.timestamp_micros, h.log_id);
      }
      if (page->next_cursor.empty()) break;
      q.cursor = page->next_cursor;
      std::this_thread::yield();
    }
    std::set<uint64_t> unique(ids.begin(), ids.end());
    EXPECT_EQ(unique.size(), ids.size()) << "a row appeared on two pages";
    for (uint64_t id = 1; id <= kExisting; ++id) {
      EXPECT_TRUE(unique.count(id)) << "row " << id << " existed and was skipped";
    }
    for (size_t i = 1; i < keys.size(); ++i) {
      EXPECT_TRUE(order == Order::kNewestFirst ? keys[i] < keys[i - 1] : keys[i - 1] < keys[i]);
    }
  }
  stop.store(true);
  writer.join();
}

TEST(AuditConcurrencyTest, ThreadedReadersSeeWholeRowsWhileWriting) {
  TestDir dir;
  AuditOptions options;
  options.log.durability = DurabilityPolicy::OsManaged();
  auto store = MustOpen(dir.log(), options);
  ASSERT_NE(store, nullptr);
  constexpr int kEvents = 600;
  std::atomic<bool> done{false};
  std::thread writer([&] {
    for (int i = 0; i < kEvents; ++i) {
      // Every event renames its target: a new version each time.
      auto r = store->Emit(
          MakeEvent(Actor("w"), "rename",
                    {EntityInput{"default_target",
                                 "t" + std::to_string(i % 5),
                                 {{"name", Value::Text("name-" + std::to_string(i))}}}}));
      ASSERT_TRUE(r.ok());
    }
    done.store(true);
  });
  auto reader = [&] {
    while (!done.load()) {
      Query q;
      q.limit = 50;
      q.targets.push_back(EntityFilter{"default_target", "name", MatchOp::kPrefix, "name-"});
      auto page = store->Query(q);
      ASSERT_TRUE(page.ok());
      for (const Hit& h : page->hits) {
        ASSERT_EQ(h.targets.size(), 1u);
        // The row pins the version its own event wrote.
        EXPECT_EQ(h.targets[0].fields.at("name").text, "name-" + std::to_string(h.log_id - 1));
        EXPECT_EQ(h.targets[0].created_log_id, h.log_id);
      }
      auto list = store->ListEntities("default_target");
      ASSERT_TRUE(list.ok());
      for (const auto& e : *list) {
        auto history = store->EntityHistory("default_target", e.id);
        ASSERT_TRUE(history.ok());
        EXPECT_GE(history->size(), e.version);
      }
    }
  };
  std::thread r1(reader), r2(reader);
  writer.join();
  r1.join();
  r2.join();
  EXPECT_EQ(store->LastLogId(), uint64_t{kEvents});
}

}  // namespace
}  // namespace quipu::testing
