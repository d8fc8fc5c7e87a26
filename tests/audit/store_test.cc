// Behaviour of the audit store: registries, pinning, queries, schema
// evolution, validation and rebuild.
#include <gtest/gtest.h>

#include "audit_test_util.h"
#include "quipu/audit.h"
#include "test_dir.h"

namespace quipu::testing {
namespace {

class AuditStoreTest : public ::testing::Test {
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

  EmitResult MustEmit(const Event& e) {
    auto r = store_->Emit(e);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? *r : EmitResult{};
  }

  QueryPage MustQuery(const Query& q) {
    auto page = store_->Query(q);
    EXPECT_TRUE(page.ok()) << page.status().ToString();
    return page.ok() ? *page : QueryPage{};
  }

  void DefineUser() { ASSERT_TRUE(store_->DefineType(UserType()).ok()); }

  TestDir dir_;
  AuditOptions options_;
  std::unique_ptr<AuditStore> store_;
};

TEST_F(AuditStoreTest, BuiltInTypesExist) {
  auto types = store_->Types();
  ASSERT_EQ(types.size(), 2u);
  EXPECT_EQ(types[0].name, "default_actor");
  EXPECT_EQ(types[1].name, "default_target");
  ASSERT_EQ(types[1].fields.size(), 1u);
  EXPECT_EQ(types[1].fields[0].name, "name");
  EXPECT_TRUE(types[1].fields[0].indexed);
}

TEST_F(AuditStoreTest, ChangeMakesNewVersionUnchangedReusesIt) {
  DefineUser();
  auto r1 = MustEmit(MakeEvent(Actor("root"), "create", {User("u1", "alice")}));
  auto r2 = MustEmit(MakeEvent(Actor("root"), "touch", {User("u1", "alice")}));
  auto r3 = MustEmit(MakeEvent(Actor("root"), "rename", {User("u1", "alicia")}));
  EXPECT_EQ(r1.log_id, 1u);
  EXPECT_EQ(r2.log_id, 2u);
  EXPECT_EQ(r3.log_id, 3u);

  auto history = store_->EntityHistory("user", "u1");
  ASSERT_TRUE(history.ok()) << history.status().ToString();
  ASSERT_EQ(history->size(), 2u);
  EXPECT_EQ((*history)[0].version, 1u);
  EXPECT_EQ((*history)[0].fields.at("name").text, "alice");
  EXPECT_EQ((*history)[0].created_log_id, 1u);
  EXPECT_EQ((*history)[1].version, 2u);
  EXPECT_EQ((*history)[1].fields.at("name").text, "alicia");
  EXPECT_EQ((*history)[1].created_log_id, 3u);

  MustEmit(MakeEvent(Actor("root"), "create", {User("u2", "bob")}));
  auto list = store_->ListEntities("user");
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->size(), 2u);
  EXPECT_EQ((*list)[0].id, "u1");
  EXPECT_EQ((*list)[0].version, 2u);
  EXPECT_EQ((*list)[0].fields.at("name").text, "alicia");
  EXPECT_EQ((*list)[1].id, "u2");
  EXPECT_EQ((*list)[1].version, 1u);
}

TEST_F(AuditStoreTest, FieldsMergeOntoCurrentVersion) {
  DefineUser();
  MustEmit(MakeEvent(Actor("root"), "create", {User("u1", "alice")}));
  EntityInput age{"user", "u1", {{"age", Value::Number(30)}}};
  MustEmit(MakeEvent(Actor("root"), "set-age", {age}));
  // Naming the entity with no fields pins its current version.
  MustEmit(MakeEvent(Actor("root"), "look", {EntityInput{"user", "u1", {}}}));
  auto history = store_->EntityHistory("user", "u1");
  ASSERT_TRUE(history.ok());
  ASSERT_EQ(history->size(), 2u);
  EXPECT_EQ((*history)[1].fields.at("name").text, "alice");
  EXPECT_EQ((*history)[1].fields.at("age").number, 30);
  auto row = store_->GetRow(3);
  ASSERT_TRUE(row.ok());
  EXPECT_EQ(row->targets.at(0).version, 2u);
}

TEST_F(AuditStoreTest, RowKeepsVersionPinnedAtWriteTime) {
  DefineUser();
  MustEmit(MakeEvent(Actor("root", "Root"), "create", {User("u1", "alice")}));
  MustEmit(MakeEvent(Actor("root", "Superuser"), "rename", {User("u1", "alicia")}));
  auto first = store_->GetRow(1);
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(first->actor.fields.at("name").text, "Root");
  EXPECT_EQ(first->actor.version, 1u);
  ASSERT_EQ(first->targets.size(), 1u);
  EXPECT_EQ(first->targets[0].fields.at("name").text, "alice");
  EXPECT_EQ(first->targets[0].version, 1u);
  auto second = store_->GetRow(2);
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(second->actor.fields.at("name").text, "Superuser");
  EXPECT_EQ(second->targets[0].fields.at("name").text, "alicia");
}

TEST_F(AuditStoreTest, QueryFindsEntityByPastName) {
  DefineUser();
  MustEmit(MakeEvent(Actor("root"), "create", {User("u1", "alice")}));
  MustEmit(MakeEvent(Actor("root"), "rename", {User("u1", "alicia")}));
  MustEmit(MakeEvent(Actor("root"), "create", {User("u2", "bob")}));
  Query q;
  q.targets.push_back(EntityFilter{"user", "name", MatchOp::kExact, "alice"});
  // Both rows of u1 match, also the one written after the rename, and each
  // shows the version it pinned.
  auto page = MustQuery(q);
  EXPECT_EQ(LogIds(page), (std::vector<uint64_t>{2, 1}));
  EXPECT_EQ(page.hits[0].targets[0].fields.at("name").text, "alicia");
  EXPECT_EQ(page.hits[1].targets[0].fields.at("name").text, "alice");
}

TEST_F(AuditStoreTest, MatchOperatorsOnTargets) {
  DefineUser();
  MustEmit(MakeEvent(Actor("root"), "a", {User("u1", "Alice Smith")}));
  MustEmit(MakeEvent(Actor("root"), "b", {User("u2", "Bob Alison")}));
  MustEmit(MakeEvent(Actor("root"), "c", {User("u3", "alice smith")}));
  auto run = [&](MatchOp op, std::string value) {
    Query q;
    q.order = Order::kOldestFirst;
    q.targets.push_back(EntityFilter{"user", "name", op, std::move(value)});
    return LogIds(MustQuery(q));
  };
  EXPECT_EQ(run(MatchOp::kExact, "Alice Smith"), (std::vector<uint64_t>{1}));
  EXPECT_EQ(run(MatchOp::kExactCi, "ALICE SMITH"), (std::vector<uint64_t>{1, 3}));
  EXPECT_EQ(run(MatchOp::kPrefix, "Bob"), (std::vector<uint64_t>{2}));
  EXPECT_EQ(run(MatchOp::kContains, "Ali"), (std::vector<uint64_t>{1, 2}));
  EXPECT_EQ(run(MatchOp::kContains, "zzz"), (std::vector<uint64_t>{}));
  EXPECT_EQ(run(MatchOp::kExact, "Alice"), (std::vector<uint64_t>{}));
}

TEST_F(AuditStoreTest, MatchOperatorsOnActor) {
  MustEmit(MakeEvent(Actor("a1", "Carol"), "x", {}));
  MustEmit(MakeEvent(Actor("a2", "carl"), "x", {}));
  MustEmit(MakeEvent(Actor("a3", "Dave"), "x", {}));
  auto run = [&](std::string field, MatchOp op, std::string value) {
    Query q;
    q.order = Order::kOldestFirst;
    q.actor = EntityFilter{"default_actor", std::move(field), op, std::move(value)};
    return LogIds(MustQuery(q));
  };
  EXPECT_EQ(run("name", MatchOp::kExact, "Carol"), (std::vector<uint64_t>{1}));
  EXPECT_EQ(run("name", MatchOp::kExactCi, "CARL"), (std::vector<uint64_t>{2}));
  EXPECT_EQ(run("name", MatchOp::kPrefix, "Ca"), (std::vector<uint64_t>{1}));
  EXPECT_EQ(run("name", MatchOp::kContains, "a"), (std::vector<uint64_t>{1, 2, 3}));
  EXPECT_EQ(run("id", MatchOp::kExact, "a3"), (std::vector<uint64_t>{3}));
}

TEST_F(AuditStoreTest, NumberAndJsonFieldsMatch) {
  DefineUser();
  EntityInput u = User("u1", "alice");
  u.fields["age"] = Value::Number(42);
  u.fields["meta"] = Value::Json(R"({"team":"red"})");
  MustEmit(MakeEvent(Actor("root"), "create", {u}));
  MustEmit(MakeEvent(Actor("root"), "create", {User("u2", "bob")}));
  Query q;
  q.targets.push_back(EntityFilter{"user", "age", MatchOp::kExact, "42.0"});
  EXPECT_EQ(LogIds(MustQuery(q)), (std::vector<uint64_t>{1}));
  q.targets[0] = EntityFilter{"user", "meta", MatchOp::kContains, "\"red\""};
  EXPECT_EQ(LogIds(MustQuery(q)), (std::vector<uint64_t>{1}));
  q.targets[0] = EntityFilter{"user", "age", MatchOp::kPrefix, "4"};
  EXPECT_EQ(store_->Query(q).status().code(), Status::Code::kInvalidArgument);
  q.targets[0] = EntityFilter{"user", "age", MatchOp::kExact, "forty"};
  EXPECT_EQ(store_->Query(q).status().code(), Status::Code::kInvalidArgument);
}

TEST_F(AuditStoreTest, SeveralTargetFiltersMustAllMatch) {
  DefineUser();
  MustEmit(MakeEvent(Actor("root"), "link",
                     {User("u1", "alice"),
                      EntityInput{"default_target", "doc1", {{"name", Value::Text("report")}}}}));
  MustEmit(MakeEvent(Actor("root"), "view", {User("u1", "alice")}));
  Query q;
  q.targets.push_back(EntityFilter{"user", "name", MatchOp::kExact, "alice"});
  q.targets.push_back(EntityFilter{"default_target", "name", MatchOp::kExact, "report"});
  EXPECT_EQ(LogIds(MustQuery(q)), (std::vector<uint64_t>{1}));
}

TEST_F(AuditStoreTest, MethodTimeAndColumnFilters) {
  ASSERT_TRUE(store_->RegisterColumn(ColumnSpec{"tenant", FieldKind::kText}).ok());
  ASSERT_TRUE(store_->RegisterColumn(ColumnSpec{"status", FieldKind::kNumber}).ok());
  for (int i = 0; i < 6; ++i) {
    Event e = MakeEvent(Actor("root"), i % 2 ? "GET" : "POST", {}, 1000 * (i + 1));
    e.columns["tenant"] = Value::Text(i < 3 ? "acme" : "globex");
    if (i == 4) e.columns["status"] = Value::Number(404);
    MustEmit(e);
  }
  Query q;
  q.order = Order::kOldestFirst;
  q.method = "GET";
  EXPECT_EQ(LogIds(MustQuery(q)), (std::vector<uint64_t>{2, 4, 6}));
  q.method.reset();
  q.since_micros = 2000;
  q.until_micros = 4000;  // exclusive
  EXPECT_EQ(LogIds(MustQuery(q)), (std::vector<uint64_t>{2, 3}));
  q.since_micros.reset();
  q.until_micros.reset();
  q.columns["tenant"] = Value::Text("globex");
  EXPECT_EQ(LogIds(MustQuery(q)), (std::vector<uint64_t>{4, 5, 6}));
  q.columns["status"] = Value::Number(404);
  EXPECT_EQ(LogIds(MustQuery(q)), (std::vector<uint64_t>{5}));
  q.columns["status"] = Value::Text("404");
  EXPECT_EQ(store_->Query(q).status().code(), Status::Code::kInvalidArgument);
  q.columns.clear();
  q.columns["nope"] = Value::Text("x");
  EXPECT_EQ(store_->Query(q).status().code(), Status::Code::kInvalidArgument);
}

TEST_F(AuditStoreTest, OrdersByTimestampThenLogIdBothWays) {
  // Occurrence times out of log order, and a tie broken by log_id.
  MustEmit(MakeEvent(Actor("root"), "x", {}, 3000));
  MustEmit(MakeEvent(Actor("root"), "x", {}, 1000));
  MustEmit(MakeEvent(Actor("root"), "x", {}, 2000));
  MustEmit(MakeEvent(Actor("root"), "x", {}, 1000));
  Query q;
  EXPECT_EQ(LogIds(MustQuery(q)), (std::vector<uint64_t>{1, 3, 4, 2}));
  q.order = Order::kOldestFirst;
  EXPECT_EQ(LogIds(MustQuery(q)), (std::vector<uint64_t>{2, 4, 3, 1}));
}

TEST_F(AuditStoreTest, PaginationCoversEveryRowOnce) {
  for (int i = 0; i < 25; ++i) MustEmit(MakeEvent(Actor("root"), "x", {}, 1000 * (i % 7)));
  for (Order order : {Order::kNewestFirst, Order::kOldestFirst}) {
    Query q;
    q.order = order;
    q.limit = 4;
    auto ids = AllPages(*store_, q);
    q.limit = 1000;
    EXPECT_EQ(ids, LogIds(MustQuery(q)));
    EXPECT_EQ(ids.size(), 25u);
  }
  Query q;
  q.cursor = "garbage";
  EXPECT_EQ(store_->Query(q).status().code(), Status::Code::kInvalidArgument);
  q.cursor.clear();
  q.limit = 0;
  EXPECT_EQ(store_->Query(q).status().code(), Status::Code::kInvalidArgument);
}

TEST_F(AuditStoreTest, QueryOnFieldThatIsNotIndexedIsRefused) {
  DefineUser();
  Query q;
  q.targets.push_back(EntityFilter{"user", "email", MatchOp::kExact, "a@b"});
  auto page = store_->Query(q);
  ASSERT_EQ(page.status().code(), Status::Code::kInvalidArgument);
  EXPECT_NE(page.status().message().find("not indexed"), std::string::npos)
      << page.status().ToString();
  q.targets[0] = EntityFilter{"user", "nope", MatchOp::kExact, "a"};
  EXPECT_EQ(store_->Query(q).status().code(), Status::Code::kInvalidArgument);
  q.targets[0] = EntityFilter{"ghost", "name", MatchOp::kExact, "a"};
  page = store_->Query(q);
  ASSERT_EQ(page.status().code(), Status::Code::kInvalidArgument);
  EXPECT_NE(page.status().message().find("unknown entity type 'ghost'"), std::string::npos);
}

TEST_F(AuditStoreTest, SchemaEvolutionIsAdditiveOnly) {
  DefineUser();
  MustEmit(MakeEvent(Actor("root"), "create", {User("u1", "alice")}));

  TypeSchema removed = UserType();
  removed.fields.erase(removed.fields.begin() + 1);  // email
  Status s = store_->DefineType(removed);
  EXPECT_EQ(s.code(), Status::Code::kInvalidArgument);
  EXPECT_NE(s.message().find("'email' cannot be removed"), std::string::npos) << s.ToString();

  TypeSchema retyped = UserType();
  retyped.fields[2].kind = FieldKind::kText;  // age: number -> text
  s = store_->DefineType(retyped);
  EXPECT_EQ(s.code(), Status::Code::kInvalidArgument);
  EXPECT_NE(s.message().find("cannot become text"), std::string::npos) << s.ToString();

  TypeSchema required = UserType();
  required.fields.push_back(FieldSpec{"dept", FieldKind::kText, true, false});
  s = store_->DefineType(required);
  EXPECT_EQ(s.code(), Status::Code::kInvalidArgument);
  EXPECT_NE(s.message().find("entities already exist"), std::string::npos) << s.ToString();

  const uint64_t lsn_before = store_->log()->LastLsn();
  ASSERT_TRUE(store_->DefineType(UserType()).ok());  // identical: no record
  EXPECT_EQ(store_->log()->LastLsn(), lsn_before);

  TypeSchema added = UserType();
  added.fields.insert(added.fields.begin(), FieldSpec{"dept", FieldKind::kText, false, true});
  added.fields[2].indexed = true;  // email becomes queryable
  ASSERT_TRUE(store_->DefineType(added).ok());
  auto schema = store_->GetType("user");
  ASSERT_TRUE(schema.ok());
  ASSERT_EQ(schema->fields.size(), 5u);
  EXPECT_EQ(schema->fields[4].name, "dept");  // appended, old positions kept

  EntityInput u = User("u2", "bob");
  u.fields["dept"] = Value::Text("ops");
  u.fields["email"] = Value::Text("bob@example.com");
  MustEmit(MakeEvent(Actor("root"), "create", {u}));
  Query q;
  q.targets.push_back(EntityFilter{"user", "dept", MatchOp::kExact, "ops"});
  EXPECT_EQ(LogIds(MustQuery(q)), (std::vector<uint64_t>{2}));
  q.targets[0] = EntityFilter{"user", "email", MatchOp::kExact, "bob@example.com"};
  EXPECT_EQ(LogIds(MustQuery(q)), (std::vector<uint64_t>{2}));

  // The built-ins evolve the same way.
  TypeSchema actor{"default_actor",
                   {FieldSpec{"name", FieldKind::kText, false, true},
                    FieldSpec{"role", FieldKind::kText, false, true}}};
  EXPECT_TRUE(store_->DefineType(actor).ok());
  Reopen();
  schema = store_->GetType("user");
  ASSERT_TRUE(schema.ok());
  EXPECT_EQ(schema->fields.size(), 5u);
  EXPECT_EQ(store_->GetType("default_actor")->fields.size(), 2u);
}

TEST_F(AuditStoreTest, NewRequiredFieldAllowedBeforeEntitiesExist) {
  DefineUser();
  TypeSchema required = UserType();
  required.fields.push_back(FieldSpec{"dept", FieldKind::kText, true, false});
  EXPECT_TRUE(store_->DefineType(required).ok());
}

TEST_F(AuditStoreTest, InvalidEventsWriteNothing) {
  DefineUser();
  ASSERT_TRUE(store_->RegisterColumn(ColumnSpec{"tenant", FieldKind::kText}).ok());
  const uint64_t lsn_before = store_->log()->LastLsn();
  auto expect_refused = [&](const Event& e, std::string_view needle) {
    auto r = store_->Emit(e);
    ASSERT_EQ(r.status().code(), Status::Code::kInvalidArgument) << needle;
    EXPECT_NE(r.status().message().find(needle), std::string::npos) << r.status().ToString();
  };
  expect_refused(MakeEvent(Actor("root"), "x", {EntityInput{"ghost", "g1", {}}}),
                 "unknown entity type 'ghost'");
  expect_refused(MakeEvent(Actor("root"), "x", {EntityInput{"user", "u1", {}}}),
                 "lacks required field 'name'");
  EntityInput wrong = User("u1", "alice");
  wrong.fields["age"] = Value::Text("old");
  expect_refused(MakeEvent(Actor("root"), "x", {wrong}), "is number, got text");
  EntityInput bad_json = User("u1", "alice");
  bad_json.fields["meta"] = Value::Json("{\"a\":}");
  expect_refused(MakeEvent(Actor("root"), "x", {bad_json}), "invalid JSON");
  EntityInput unknown_field = User("u1", "alice");
  unknown_field.fields["shoe"] = Value::Text("42");
  expect_refused(MakeEvent(Actor("root"), "x", {unknown_field}), "has no field 'shoe'");
  Event column = MakeEvent(Actor("root"), "x", {User("u1", "alice")});
  column.columns["region"] = Value::Text("eu");
  expect_refused(column, "unknown column 'region'");
  column.columns.clear();
  column.columns["tenant"] = Value::Number(1);
  expect_refused(column, "column 'tenant' is text");
  Event content = MakeEvent(Actor("root"), "x", {});
  content.content = Value::Json("[1,2");
  expect_refused(content, "invalid JSON");
  expect_refused(MakeEvent(Actor("root"), "x", {User("u1", "a"), User("u1", "b")}),
                 "appears twice");
  expect_refused(MakeEvent(Actor(""), "x", {}), "entity id");
  // None of it reached the log or the registries.
  EXPECT_EQ(store_->log()->LastLsn(), lsn_before);
  EXPECT_EQ(store_->LastLogId(), 0u);
  EXPECT_TRUE(store_->ListEntities("user")->empty());
  EXPECT_TRUE(store_->ListEntities("default_actor")->empty());
}

TEST_F(AuditStoreTest, ReopenRebuildsIdenticalState) {
  DefineUser();
  ASSERT_TRUE(store_->RegisterColumn(ColumnSpec{"tenant", FieldKind::kText}).ok());
  for (int i = 0; i < 50; ++i) {
    Event e = MakeEvent(Actor("a" + std::to_string(i % 3), "actor" + std::to_string(i % 5)),
                        i % 2 ? "GET" : "POST",
                        {User("u" + std::to_string(i % 7), "name" + std::to_string(i % 4)),
                         EntityInput{"default_target", "t" + std::to_string(i % 2), {}}},
                        1000 * (50 - i));
    e.columns["tenant"] = Value::Text(i % 2 ? "x" : "y");
    e.content = i % 3 ? Value::Text("hello") : Value::Json("{\"i\":" + std::to_string(i) + "}");
    MustEmit(e);
  }
  auto snapshot = [&] {
    std::vector<std::string> out;
    Query q;
    q.limit = 1000;
    for (const Hit& h : MustQuery(q).hits) {
      std::string line = std::to_string(h.log_id) + "@" + std::to_string(h.lsn) + " " +
                         std::to_string(h.timestamp_micros) + " " + h.actor.id + "v" +
                         std::to_string(h.actor.version) + " " + h.method + " " + h.url + " " +
                         (h.content ? h.content->ToString() : "-") + " " +
                         h.columns.at("tenant").text;
      for (const auto& t : h.targets) {
        line += " " + t.type + "/" + t.id + "v" + std::to_string(t.version);
        for (const auto& [k, v] : t.fields) line += "," + k + "=" + v.ToString();
      }
      out.push_back(line);
    }
    for (const auto& type : store_->Types()) {
      auto entities = store_->ListEntities(type.name);
      for (const auto& e : *entities) {
        auto history = store_->EntityHistory(type.name, e.id);
        for (const auto& v : *history) {
          std::string line = type.name + "/" + v.id + "v" + std::to_string(v.version) + "@" +
                             std::to_string(v.created_log_id);
          for (const auto& [k, val] : v.fields) line += "," + k + "=" + val.ToString();
          out.push_back(line);
        }
      }
    }
    return out;
  };
  auto before = snapshot();
  ASSERT_GT(before.size(), 50u);
  Reopen();
  EXPECT_EQ(snapshot(), before);
  EXPECT_EQ(store_->LastLogId(), 50u);
  EXPECT_EQ(store_->Columns().size(), 1u);
  // And it keeps writing where it left off.
  EXPECT_EQ(MustEmit(MakeEvent(Actor("a0"), "x", {})).log_id, 51u);
}

TEST_F(AuditStoreTest, LsnOfLogIdAndGetRow) {
  ASSERT_TRUE(store_->DefineType(UserType()).ok());  // LSN 1
  auto r = MustEmit(MakeEvent(Actor("root"), "x", {}));
  auto lsn = store_->LsnOfLogId(r.log_id);
  ASSERT_TRUE(lsn.ok());
  EXPECT_EQ(*lsn, r.lsn);
  EXPECT_EQ(r.lsn, 2u);
  EXPECT_EQ(store_->LsnOfLogId(2).status().code(), Status::Code::kNotFound);
  EXPECT_EQ(store_->GetRow(0).status().code(), Status::Code::kNotFound);
}

TEST_F(AuditStoreTest, BufferedEmitBecomesDurableOnWait) {
  options_.log.durability = DurabilityPolicy::OsManaged();
  Reopen();
  auto r = store_->Emit(MakeEvent(Actor("root"), "x", {}), Durability::kBuffered);
  ASSERT_TRUE(r.ok());
  ASSERT_TRUE(store_->WaitDurable(r->lsn).ok());
  EXPECT_GE(store_->DurableLsn(), r->lsn);
}

TEST_F(AuditStoreTest, CloseRefusesWrites) {
  ASSERT_TRUE(store_->Close().ok());
  EXPECT_EQ(store_->Emit(MakeEvent(Actor("root"), "x", {})).status().code(),
            Status::Code::kFailedPrecondition);
  store_.reset();
  Reopen();
}

TEST_F(AuditStoreTest, ReadOnlyOpenRunsBesideTheWriterAndRefusesWrites) {
  DefineUser();
  MustEmit(MakeEvent(Actor("root"), "user.create", {User("1", "ann")}));
  MustEmit(MakeEvent(Actor("root"), "user.rename", {User("1", "anna")}));
  AuditOptions read_only;
  read_only.read_only = true;
  auto reader = AuditStore::Open(dir_.log(), read_only);  // the writer holds the lock
  ASSERT_TRUE(reader.ok()) << reader.status().ToString();
  AuditStore& ro = **reader;

  EXPECT_EQ(ro.LastLogId(), 2u);
  EXPECT_EQ(AllPages(ro, Query{}), AllPages(*store_, Query{}));
  auto history = ro.EntityHistory("user", "1");
  ASSERT_TRUE(history.ok());
  EXPECT_EQ(history->size(), 2u);
  EXPECT_TRUE(ro.GetType("user").ok());
  EXPECT_EQ(ro.log(), nullptr);
  EXPECT_EQ(ro.DurableLsn(), 0u);

  const auto refused = Status::Code::kFailedPrecondition;
  EXPECT_EQ(ro.Emit(MakeEvent(Actor("root"), "x", {})).status().code(), refused);
  EXPECT_EQ(ro.DefineType(UserType()).code(), refused);
  EXPECT_EQ(ro.RegisterColumn(ColumnSpec{"tenant", FieldKind::kText}).code(), refused);
  EXPECT_EQ(ro.WaitDurable(1).code(), refused);

  // A snapshot: what the writer adds later is not in it.
  MustEmit(MakeEvent(Actor("root"), "user.delete", {User("1", "anna")}));
  EXPECT_EQ(ro.LastLogId(), 2u);
  EXPECT_TRUE(ro.Close().ok());
  EXPECT_EQ(store_->LastLogId(), 3u);
}

TEST_F(AuditStoreTest, ReadOnlyOpenOfAMissingStoreIsNotFound) {
  AuditOptions read_only;
  read_only.read_only = true;
  auto reader = AuditStore::Open(dir_.log() + "-missing", read_only);
  ASSERT_FALSE(reader.ok());
  EXPECT_EQ(reader.status().code(), Status::Code::kNotFound) << reader.status().ToString();
}

TEST_F(AuditStoreTest, ForeignRecordFailsOpen) {
  ASSERT_TRUE(store_->Close().ok());
  store_.reset();
  {
    LogOptions options;
    options.kind = LogKind::kAuditStore;  // a writer that lies about its records
    auto log = Log::Open(dir_.log(), options);
    ASSERT_TRUE(log.ok()) << log.status().ToString();
    ASSERT_TRUE((*log)->Append("plain text").ok());
    ASSERT_TRUE((*log)->Close().ok());
  }
  auto s = AuditStore::Open(dir_.log(), options_);
  ASSERT_FALSE(s.ok());
  EXPECT_TRUE(s.status().IsCorruption()) << s.status().ToString();
  EXPECT_NE(s.status().message().find("LSN 1"), std::string::npos) << s.status().ToString();
}

// The log of an audit store takes no plain records, and an audit store
// opens no plain log, for writing or reading: each kind is recorded in the
// segment headers.
TEST_F(AuditStoreTest, PlainWriterIsRefusedAndTheStoreStaysUsable) {
  ASSERT_TRUE(store_->Close().ok());
  store_.reset();
  auto plain = Log::Open(dir_.log(), LogOptions{});
  ASSERT_FALSE(plain.ok());
  EXPECT_EQ(plain.status().code(), Status::Code::kFailedPrecondition) << plain.status().ToString();
  EXPECT_NE(plain.status().message().find("audit store"), std::string::npos);
  auto reopened = AuditStore::Open(dir_.log(), options_);
  ASSERT_TRUE(reopened.ok()) << reopened.status().ToString();
  EXPECT_TRUE((*reopened)->Close().ok());
}

TEST_F(AuditStoreTest, PlainLogIsNotAnAuditStore) {
  TestDir other;
  {
    auto log = Log::Open(other.log(), LogOptions{});
    ASSERT_TRUE(log.ok());
    ASSERT_TRUE((*log)->Append("plain text").ok());
    ASSERT_TRUE((*log)->Close().ok());
  }
  auto writer = AuditStore::Open(other.log(), options_);
  ASSERT_FALSE(writer.ok());
  EXPECT_EQ(writer.status().code(), Status::Code::kFailedPrecondition);
  AuditOptions read_only;
  read_only.read_only = true;
  auto reader = AuditStore::Open(other.log(), read_only);
  ASSERT_FALSE(reader.ok());
  EXPECT_EQ(reader.status().code(), Status::Code::kFailedPrecondition);
  EXPECT_NE(reader.status().message().find("plain log"), std::string::npos)
      << reader.status().ToString();
}

}  // namespace
}  // namespace quipu::testing
