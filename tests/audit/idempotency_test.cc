// Idempotency keys: the key rules, request fingerprints and the key window
// (audit/idempotency.h), then the store's answers to retries: the original
// event, conflicts, the window's bounds, reopen, power loss and concurrent
// retries.
#include "audit/idempotency.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "audit/record.h"
#include "audit_test_util.h"
#include "integrity/hash.h"
#include "io/fault_env.h"
#include "quipu/audit.h"
#include "test_dir.h"

namespace quipu::testing {
namespace {

using std::chrono::milliseconds;

// --- the pieces ---

TEST(IdempotencyKeyRulesTest, VisibleAsciiOneTo128Bytes) {
  std::string every_visible;
  for (char c = 0x21; c <= 0x7e; ++c) every_visible.push_back(c);
  for (const std::string& key : {std::string("a"), std::string(128, 'k'), every_visible}) {
    EXPECT_TRUE(audit::CheckIdempotencyKey(key).ok()) << key;
  }
  EXPECT_NE(audit::CheckIdempotencyKey("").message().find("1..128 bytes, got 0"),
            std::string::npos);
  EXPECT_NE(audit::CheckIdempotencyKey(std::string(129, 'k')).message().find("got 129"),
            std::string::npos);
  const Status space = audit::CheckIdempotencyKey("two words");
  EXPECT_EQ(space.code(), Status::Code::kInvalidArgument);
  EXPECT_NE(space.message().find("byte 0x20 at offset 3"), std::string::npos) << space.ToString();
  for (const std::string& key : {std::string("tab\there"), std::string("del\x7f"),
                                 std::string("caf\xc3\xa9"), std::string("nul\0", 4)}) {
    EXPECT_EQ(audit::CheckIdempotencyKey(key).code(), Status::Code::kInvalidArgument) << key;
  }
}

// An event as a client might send it, without a key.
Event Request() {
  Event e = MakeEvent(Actor("root", "Root"), "create",
                      {EntityInput{"default_target", "t1", {{"name", Value::Text("one")}}}});
  e.content = Value::Json("{\"n\":1}");
  return e;
}

TEST(IdempotencyFingerprintTest, CoversTheEventAsGiven) {
  const Event e = Request();
  const audit::Fingerprint fp = audit::FingerprintOf(e);
  EXPECT_EQ(audit::FingerprintOf(Request()), fp);
  // A timestamp, even 0, differs from none, and timestamps from each other.
  Event at0 = e, at1 = e;
  at0.timestamp_micros = 0;
  at1.timestamp_micros = 1;
  EXPECT_NE(audit::FingerprintOf(at0), fp);
  EXPECT_NE(audit::FingerprintOf(at0), audit::FingerprintOf(at1));
  // Length prefixes keep neighbouring strings apart.
  Event split1 = e, split2 = e;
  split1.method = "ab";
  split1.url = "c";
  split2.method = "a";
  split2.url = "bc";
  EXPECT_NE(audit::FingerprintOf(split1), audit::FingerprintOf(split2));
  Event empty_text = e;
  empty_text.content = Value::Text("");
  Event no_content = e;
  no_content.content.reset();
  EXPECT_NE(audit::FingerprintOf(empty_text), audit::FingerprintOf(no_content));
  // Kind tags keep a number apart from text holding its bytes.
  Event number = e;
  number.actor.fields["n"] = Value::Number(1);
  Event text = e;
  text.actor.fields["n"] = Value::Text(std::string("\0\0\0\0\0\0\xf0\x3f", 8));
  EXPECT_NE(audit::FingerprintOf(number), audit::FingerprintOf(text));
  // Which entity a field belongs to is part of the request.
  Event on_actor = e, on_target = e;
  on_actor.actor.fields["x"] = Value::Text("1");
  on_target.targets[0].fields["x"] = Value::Text("1");
  EXPECT_NE(audit::FingerprintOf(on_actor), audit::FingerprintOf(on_target));
}

TEST(IdempotencyFingerprintTest, IsSha256OfTheDocumentedEncoding) {
  Event e;
  e.actor = EntityInput{"t", "i", {}};
  std::string input;
  audit::EncodeFingerprintInput(e, &input);
  // domain, NUL, actor (type, id, 0 fields), 0 targets, method, url,
  // no content, 0 columns, no timestamp.
  EXPECT_EQ(input, std::string("quipu idempotency fingerprint v1\0"
                               "\x01t\x01i\x00"
                               "\x00\x00\x00\x00\x00\x00",
                               33 + 5 + 6));
  EXPECT_EQ(audit::FingerprintOf(e).bytes, merkle::Sha256Of(input).bytes());
}

TEST(IdempotencyKeyWindowTest, CountsTheNewestKeyedEventsInLogOrder) {
  const audit::KeyWindowBounds bounds{2, 1000};
  // Keyed events 1 and 2 exist: both are in the window.
  EXPECT_TRUE(audit::InKeyWindow(bounds, 2, 1, 0, 10));
  EXPECT_TRUE(audit::InKeyWindow(bounds, 2, 2, 0, 10));
  // A third evicts the first, however recently it was looked up.
  EXPECT_FALSE(audit::InKeyWindow(bounds, 3, 1, 0, 10));
  EXPECT_TRUE(audit::InKeyWindow(bounds, 3, 2, 0, 10));
  EXPECT_TRUE(audit::InKeyWindow(bounds, 3, 3, 0, 10));
  // A sequence number beyond the count is damage, never "in the window".
  EXPECT_FALSE(audit::InKeyWindow(bounds, 3, 4, 0, 10));
}

TEST(IdempotencyKeyWindowTest, JudgesAgeAtEachFind) {
  const audit::KeyWindowBounds bounds{10, 100};
  EXPECT_TRUE(audit::InKeyWindow(bounds, 2, 1, 1000, 1099));
  EXPECT_FALSE(audit::InKeyWindow(bounds, 2, 1, 1000, 1100));  // max_age old
  EXPECT_TRUE(audit::InKeyWindow(bounds, 2, 2, 1050, 1100));
  // No overflow at the ends of time.
  EXPECT_TRUE(audit::InKeyWindow(bounds, 2, 2, INT64_MAX, INT64_MIN));
  EXPECT_FALSE(audit::InKeyWindow({10, INT64_MAX}, 2, 2, INT64_MIN, INT64_MAX));
}

TEST(IdempotencyKeyWindowTest, KeepsNothingWithoutRoom) {
  EXPECT_FALSE(audit::InKeyWindow({0, 100}, 1, 1, 0, 0));
}

// --- the store ---

Event Keyed(std::string key, std::string method = "create") {
  Event e = Request();
  e.method = std::move(method);
  e.url = "/api/" + e.method;
  e.idempotency_key = std::move(key);
  return e;
}

TEST(IdempotencyFingerprintTest, LeavesTheKeyOut) {
  const audit::Fingerprint fp = audit::FingerprintOf(Keyed("k1"));
  EXPECT_EQ(audit::FingerprintOf(Keyed("another key")), fp);
  EXPECT_EQ(audit::FingerprintOf(Keyed("")), fp);
}

class IdempotencyTest : public ::testing::Test {
 protected:
  void SetUp() override { Reopen(); }

