// Protected fields through the public AuditStore API (docs/privacy.md):
// sealing, reading with and without the master key, blind-index queries,
// forgetting a subject, rotation, and that no plaintext reaches a file.
#include "audit/protect.h"

#include <gtest/gtest.h>
#include <rocksdb/db.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <thread>

#include "audit_test_util.h"
#include "quipu/audit.h"
#include "quipu/keys.h"
#include "quipu/tree.h"
#include "quipu/tree_view.h"
#include "test_dir.h"

namespace quipu::testing {
namespace {

const char* const kKey1 =
    "quipu-master-key 1 000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\n";
const char* const kKey2 =
    "quipu-master-key 2 202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f\n";

std::shared_ptr<const MasterKeys> Keys(const std::string& text) {
  auto keys = MasterKeys::Parse(text);
  EXPECT_TRUE(keys.ok()) << keys.status().ToString();
  return keys.ok() ? *keys : nullptr;
}

TypeSchema PersonType() {
  TypeSchema t{"person", {}};
  t.fields.push_back({"email", FieldKind::kText, false, true, Protection::kEncryptedIndexed, 3});
  t.fields.push_back({"ssn", FieldKind::kText, false, true, Protection::kHashed, 0});
  t.fields.push_back({"note", FieldKind::kText, false, false, Protection::kEncrypted, 0});
  t.fields.push_back({"age", FieldKind::kNumber, false, true, Protection::kEncryptedIndexed, 0});
  t.fields.push_back({"city", FieldKind::kText, false, true, Protection::kPlain, 0});
  return t;
}

Event PersonEvent(const std::string& id, const std::string& email, const std::string& note,
                  double age, const std::string& ip) {
  EntityInput person{"person", id, {}};
  person.fields["email"] = Value::Text(email);
  person.fields["ssn"] = Value::Text("ssn-of-" + id);
  person.fields["note"] = Value::Text(note);
  person.fields["age"] = Value::Number(age);
  person.fields["city"] = Value::Text("Lima");
  Event e = MakeEvent(person, "login", {});
  e.columns["ip"] = Value::Text(ip);
  return e;
}

class ProtectTest : public ::testing::Test {
 protected:
  std::unique_ptr<AuditStore> Open(std::shared_ptr<const MasterKeys> keys, bool read_only = false,
                                   bool rebuild = false) {
    AuditOptions options;
    options.keys = std::move(keys);
    options.read_only = read_only;
    options.rebuild_index = rebuild;
    auto store = AuditStore::Open(dir_.log(), options);
    EXPECT_TRUE(store.ok()) << store.status().ToString();
    return store.ok() ? std::move(*store) : nullptr;
  }

  // A store with alice (two events) and bob, written with key 1.
  void Fill() {
    auto store = Open(Keys(kKey1));
    ASSERT_NE(store, nullptr);
    ASSERT_TRUE(store->DefineType(PersonType()).ok());
    ASSERT_TRUE(
        store->RegisterColumn(ColumnSpec{"ip", FieldKind::kText, Protection::kHashed, ""}).ok());
    ASSERT_TRUE(
        store->Emit(PersonEvent("alice", "Alice@Example.org", "secret-alpha", 41, "10.1.1.1"))
            .ok());
    ASSERT_TRUE(
        store->Emit(PersonEvent("bob", "bob@example.org", "secret-bravo", 52, "10.2.2.2")).ok());
    ASSERT_TRUE(
        store->Emit(PersonEvent("alice", "Alice@Example.org", "secret-alpha", 41, "10.1.1.3"))
            .ok());
    ASSERT_TRUE(store->Close().ok());
  }

  // Every file of the store, concatenated.
  std::string AllBytes() const {
    std::string all;
    for (const auto& entry : std::filesystem::recursive_directory_iterator(dir_.log())) {
      if (!entry.is_regular_file()) continue;
      std::ifstream in(entry.path(), std::ios::binary);
      std::stringstream buf;
      buf << in.rdbuf();
      all += buf.str();
    }
    return all;
  }

  std::vector<uint64_t> Match(const AuditStore& store, const std::string& field, MatchOp op,
                              const std::string& value) {
    Query q;
    q.actor = EntityFilter{"person", field, op, value};
    q.order = Order::kOldestFirst;
    return AllPages(store, q);
  }

