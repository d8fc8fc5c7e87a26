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

TEST(IdempotencyKeyWindowTest, EvictsByCountInLogOrder) {
  audit::KeyWindow w(2, 1000);
  w.Add("a", {1, {}, 0});
  w.Add("b", {2, {}, 0});
  ASSERT_NE(w.Find("a", 10), nullptr);
  w.Add("c", {3, {}, 0});
  EXPECT_EQ(w.Find("a", 10), nullptr);  // oldest first, though just looked up
  EXPECT_EQ(w.Find("b", 10)->log_id, 2u);
  EXPECT_EQ(w.Find("c", 10)->log_id, 3u);
  EXPECT_EQ(w.size(), 2u);
}

TEST(IdempotencyKeyWindowTest, JudgesAgeAtEachFind) {
  audit::KeyWindow w(10, 100);
  w.Add("a", {1, {}, 1000});
  w.Add("b", {2, {}, 1050});
  EXPECT_NE(w.Find("a", 1099), nullptr);
  EXPECT_EQ(w.Find("a", 1100), nullptr);  // max_age old: gone
  EXPECT_NE(w.Find("b", 1100), nullptr);
  EXPECT_EQ(w.size(), 1u);  // "a" was dropped from the front
}

TEST(IdempotencyKeyWindowTest, AKeyAddedAgainOutlivesItsOldSlot) {
  audit::KeyWindow w(3, 100);
  // A wall clock that stepped back: "a" is older than "b" before it.
  w.Add("b", {1, {}, 1000});
  w.Add("a", {2, {}, 900});
  EXPECT_EQ(w.Find("a", 1010), nullptr);  // aged, behind a fresh "b"
  w.Add("a", {3, {}, 1010});              // replaces it; its old slot is stale
  w.Add("c", {4, {}, 1020});              // evicts "b"
  EXPECT_EQ(w.Find("b", 1020), nullptr);
  w.Add("d", {5, {}, 1030});  // evicts the stale slot only
  ASSERT_NE(w.Find("a", 1030), nullptr);
  EXPECT_EQ(w.Find("a", 1030)->log_id, 3u);
  EXPECT_EQ(w.size(), 3u);
  w.Add("e", {6, {}, 1040});  // now "a" itself
  EXPECT_EQ(w.Find("a", 1040), nullptr);
  EXPECT_EQ(w.size(), 3u);
}

TEST(IdempotencyKeyWindowTest, KeepsNothingWithoutRoom) {
  audit::KeyWindow w(0, 100);
  w.Add("a", {1, {}, 0});
  EXPECT_EQ(w.Find("a", 0), nullptr);
  EXPECT_EQ(w.size(), 0u);
}

}  // namespace
}  // namespace quipu::testing