  void Reopen() {
    if (store_) {
      ASSERT_TRUE(store_->Close().ok());
    }
    store_.reset();
    auto s = AuditStore::Open(dir_.log(), options_);
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    store_ = std::move(*s);
  }

  EmitResult MustEmit(const Event& e, Durability d = Durability::kPolicy) {
    auto r = store_->Emit(e, d);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? *r : EmitResult{};
  }

  Lsn LastLsn() { return store_->log()->LastLsn(); }

  TestDir dir_;
  AuditOptions options_;
  std::unique_ptr<AuditStore> store_;
};

void ExpectSameEvent(const EmitResult& retry, const EmitResult& original) {
  EXPECT_TRUE(retry.duplicate);
  EXPECT_EQ(retry.log_id, original.log_id);
  EXPECT_EQ(retry.lsn, original.lsn);
  EXPECT_EQ(retry.timestamp_micros, original.timestamp_micros);
}

TEST_F(IdempotencyTest, RetryReturnsTheOriginalAndWritesNothing) {
  const EmitResult first = MustEmit(Keyed("req-1"));
  EXPECT_FALSE(first.duplicate);
  EXPECT_EQ(first.log_id, 1u);
  const Lsn lsn = LastLsn();
  // No timestamp given: the retry still matches, and reports the time the
  // original was given.
  std::this_thread::sleep_for(milliseconds(2));
  const EmitResult retry = MustEmit(Keyed("req-1"));
  ExpectSameEvent(retry, first);
  EXPECT_EQ(LastLsn(), lsn);
  EXPECT_EQ(store_->LastLogId(), 1u);
  // The row is the original's, and the key is not part of it.
  auto hit = store_->GetRow(1);
  ASSERT_TRUE(hit.ok());
  EXPECT_EQ(hit->method, "create");

  const EmitResult other = MustEmit(Keyed("req-2"));
  EXPECT_FALSE(other.duplicate);
  EXPECT_EQ(other.log_id, 2u);
  // An event without a key is never a duplicate.
  EXPECT_FALSE(MustEmit(Keyed("")).duplicate);
  EXPECT_FALSE(MustEmit(Keyed("")).duplicate);
  EXPECT_EQ(store_->LastLogId(), 4u);
}

TEST_F(IdempotencyTest, SameKeyForADifferentEventIsConflictAndWritesNothing) {
  const Event original = Keyed("req-1");
  ASSERT_TRUE(store_->RegisterColumn(ColumnSpec{"tenant", FieldKind::kText}).ok());
  MustEmit(original);
  const Lsn lsn = LastLsn();

  std::vector<std::pair<std::string, Event>> changes;
  auto change = [&](std::string what, auto edit) {
    Event e = original;
    edit(e);
    changes.emplace_back(std::move(what), std::move(e));
  };
  change("method", [](Event& e) { e.method = "delete"; });
  change("url", [](Event& e) { e.url += "/x"; });
  change("actor id", [](Event& e) { e.actor.id = "root2"; });
  change("actor field", [](Event& e) { e.actor.fields["name"] = Value::Text("Other"); });
  change("actor without fields", [](Event& e) { e.actor.fields.clear(); });
  change("target type", [](Event& e) { e.targets[0].type = "default_actor"; });
  change("extra target", [](Event& e) { e.targets.push_back(e.targets[0]); });
  change("no target", [](Event& e) { e.targets.clear(); });
  change("content", [](Event& e) { e.content = Value::Json("{\"n\":2}"); });
  change("content kind", [](Event& e) { e.content = Value::Text("{\"n\":1}"); });
  change("no content", [](Event& e) { e.content.reset(); });
  change("column", [](Event& e) { e.columns["tenant"] = Value::Text("acme"); });
  // The time the original was given when it had none is still a change: the
  // request differs from the one that was made.
  change("timestamp", [&](Event& e) { e.timestamp_micros = store_->GetRow(1)->timestamp_micros; });
  for (const auto& [what, e] : changes) {
    auto r = store_->Emit(e);
    ASSERT_EQ(r.status().code(), Status::Code::kConflict) << what << ": " << r.status().ToString();
    EXPECT_NE(r.status().message().find("'req-1'"), std::string::npos) << r.status().ToString();
    EXPECT_NE(r.status().message().find("log_id 1"), std::string::npos) << r.status().ToString();
  }
  EXPECT_EQ(LastLsn(), lsn);
  EXPECT_EQ(store_->LastLogId(), 1u);
  EXPECT_TRUE(MustEmit(original).duplicate);
}

TEST_F(IdempotencyTest, MalformedKeysAreRefused) {
  const Lsn lsn = LastLsn();
  for (const std::string& key :
       {std::string(129, 'k'), std::string("two words"), std::string("tab\there"),
        std::string("new\nline"), std::string("del\x7f"), std::string("caf\xc3\xa9"),
        std::string("nul\0byte", 8)}) {
    auto r = store_->Emit(Keyed(key));
    ASSERT_EQ(r.status().code(), Status::Code::kInvalidArgument) << key;
    EXPECT_NE(r.status().message().find("idempotency key"), std::string::npos)
        << r.status().ToString();
  }
  EXPECT_NE(store_->Emit(Keyed(std::string(129, 'k'))).status().message().find("1..128 bytes"),
            std::string::npos);
  EXPECT_EQ(LastLsn(), lsn);

  std::string every_visible;
  for (char c = 0x21; c <= 0x7e; ++c) every_visible.push_back(c);
  for (const std::string& key : {std::string(128, 'k'), std::string("!"), std::string("~"),
                                 every_visible.substr(0, 64), every_visible.substr(64)}) {
    EXPECT_FALSE(MustEmit(Keyed(key)).duplicate) << key;
    EXPECT_TRUE(MustEmit(Keyed(key)).duplicate) << key;
  }
}

TEST_F(IdempotencyTest, KeysSurviveCloseAndReopen) {
  const EmitResult a = MustEmit(Keyed("a"));
  const EmitResult b = MustEmit(Keyed("b", "update"));
  MustEmit(Keyed(""));
  Reopen();
  ExpectSameEvent(MustEmit(Keyed("a")), a);
  ExpectSameEvent(MustEmit(Keyed("b", "update")), b);
  EXPECT_EQ(store_->Emit(Keyed("b")).status().code(), Status::Code::kConflict);
  EXPECT_EQ(MustEmit(Keyed("c")).log_id, 4u);
  EXPECT_EQ(store_->LastLogId(), 4u);
}

TEST_F(IdempotencyTest, AgeCountsFromTheWriteNotFromTheEventTime) {
  Event old = Keyed("backfill");
  old.timestamp_micros = *ParseRfc3339("2000-01-01");  // far beyond max_age
  const EmitResult first = MustEmit(old);
  ExpectSameEvent(MustEmit(old), first);
}

TEST_F(IdempotencyTest, OldestKeysLeaveTheWindowByCount) {
  options_.idempotency.max_keys = 2;
  Reopen();
  MustEmit(Keyed("a"));  // 1
  MustEmit(Keyed("b"));  // 2
  MustEmit(Keyed("c"));  // 3: "a" leaves
  EXPECT_EQ(MustEmit(Keyed("c")).log_id, 3u);
  EXPECT_EQ(MustEmit(Keyed("b")).log_id, 2u);
  // Evicted: the retry is written again, and now holds the key.
  EmitResult again = MustEmit(Keyed("a"));
  EXPECT_FALSE(again.duplicate);
  EXPECT_EQ(again.log_id, 4u);  // "b" leaves
  EXPECT_EQ(MustEmit(Keyed("b")).log_id, 5u);

  // A reopen replays the same evictions: the window holds "a" (4), "b" (5).
  Reopen();
  EXPECT_TRUE(MustEmit(Keyed("a")).duplicate);
  EXPECT_EQ(MustEmit(Keyed("a")).log_id, 4u);
  EXPECT_EQ(MustEmit(Keyed("b")).log_id, 5u);
  EmitResult c = MustEmit(Keyed("c"));
  EXPECT_FALSE(c.duplicate);
  EXPECT_EQ(c.log_id, 6u);
}

TEST_F(IdempotencyTest, KeysAgeOutAndStayAgedAfterReopen) {
  options_.idempotency.max_age = milliseconds(30);
  Reopen();
  const EmitResult first = MustEmit(Keyed("a"));
  std::this_thread::sleep_for(milliseconds(60));
  EmitResult second = MustEmit(Keyed("a"));
  EXPECT_FALSE(second.duplicate);
  EXPECT_EQ(second.log_id, first.log_id + 1);

  // The age of a key counts from its write, which its record holds: a
  // reopen does not make it young again.
  options_.idempotency.max_age = std::chrono::hours(24);
  Reopen();
  ExpectSameEvent(MustEmit(Keyed("a")), second);
  std::this_thread::sleep_for(milliseconds(60));
  options_.idempotency.max_age = milliseconds(30);
  Reopen();
  EmitResult third = MustEmit(Keyed("a"));
  EXPECT_FALSE(third.duplicate);
  EXPECT_EQ(third.log_id, second.log_id + 1);
}

TEST_F(IdempotencyTest, WindowBoundsMustBePositive) {
  store_.reset();
  AuditOptions no_keys;
  no_keys.idempotency.max_keys = 0;
  EXPECT_EQ(AuditStore::Open(dir_.log(), no_keys).status().code(), Status::Code::kInvalidArgument);
  AuditOptions no_age;
  no_age.idempotency.max_age = milliseconds(0);
  EXPECT_EQ(AuditStore::Open(dir_.log(), no_age).status().code(), Status::Code::kInvalidArgument);
}

TEST_F(IdempotencyTest, RetryWaitsForTheOriginalWhenAskedForDurable) {
  options_.log.durability = DurabilityPolicy::OsManaged();  // syncs only when asked
  Reopen();
  const EmitResult first = MustEmit(Keyed("a"), Durability::kBuffered);
  ASSERT_LT(store_->DurableLsn(), first.lsn);
  ExpectSameEvent(MustEmit(Keyed("a"), Durability::kBuffered), first);
  EXPECT_LT(store_->DurableLsn(), first.lsn);
  ExpectSameEvent(MustEmit(Keyed("a"), Durability::kImmediate), first);
  EXPECT_GE(store_->DurableLsn(), first.lsn);
}

TEST_F(IdempotencyTest, ReadOnlyStoreReadsKeyedEvents) {
  MustEmit(Keyed("a"));
  MustEmit(Keyed("b", "update"));
  AuditOptions ro;
  ro.read_only = true;
  ro.idempotency.max_keys = 0;  // ignored: a reader keeps no window
  auto reader = AuditStore::Open(dir_.log(), ro);
  ASSERT_TRUE(reader.ok()) << reader.status().ToString();
  EXPECT_EQ((*reader)->LastLogId(), 2u);
  EXPECT_EQ((*reader)->GetRow(2)->method, "update");
  EXPECT_EQ((*reader)->Emit(Keyed("a")).status().code(), Status::Code::kFailedPrecondition);
}

// A record with a key no Emit accepts was not written by a store.
TEST_F(IdempotencyTest, MalformedKeyInARecordIsCorruption) {
  audit::EventRecord rec;
  rec.log_id = 1;
  rec.versions.push_back(audit::VersionRecord{0, "a", 1, {}});
  rec.actor = audit::RefRecord{0, "a", 1};
  rec.idempotency = audit::IdempotencyRecord{"has space", {}, 0};
  std::string payload;
  audit::EncodeEvent(rec, &payload);
  ASSERT_TRUE(store_->log()->Append(payload).ok());
  ASSERT_TRUE(store_->Close().ok());
  store_.reset();
  auto s = AuditStore::Open(dir_.log(), options_);
  ASSERT_TRUE(s.status().IsCorruption()) << s.status().ToString();
  EXPECT_NE(s.status().message().find("idempotency key"), std::string::npos);
}

// Retries race each other (a client that timed out and retried while the
// first request was still being served): exactly one record is written.
TEST_F(IdempotencyTest, ConcurrentEmitsOfOneKeyWriteOnce) {
  options_.log.durability = DurabilityPolicy::GroupCommit();
  Reopen();
  constexpr int kThreads = 8;
  constexpr int kRounds = 20;
  for (int round = 0; round < kRounds; ++round) {
    const Event e = Keyed("round-" + std::to_string(round));
    std::vector<Result<EmitResult>> results(kThreads, Status::Corruption("not run"));
    std::atomic<int> ready{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] {
        ready.fetch_add(1);
        while (ready.load() < kThreads) std::this_thread::yield();
        results[t] = store_->Emit(e);
      });
    }
    for (auto& th : threads) th.join();
    int written = 0;
    for (const auto& r : results) {
      ASSERT_TRUE(r.ok()) << r.status().ToString();
      EXPECT_EQ(r->log_id, uint64_t(round + 1));
      EXPECT_LE(r->lsn, store_->DurableLsn());  // each waited as a write would
      written += !r->duplicate;
    }
    EXPECT_EQ(written, 1) << "round " << round;
  }
  EXPECT_EQ(store_->LastLogId(), uint64_t{kRounds});
}