  // Entries of the derived index whose key starts with `tag` (X, Y, F...).
  size_t IndexEntries(char tag) const {
    rocksdb::DB* raw = nullptr;
    rocksdb::Status s =
        rocksdb::DB::OpenForReadOnly(rocksdb::Options(), dir_.log() + "/index", &raw);
    EXPECT_TRUE(s.ok()) << s.ToString();
    if (!s.ok()) return 0;
    std::unique_ptr<rocksdb::DB> db(raw);
    std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(rocksdb::ReadOptions()));
    size_t n = 0;
    for (it->Seek(std::string(1, tag)); it->Valid() && it->key()[0] == tag; it->Next()) ++n;
    return n;
  }

  TestDir dir_;
};

TEST_F(ProtectTest, TheKeyHolderReadsPlaintextOthersSeeHiddenValues) {
  Fill();
  {
    auto store = Open(Keys(kKey1));
    auto history = store->EntityHistory("person", "alice");
    ASSERT_TRUE(history.ok()) << history.status().ToString();
    // The second event repeated the same values: the version was reused.
    ASSERT_EQ(history->size(), 1u);
    const Fields& f = (*history)[0].fields;
    EXPECT_EQ(f.at("email"), Value::Text("Alice@Example.org"));
    EXPECT_EQ(f.at("note"), Value::Text("secret-alpha"));
    EXPECT_EQ(f.at("age"), Value::Number(41));
    EXPECT_EQ(f.at("ssn").hidden, Hidden::kHashed);
    EXPECT_EQ(f.at("city"), Value::Text("Lima"));
    auto row = store->GetRow(2);
    ASSERT_TRUE(row.ok());
    EXPECT_EQ(row->columns.at("ip").hidden, Hidden::kHashed);
  }
  auto reader = Open(nullptr, /*read_only=*/true);
  auto history = reader->EntityHistory("person", "bob");
  ASSERT_TRUE(history.ok());
  const Fields& f = (*history)[0].fields;
  EXPECT_EQ(f.at("email").hidden, Hidden::kLocked);
  EXPECT_EQ(f.at("email").kind, FieldKind::kText);
  EXPECT_EQ(f.at("age").hidden, Hidden::kLocked);
  EXPECT_EQ(f.at("age").kind, FieldKind::kNumber);
  EXPECT_EQ(f.at("ssn").hidden, Hidden::kHashed);
  EXPECT_EQ(f.at("city"), Value::Text("Lima"));
  // Without the key nothing protected is written or matched.
  auto writer = Open(nullptr);
  EXPECT_EQ(writer->Emit(PersonEvent("carol", "c@x", "n", 1, "ip")).status().code(),
            Status::Code::kFailedPrecondition);
  Query q;
  q.actor = EntityFilter{"person", "email", MatchOp::kExact, "bob@example.org"};
  EXPECT_EQ(writer->Query(q).status().code(), Status::Code::kFailedPrecondition);
}

TEST_F(ProtectTest, BlindIndexesMatchWithoutPlaintextInAnyFile) {
  Fill();
  auto store = Open(Keys(kKey1));
  EXPECT_EQ(Match(*store, "email", MatchOp::kExact, "Alice@Example.org"),
            (std::vector<uint64_t>{1, 3}));
  EXPECT_EQ(Match(*store, "email", MatchOp::kExact, "alice@example.org"), std::vector<uint64_t>{});
  EXPECT_EQ(Match(*store, "email", MatchOp::kExactCi, "ALICE@example.ORG"),
            (std::vector<uint64_t>{1, 3}));
  EXPECT_EQ(Match(*store, "email", MatchOp::kPrefix, "bob"), std::vector<uint64_t>{2});
  EXPECT_EQ(Match(*store, "ssn", MatchOp::kExact, "ssn-of-bob"), std::vector<uint64_t>{2});
  EXPECT_EQ(Match(*store, "age", MatchOp::kExact, "41"), (std::vector<uint64_t>{1, 3}));
  Query q;
  q.actor = EntityFilter{"person", "email", MatchOp::kPrefix, "bob@"};  // beyond 3 tokens
  EXPECT_EQ(store->Query(q).status().code(), Status::Code::kInvalidArgument);
  q.actor = EntityFilter{"person", "email", MatchOp::kContains, "example"};
  EXPECT_EQ(store->Query(q).status().code(), Status::Code::kInvalidArgument);
  Query by_column;
  by_column.columns["ip"] = Value::Text("10.1.1.3");
  EXPECT_EQ(AllPages(*store, by_column), std::vector<uint64_t>{3});
  ASSERT_TRUE(store->Close().ok());

  const std::string all = AllBytes();
  for (const char* plain : {"Alice@Example.org", "alice@example.org", "bob@example.org",
                            "secret-alpha", "secret-bravo", "ssn-of-bob", "10.2.2.2"}) {
    EXPECT_EQ(all.find(plain), std::string::npos) << plain << " is in a file of the store";
  }
  EXPECT_NE(all.find("Lima"), std::string::npos) << "plain fields stay plain";
}

TEST_F(ProtectTest, ForgetErasesASubjectEverywhereAndProofsStillVerify) {
  Fill();
  std::string root_before;
  {
    auto tree = TreeView::Open(dir_.log());
    ASSERT_TRUE(tree.ok());
    auto root = (*tree)->Root((*tree)->Size());
    ASSERT_TRUE(root.ok());
    root_before = root->ToHex();
  }
  std::string keys_before;
  {
    std::ifstream in(dir_.log() + "/subject-keys", std::ios::binary);
    std::stringstream buf;
    buf << in.rdbuf();
    keys_before = buf.str();
  }
  const size_t exact_before = IndexEntries('X');
  const size_t folded_before = IndexEntries('Y');
  auto store = Open(Keys(kKey1));
  auto report = store->Forget("person", "alice");
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_EQ(report->keys, 1u);
  EXPECT_EQ(store->Forget("person", "nobody").status().code(), Status::Code::kNotFound);

  auto check_erased = [&](const AuditStore& s) {
    auto history = s.EntityHistory("person", "alice");
    ASSERT_TRUE(history.ok());
    for (const char* field : {"email", "note", "age", "ssn"}) {
      EXPECT_EQ((*history)[0].fields.at(field).hidden, Hidden::kErased) << field;
    }
    EXPECT_EQ((*history)[0].fields.at("city"), Value::Text("Lima"));
    auto row = s.GetRow(1);
    ASSERT_TRUE(row.ok());
    EXPECT_EQ(row->columns.at("ip").hidden, Hidden::kErased);
    EXPECT_EQ(Match(s, "email", MatchOp::kExact, "Alice@Example.org"), std::vector<uint64_t>{});
    EXPECT_EQ(Match(s, "email", MatchOp::kExactCi, "alice@example.org"), std::vector<uint64_t>{});
    EXPECT_EQ(Match(s, "email", MatchOp::kPrefix, "Ali"), std::vector<uint64_t>{});
    EXPECT_EQ(Match(s, "ssn", MatchOp::kExact, "ssn-of-alice"), std::vector<uint64_t>{});
    Query by_column;
    by_column.columns["ip"] = Value::Text("10.1.1.1");
    EXPECT_EQ(AllPages(s, by_column), std::vector<uint64_t>{});
    // bob is untouched.
    EXPECT_EQ(Match(s, "email", MatchOp::kExact, "bob@example.org"), std::vector<uint64_t>{2});
    auto bob = s.EntityHistory("person", "bob");
    ASSERT_TRUE(bob.ok());
    EXPECT_EQ((*bob)[0].fields.at("note"), Value::Text("secret-bravo"));
  };
  check_erased(*store);
  // An export after the forget shows the values erased too.
  Status exported = store->Export(Query(), 0, [&](const ExportedRecord& rec) {
    if (rec.kind == ExportedRecord::Kind::kEvent && rec.event.actor.id == "alice") {
      EXPECT_EQ(rec.event.actor.fields.at("note").hidden, Hidden::kErased);
    }
    if (rec.kind == ExportedRecord::Kind::kForget) {
      EXPECT_EQ(rec.forget.type, "person");
      EXPECT_EQ(rec.forget.id, "alice");
      EXPECT_EQ(rec.forget.keys, 1u);
    }
    return Status::OK();
  });
  EXPECT_TRUE(exported.ok()) << exported.ToString();
  ASSERT_TRUE(store->Close().ok());

  // Alice's tokens left the index: exact and 3 prefix tokens of her email,
  // her ssn's and age's; a folded token each of email and ssn.
  EXPECT_EQ(IndexEntries('X'), exact_before - 6);
  EXPECT_EQ(IndexEntries('Y'), folded_before - 2);
  EXPECT_EQ(IndexEntries('F'), 1u);

  // The leaves are unchanged: the old root is a prefix of the new tree.
  auto tree = TreeView::Open(dir_.log());
  ASSERT_TRUE(tree.ok());
  auto old_root = (*tree)->Root(5);
  ASSERT_TRUE(old_root.ok());
  EXPECT_EQ(old_root->ToHex(), root_before);
  auto report_integrity = VerifyIntegrity(dir_.log(), VerifyOptions());
  EXPECT_TRUE(report_integrity.ok()) << report_integrity.status().ToString();

  // The wrapped key is gone from the subject key file.
  std::ifstream in(dir_.log() + "/subject-keys", std::ios::binary);
  std::stringstream buf;
  buf << in.rdbuf();
  const std::string keys_after = buf.str();
  ASSERT_EQ(keys_after.size(), keys_before.size());
  size_t changed = 0;
  for (size_t i = 0; i < keys_after.size(); ++i) changed += keys_after[i] != keys_before[i];
  EXPECT_GE(changed, 48u) << "the wrapped key bytes must be overwritten";

  // Reopened, rebuilt from the log, and read-only: still erased.
  check_erased(*Open(Keys(kKey1)));
  check_erased(*Open(Keys(kKey1), false, /*rebuild=*/true));
  check_erased(*Open(Keys(kKey1), /*read_only=*/true));
}

TEST_F(ProtectTest, ASubjectWrittenAfterItsForgetGetsANewKey) {
  Fill();
  auto store = Open(Keys(kKey1));
  ASSERT_TRUE(store->Forget("person", "alice").ok());
  ASSERT_TRUE(store->Emit(PersonEvent("alice", "new@example.org", "fresh", 42, "10.9.9.9")).ok());
  auto history = store->EntityHistory("person", "alice");
  ASSERT_TRUE(history.ok());
  ASSERT_EQ(history->size(), 2u);
  EXPECT_EQ((*history)[0].fields.at("email").hidden, Hidden::kErased);
  EXPECT_EQ((*history)[1].fields.at("email"), Value::Text("new@example.org"));
  EXPECT_EQ((*history)[1].fields.at("note"), Value::Text("fresh"));
  // Filters match entities (in any version), so alice's old rows come too,
  // their values erased.
  EXPECT_EQ(Match(*store, "email", MatchOp::kExact, "new@example.org"),
            (std::vector<uint64_t>{1, 3, 4}));
  EXPECT_EQ(Match(*store, "email", MatchOp::kExact, "Alice@Example.org"), std::vector<uint64_t>{});
  auto status = store->KeyStatus();
  ASSERT_TRUE(status.ok());
  EXPECT_EQ(status->forgotten, 1u);
  EXPECT_EQ(status->live_by_version.at(1), 2u);  // bob and the new alice
}

TEST_F(ProtectTest, RotationRewrapsKeysAndOldTokensStillMatch) {
  Fill();
  const std::string both = std::string(kKey1) + kKey2;
  {
    auto store = Open(Keys(both));
    auto rewrapped = store->RewrapKeys();
    ASSERT_TRUE(rewrapped.ok()) << rewrapped.status().ToString();
    EXPECT_EQ(*rewrapped, 2u);
    auto status = store->KeyStatus();
    ASSERT_TRUE(status.ok());
    EXPECT_EQ(status->live_by_version.count(1), 0u);
    EXPECT_EQ(status->live_by_version.at(2), 2u);
    // New writes index under version 2; old tokens (version 1) still match.
    ASSERT_TRUE(store->Emit(PersonEvent("carol", "carol@example.org", "c", 30, "10.3.3.3")).ok());
    EXPECT_EQ(Match(*store, "email", MatchOp::kExact, "carol@example.org"),
              std::vector<uint64_t>{4});
    EXPECT_EQ(Match(*store, "email", MatchOp::kExact, "bob@example.org"), std::vector<uint64_t>{2});
    ASSERT_TRUE(store->Close().ok());
  }
  // Version 1 no longer wraps anything: a holder of version 2 alone reads it all.
  auto store = Open(Keys(kKey2));
  auto bob = store->EntityHistory("person", "bob");
  ASSERT_TRUE(bob.ok());
  EXPECT_EQ((*bob)[0].fields.at("note"), Value::Text("secret-bravo"));
  EXPECT_EQ(Match(*store, "email", MatchOp::kExact, "carol@example.org"), std::vector<uint64_t>{4});
}

TEST_F(ProtectTest, AForgetPurgedByRetentionStaysForgottenInARebuild) {
  {
    AuditOptions options;
    options.keys = Keys(kKey1);
    options.log.segment_size = 16 << 10;
    options.log.max_record_size = 8 << 10;
    auto opened = AuditStore::Open(dir_.log(), options);
    ASSERT_TRUE(opened.ok()) << opened.status().ToString();
    auto& store = *opened;
    ASSERT_TRUE(store->DefineType(PersonType()).ok());
    ASSERT_TRUE(store->RegisterColumn({"ip", FieldKind::kText, Protection::kHashed, ""}).ok());
    ASSERT_TRUE(store->Emit(PersonEvent("alice", "a@example.org", "gone", 1, "10.0.0.1")).ok());
    ASSERT_TRUE(store->Forget("person", "alice").ok());
    for (int i = 0; i < 400; ++i) {
      Event e = MakeEvent(EntityInput{"person", "bob", {}}, "m", {});
      e.content = Value::Text(std::string(100, 'x'));
      ASSERT_TRUE(store->Emit(e).ok());
    }
    RetentionPolicy policy;
    policy.max_bytes = 24 << 10;
    auto retained = store->Retain(policy);
    ASSERT_TRUE(retained.ok() && retained->purged) << retained.status().ToString();
    ASSERT_GT(retained->first_kept, 3u) << "the forget record must be purged";
    ASSERT_TRUE(store->Close().ok());
  }
  auto store = Open(Keys(kKey1), false, /*rebuild=*/true);
  ASSERT_NE(store, nullptr);
  auto history = store->EntityHistory("person", "alice");
  ASSERT_TRUE(history.ok()) << history.status().ToString();
  EXPECT_EQ(history->back().fields.at("email").hidden, Hidden::kErased);
  EXPECT_EQ(Match(*store, "email", MatchOp::kExact, "a@example.org"), std::vector<uint64_t>{});
}

// Writers sealing and readers opening values at once (run under TSan in CI:
// the key cache, the lazily opened key file and derived keys are shared).
TEST_F(ProtectTest, ConcurrentSealsReadsAndQueries) {
  Fill();
  auto store = Open(Keys(kKey1));
  ASSERT_NE(store, nullptr);
  std::atomic<bool> failed{false};
  std::vector<std::thread> threads;
  for (int w = 0; w < 2; ++w) {
    threads.emplace_back([&, w] {
      for (int i = 0; i < 100; ++i) {
        const std::string id = "w" + std::to_string(w) + "-" + std::to_string(i % 10);
        if (!store->Emit(PersonEvent(id, id + "@example.org", "n" + std::to_string(i), i, "ip"))
                 .ok()) {
          failed = true;
        }
      }
    });
  }
  for (int r = 0; r < 2; ++r) {
    threads.emplace_back([&] {
      for (int i = 0; i < 100; ++i) {
        auto bob = store->EntityHistory("person", "bob");
        if (!bob.ok() || (*bob)[0].fields.at("note") != Value::Text("secret-bravo")) failed = true;
        if (Match(*store, "email", MatchOp::kExact, "bob@example.org") !=
            std::vector<uint64_t>{2}) {
          failed = true;
        }
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_FALSE(failed.load());
  EXPECT_EQ(Match(*store, "email", MatchOp::kExact, "w1-3@example.org").size(), 10u);
}

// A process given only writer keys seals and matches protected fields, and
// catches its index up, but reads back no value it did not seal in this run.
TEST_F(ProtectTest, WriterKeysSealAndMatchButCannotRead) {
  Fill();
  auto writer_text = Keys(kKey1)->WriterKeys();
  ASSERT_TRUE(writer_text.ok());
  EXPECT_EQ(writer_text->find("000102030405"), std::string::npos) << "no master secret in it";
  auto writer = Keys(*writer_text);
  ASSERT_NE(writer, nullptr);
  EXPECT_FALSE(writer->CanRead());
  {
    auto store = Open(writer);
    ASSERT_NE(store, nullptr);
    auto bob = store->EntityHistory("person", "bob");
    ASSERT_TRUE(bob.ok()) << bob.status().ToString();
    EXPECT_EQ((*bob)[0].fields.at("email").hidden, Hidden::kLocked);
    EXPECT_EQ((*bob)[0].fields.at("note").hidden, Hidden::kLocked);
    EXPECT_EQ((*bob)[0].fields.at("ssn").hidden, Hidden::kHashed);
    EXPECT_EQ(Match(*store, "email", MatchOp::kExact, "bob@example.org"), std::vector<uint64_t>{2});
    EXPECT_EQ(Match(*store, "ssn", MatchOp::kExact, "ssn-of-alice"), (std::vector<uint64_t>{1, 3}));
    ASSERT_TRUE(
        store->Emit(PersonEvent("carol", "carol@example.org", "secret-c", 7, "10.7.7.7")).ok());
    EXPECT_EQ(Match(*store, "email", MatchOp::kPrefix, "car"), std::vector<uint64_t>{4});
    EXPECT_EQ(store->RewrapKeys().status().code(), Status::Code::kFailedPrecondition);
    ASSERT_TRUE(store->Close().ok());
  }
  // A rebuild with writer keys reads the tokens back: queries still match.
  {
    auto store = Open(writer, false, /*rebuild=*/true);
    ASSERT_NE(store, nullptr);
    EXPECT_EQ(Match(*store, "email", MatchOp::kExact, "carol@example.org"),
              std::vector<uint64_t>{4});
    auto carol = store->EntityHistory("person", "carol");
    ASSERT_TRUE(carol.ok());
    EXPECT_EQ((*carol)[0].fields.at("note").hidden, Hidden::kLocked) << "another run's value";
    // A second run gives the subject a key of its own.
    ASSERT_TRUE(
        store->Emit(PersonEvent("carol", "carol@example.org", "secret-c2", 7, "10.7.7.8")).ok());
    auto status = store->KeyStatus();
    ASSERT_TRUE(status.ok());
    EXPECT_EQ(status->live_by_version.at(1), 4u);  // alice, bob, carol twice
    ASSERT_TRUE(store->Close().ok());
  }
  // The master key reads what the writer sealed; forget takes every key.
  auto store = Open(Keys(kKey1));
  auto carol = store->EntityHistory("person", "carol");
  ASSERT_TRUE(carol.ok());
  EXPECT_EQ(carol->front().fields.at("note"), Value::Text("secret-c"));
  EXPECT_EQ(carol->back().fields.at("note"), Value::Text("secret-c2"));
  auto forgot = store->Forget("person", "carol");
  ASSERT_TRUE(forgot.ok());
  EXPECT_EQ(forgot->keys, 2u);
  EXPECT_EQ(Match(*store, "email", MatchOp::kExact, "carol@example.org"), std::vector<uint64_t>{});
}

// Any change to a sealed value — its body, tag, nonce, key id, or the field
// it is read as — fails authentication, never reads as another value.
TEST(ProtectorTest, TamperingWithASealedValueIsDetected) {
  TestDir dir;
  std::filesystem::create_directories(dir.log());
  audit::Protector protector(Keys(kKey1), Env::Default(), dir.log(), /*writable=*/true);
  const audit::Scope scope{'f', 2, 0};
  auto sealed = protector.Seal(Value::Text("ana@example.org"), Protection::kEncryptedIndexed, 2,
                               scope, 2, "p-1");
  ASSERT_TRUE(sealed.ok()) << sealed.status().ToString();
  auto shown = protector.Show(*sealed, scope);
  ASSERT_TRUE(shown.ok());
  EXPECT_EQ(*shown, Value::Text("ana@example.org"));
  // Read as another field, or another type: refused.
  EXPECT_TRUE(protector.Show(*sealed, audit::Scope{'f', 2, 1}).status().IsCorruption());
  EXPECT_TRUE(protector.Show(*sealed, audit::Scope{'c', 0, 0}).status().IsCorruption());
  audit::SealedParts parts;
  ASSERT_TRUE(audit::DecodeSealed(sealed->text, &parts).ok());
  const size_t key_at = parts.key_id.data() - sealed->text.data();
  const size_t nonce_at = parts.nonce.data() - sealed->text.data();
  const size_t value_at = parts.value_body.data() - sealed->text.data();
  const size_t token_at = parts.token_body.data() - sealed->text.data();
  for (size_t at :
       {key_at, nonce_at, nonce_at + 11, value_at, value_at + parts.value_body.size() - 1, token_at,
        token_at + parts.token_body.size() - 1}) {
    SCOPED_TRACE("byte " + std::to_string(at));
    Value bad = *sealed;
    bad.text[at] ^= 0x01;
    auto read = protector.Show(bad, scope);
    EXPECT_TRUE(read.status().IsCorruption()) << read.status().ToString();
    auto terms = audit::TermsOf(&protector, bad, scope);
    EXPECT_TRUE(terms.status().IsCorruption()) << terms.status().ToString();
  }
  // Nonces are never reused: every seal takes the next one of the session.
  std::set<std::string> nonces;
  for (int i = 0; i < 1000; ++i) {
    auto v = protector.Seal(Value::Text("same"), Protection::kEncrypted, 0, scope, 2, "p-1");
    ASSERT_TRUE(v.ok());
    ASSERT_TRUE(audit::DecodeSealed(v->text, &parts).ok());
    EXPECT_TRUE(nonces.insert(std::string(parts.nonce)).second);
  }
}

TEST_F(ProtectTest, SchemaRulesOfProtection) {
  auto store = Open(Keys(kKey1));
  ASSERT_TRUE(store->DefineType(PersonType()).ok());
  TypeSchema changed = PersonType();
  changed.fields[4].protection = Protection::kEncrypted;
  changed.fields[4].indexed = false;
  EXPECT_EQ(store->DefineType(changed).code(), Status::Code::kInvalidArgument);
  TypeSchema bad{"bad", {{"x", FieldKind::kText, false, true, Protection::kEncrypted, 0}}};
  EXPECT_EQ(store->DefineType(bad).code(), Status::Code::kInvalidArgument);
  bad.fields[0] = {"x", FieldKind::kText, false, true, Protection::kHashed, 4};
  EXPECT_EQ(store->DefineType(bad).code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(
      store->RegisterColumn({"c", FieldKind::kText, Protection::kEncryptedIndexed, ""}).code(),
      Status::Code::kInvalidArgument);
  EXPECT_EQ(
      store->RegisterColumn({"c", FieldKind::kText, Protection::kHashed, "nosuchtype"}).code(),
      Status::Code::kInvalidArgument);
  ASSERT_TRUE(store->RegisterColumn({"c", FieldKind::kText, Protection::kHashed, "person"}).ok());
  // A column sealed for a person target needs one.
  Event e = MakeEvent(Actor("admin"), "m", {});
  e.columns["c"] = Value::Text("v");
  EXPECT_EQ(store->Emit(e).status().code(), Status::Code::kInvalidArgument);
  e.targets.push_back(EntityInput{"person", "p1", {}});
  EXPECT_TRUE(store->Emit(e).ok());
  // A hidden value is never written.
  Event hidden = PersonEvent("dan", "d@x", "n", 1, "ip");
  hidden.actor.fields["note"].hidden = Hidden::kErased;
  EXPECT_EQ(store->Emit(hidden).status().code(), Status::Code::kInvalidArgument);
}

TEST_F(ProtectTest, AKeyedRetryOfAProtectedEventIsADuplicateAndItsFingerprintIsKeyed) {
  auto store = Open(Keys(kKey1));
  ASSERT_TRUE(store->DefineType(PersonType()).ok());
  ASSERT_TRUE(store->RegisterColumn({"ip", FieldKind::kText, Protection::kHashed, ""}).ok());
  Event e = PersonEvent("erin", "erin@example.org", "n", 3, "10.4.4.4");
  e.idempotency_key = "req-1";
  auto first = store->Emit(e);
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  auto again = store->Emit(e);
  ASSERT_TRUE(again.ok());
  EXPECT_TRUE(again->duplicate);
  EXPECT_EQ(again->log_id, first->log_id);
  e.actor.fields["note"] = Value::Text("other");
  EXPECT_EQ(store->Emit(e).status().code(), Status::Code::kConflict);
  // Reopened with another master key the fingerprint differs: the same
  // request conflicts rather than matching a plain hash anyone could test.
  ASSERT_TRUE(store->Close().ok());
  auto other = Open(Keys(kKey2));
  e.actor.fields["note"] = Value::Text("n");
  EXPECT_EQ(other->Emit(e).status().code(), Status::Code::kConflict);
}

}  // namespace
}  // namespace quipu::testing