TEST_F(IdempotencyTest, ConcurrentEmitsOfOneKeyForDifferentEventsWriteOneAndConflict) {
  constexpr int kThreads = 8;
  std::vector<Result<EmitResult>> results(kThreads, Status::Corruption("not run"));
  std::atomic<int> ready{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      ready.fetch_add(1);
      while (ready.load() < kThreads) std::this_thread::yield();
      results[t] = store_->Emit(Keyed("shared", "m" + std::to_string(t)));
    });
  }
  for (auto& th : threads) th.join();
  int written = 0, conflicts = 0;
  for (const auto& r : results) {
    if (r.ok()) {
      ++written;
      EXPECT_FALSE(r->duplicate);
    } else {
      EXPECT_EQ(r.status().code(), Status::Code::kConflict) << r.status().ToString();
      ++conflicts;
    }
  }
  EXPECT_EQ(written, 1);
  EXPECT_EQ(conflicts, kThreads - 1);
  EXPECT_EQ(store_->LastLogId(), 1u);
}

// A keyed event is as durable as its record: one lost at a power cut is
// forgotten with it, so its retry writes it anew; a synced one is a duplicate.
TEST(IdempotencyPowerLossTest, UnsyncedKeyIsWrittenAgainSyncedKeyIsDuplicate) {
  TestDir dir;
  FaultEnv fault(Env::Default());
  AuditOptions options;
  options.log.env = &fault;
  options.log.durability = DurabilityPolicy::OsManaged();
  auto opened = AuditStore::Open(dir.log(), options);
  ASSERT_TRUE(opened.ok()) << opened.status().ToString();
  std::unique_ptr<AuditStore> store = std::move(*opened);
  auto synced = store->Emit(Keyed("synced"), Durability::kImmediate);
  ASSERT_TRUE(synced.ok()) << synced.status().ToString();
  auto unsynced = store->Emit(Keyed("unsynced", "update"), Durability::kBuffered);
  ASSERT_TRUE(unsynced.ok()) << unsynced.status().ToString();
  ASSERT_LT(store->DurableLsn(), unsynced->lsn);
  EXPECT_TRUE(store->Emit(Keyed("unsynced", "update"), Durability::kBuffered)->duplicate);

  fault.Crash();
  store.reset();  // its Close fails: the process is dead
  ASSERT_TRUE(fault.PowerLoss().ok());

  opened = AuditStore::Open(dir.log(), options);
  ASSERT_TRUE(opened.ok()) << opened.status().ToString();
  store = std::move(*opened);
  ASSERT_EQ(store->LastLogId(), 1u);
  auto retry_synced = store->Emit(Keyed("synced"));
  ASSERT_TRUE(retry_synced.ok()) << retry_synced.status().ToString();
  ExpectSameEvent(*retry_synced, *synced);
  auto retry_unsynced = store->Emit(Keyed("unsynced", "update"), Durability::kImmediate);
  ASSERT_TRUE(retry_unsynced.ok()) << retry_unsynced.status().ToString();
  EXPECT_FALSE(retry_unsynced->duplicate);
  EXPECT_EQ(retry_unsynced->log_id, 2u);
  EXPECT_EQ(store->GetRow(2)->method, "update");
  // From now on the rewritten event is the one the key names.
  ExpectSameEvent(*store->Emit(Keyed("unsynced", "update")), *retry_unsynced);
  EXPECT_TRUE(store->Close().ok());
}

}  // namespace
}  // namespace quipu::testing
