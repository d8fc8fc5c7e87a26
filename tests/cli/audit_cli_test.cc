// Black-box tests of the audit verbs of the `quipu` binary: emit,
// define-type, define-column, types, query, history, entities.
#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "cli/cli_runner.h"
#include "quipu/audit.h"

namespace quipu {
namespace {

using clitest::RunResult;
namespace fs = std::filesystem;
using clitest::SplitLines;
using nlohmann::json;

constexpr char kUser[] =
    R"({"name":"user","fields":[{"name":"email","kind":"text","indexed":true},)"
    R"({"name":"age","kind":"number"}]})";
constexpr char kDocument[] =
    R"({"name":"document","fields":[{"name":"title","kind":"text","required":true,)"
    R"("indexed":true},{"name":"meta","kind":"json"}]})";

class AuditCliTest : public clitest::CliFixture {
 protected:
  // A store with types user and document and a text column "tenant".
  void DefineSchema() {
    ASSERT_EQ(Run({"define-type", dir_, "--json", kUser}).exit_code, 0);
    ASSERT_EQ(Run({"define-type", dir_, "--json", kDocument}).exit_code, 0);
    ASSERT_EQ(Run({"define-column", dir_, "tenant", "text"}).exit_code, 0);
  }

  RunResult Emit(const json& event) { return Run({"emit", dir_, "--json", event.dump()}); }

  // The hits of one query page; the last line must be the cursor line.
  std::vector<json> Query(std::vector<std::string> args, std::string* cursor = nullptr) {
    args.insert(args.begin(), {"query", dir_, "--json"});
    RunResult r = Run(args);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    std::vector<std::string> lines = SplitLines(r.out);
    std::vector<json> hits;
    if (lines.empty()) {
      ADD_FAILURE() << "no cursor line";
      return hits;
    }
    for (size_t i = 0; i + 1 < lines.size(); i++) hits.push_back(json::parse(lines[i]));
    json last = json::parse(lines.back());
    EXPECT_TRUE(last.contains("next_cursor")) << lines.back();
    if (cursor != nullptr) *cursor = last["next_cursor"].is_null() ? "" : last["next_cursor"];
    return hits;
  }

  size_t EventCount() { return Query({"--limit", "10000"}).size(); }
};

json DocEvent(const std::string& user, const std::string& doc, const std::string& title) {
  return {{"actor", {{"type", "user"}, {"id", user}}},
          {"method", "document.update"},
          {"targets", {{{"type", "document"}, {"id", doc}, {"fields", {{"title", title}}}}}}};
}

TEST_F(AuditCliTest, EmitThenQueryReturnsExactlyWhatWasEmitted) {
  DefineSchema();
  json event = json::parse(R"({
    "actor": {"type": "user", "id": "42", "fields": {"email": "ada@example.org", "age": 36}},
    "method": "document.update", "url": "/docs/7", "content": {"diff": [1, 2.5, "x"]},
    "targets": [{"type": "document", "id": "7",
                 "fields": {"title": "Q3 plan", "meta": {"tags": ["a"], "n": null}}}],
    "columns": {"tenant": "acme"}, "occurred_at": "2024-05-01T14:00:00.25+02:00"})");
  RunResult emitted = Emit(event);
  ASSERT_EQ(emitted.exit_code, 0) << emitted.err;
  EXPECT_EQ(emitted.out, "appended 1\ndurable 1\n");

  std::vector<json> hits = Query({"--target", "document.title=Q3 plan"});
  ASSERT_EQ(hits.size(), 1u);
  json hit = hits[0];
  EXPECT_EQ(hit["log_id"], 1);
  EXPECT_EQ(hit["timestamp"], "2024-05-01T12:00:00.250000Z");
  json actor = event["actor"];
  actor["version"] = 1;
  EXPECT_EQ(hit["actor"], actor);
  json target = event["targets"][0];
  target["version"] = 1;
  EXPECT_EQ(hit["targets"], json::array({target}));
  EXPECT_EQ(hit["method"], event["method"]);
  EXPECT_EQ(hit["url"], event["url"]);
  EXPECT_EQ(hit["content"], event["content"]);
  EXPECT_EQ(hit["columns"], event["columns"]);
}

TEST_F(AuditCliTest, OccurredAtTakesIntegerMicroseconds) {
  DefineSchema();
  json event = DocEvent("1", "7", "t");
  event["occurred_at"] = 1714564800000001;
  ASSERT_EQ(Emit(event).exit_code, 0);
  std::vector<json> hits = Query({});
  ASSERT_EQ(hits.size(), 1u);
  EXPECT_EQ(hits[0]["timestamp"], "2024-05-01T12:00:00.000001Z");
}

TEST_F(AuditCliTest, TypesListsDefinitionsAndColumns) {
  DefineSchema();
  RunResult r = Run({"types", dir_, "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  json types = json::parse(r.out);
  std::set<std::string> names;
  for (const json& t : types["types"]) names.insert(t["name"]);
  EXPECT_EQ(names, (std::set<std::string>{"default_actor", "default_target", "user", "document"}));
  EXPECT_EQ(types["types"].back(), json::parse(R"({"name":"document","fields":[
      {"name":"title","kind":"text","required":true,"indexed":true},
      {"name":"meta","kind":"json","required":false,"indexed":false}]})"));
  EXPECT_EQ(types["columns"], json::parse(R"([{"name":"tenant","kind":"text"}])"));

  RunResult text = Run({"types", dir_});
  ASSERT_EQ(text.exit_code, 0);
  EXPECT_NE(text.out.find("document"), std::string::npos);
  EXPECT_NE(text.out.find("tenant"), std::string::npos);
}

TEST_F(AuditCliTest, HistoryAndEntitiesShowEveryVersion) {
  DefineSchema();
  ASSERT_EQ(Emit(DocEvent("1", "7", "Draft")).exit_code, 0);
  ASSERT_EQ(Emit(DocEvent("1", "7", "Final")).exit_code, 0);
  ASSERT_EQ(Emit(DocEvent("1", "8", "Other")).exit_code, 0);

  RunResult history = Run({"history", dir_, "document", "7", "--json"});
  ASSERT_EQ(history.exit_code, 0) << history.err;
  std::vector<std::string> lines = SplitLines(history.out);
  ASSERT_EQ(lines.size(), 2u);
  json v1 = json::parse(lines[0]), v2 = json::parse(lines[1]);
  EXPECT_EQ(v1["version"], 1);
  EXPECT_EQ(v1["fields"], json({{"title", "Draft"}}));
  EXPECT_EQ(v1["created_log_id"], 1);
  EXPECT_EQ(v2["version"], 2);
  EXPECT_EQ(v2["fields"], json({{"title", "Final"}}));
  EXPECT_EQ(v2["created_log_id"], 2);

  RunResult entities = Run({"entities", dir_, "document", "--json"});
  ASSERT_EQ(entities.exit_code, 0) << entities.err;
  lines = SplitLines(entities.out);
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(json::parse(lines[0])["version"], 2);
  EXPECT_EQ(json::parse(lines[1])["id"], "8");

  RunResult text = Run({"history", dir_, "document", "7"});
  ASSERT_EQ(text.exit_code, 0);
  EXPECT_NE(text.out.find("document:7@v2"), std::string::npos) << text.out;
}

TEST_F(AuditCliTest, EntitiesPageWithLimitAndCursor) {
  DefineSchema();
  for (const char* doc : {"a", "b", "c"}) ASSERT_EQ(Emit(DocEvent("1", doc, doc)).exit_code, 0);
  RunResult first = Run({"entities", dir_, "document", "--json", "--limit", "2"});
  ASSERT_EQ(first.exit_code, 0) << first.err;
  std::vector<std::string> lines = SplitLines(first.out);
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(json::parse(lines[1])["id"], "b");
  const std::string prefix = "next page: --cursor ";
  ASSERT_EQ(first.err.rfind(prefix, 0), 0u) << first.err;
  const std::string cursor = SplitLines(first.err)[0].substr(prefix.size());
  RunResult second =
      Run({"entities", dir_, "document", "--json", "--limit", "2", "--cursor", cursor});
  ASSERT_EQ(second.exit_code, 0) << second.err;
  lines = SplitLines(second.out);
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(json::parse(lines[0])["id"], "c");
  EXPECT_EQ(second.err, "");  // the last page names no next one
  EXPECT_NE(Run({"entities", dir_, "document", "--limit", "0"}).exit_code, 0);
  EXPECT_NE(Run({"entities", dir_, "document", "--cursor", cursor}).exit_code, 0);  // needs --limit
}

TEST_F(AuditCliTest, ReindexRebuildsTheIndexAndAMissingOneIsRebuiltOnOpen) {
  DefineSchema();
  ASSERT_EQ(Emit(DocEvent("1", "7", "Draft")).exit_code, 0);
  ASSERT_EQ(Emit(DocEvent("1", "7", "Final")).exit_code, 0);
  const std::vector<json> before = Query({"--target", "document.title=Draft"});
  ASSERT_EQ(before.size(), 2u);

  RunResult reindex = Run({"reindex", dir_});
  ASSERT_EQ(reindex.exit_code, 0) << reindex.err;
  EXPECT_EQ(reindex.out.rfind("reindexed " + dir_ + ": 5 records in ", 0), 0u) << reindex.out;
  EXPECT_EQ(Query({"--target", "document.title=Draft"}), before);

  // Without an index, the read verbs say how to get one; the next writer
  // rebuilds it and says so on stderr.
  fs::remove_all(dir_ + "/index");
  RunResult read = Run({"query", dir_});
  EXPECT_NE(read.exit_code, 0);
  EXPECT_NE(read.err.find("quipu reindex"), std::string::npos) << read.err;
  RunResult write = Emit(DocEvent("2", "8", "Other"));
  ASSERT_EQ(write.exit_code, 0) << write.err;
  EXPECT_NE(write.err.find("index of " + dir_ + " rebuilt from 5 records of the log (missing)"),
            std::string::npos)
      << write.err;
  EXPECT_EQ(Query({"--target", "document.title=Draft"}), before);
  EXPECT_EQ(EventCount(), 3u);

  // A mistyped directory is an error, never a new empty store.
  const std::string missing = dir_ + "-missing";
  RunResult typo = Run({"reindex", missing});
  EXPECT_NE(typo.exit_code, 0);
  EXPECT_NE(typo.err.find("Not found"), std::string::npos) << typo.err;
  EXPECT_FALSE(fs::exists(missing));
}

TEST_F(AuditCliTest, RowsPinTheVersionOfTheirTimeAndFiltersMatchAnyVersion) {
  DefineSchema();
  ASSERT_EQ(Emit(DocEvent("1", "7", "Draft")).exit_code, 0);
  ASSERT_EQ(Emit(DocEvent("1", "7", "Final")).exit_code, 0);
  // The old title still finds the document, and so both of its rows.
  std::vector<json> hits = Query({"--target", "document.title=Draft", "--oldest-first"});
  ASSERT_EQ(hits.size(), 2u);
  EXPECT_EQ(hits[0]["targets"][0]["fields"]["title"], "Draft");
  EXPECT_EQ(hits[0]["targets"][0]["version"], 1);
  EXPECT_EQ(hits[1]["targets"][0]["fields"]["title"], "Final");
  EXPECT_EQ(hits[1]["targets"][0]["version"], 2);
}

TEST_F(AuditCliTest, QueryOperatorsAndFilters) {
  DefineSchema();
  json a = DocEvent("1", "7", "Quarterly Plan");
  a["occurred_at"] = "2024-01-01T00:00:00Z";
  a["columns"] = {{"tenant", "acme"}};
  json b = DocEvent("2", "8", "Budget");
  b["occurred_at"] = "2024-02-01T00:00:00Z";
  b["method"] = "document.read";
  b["actor"]["fields"] = {{"email", "bob@example.org"}};
  ASSERT_EQ(Emit(a).exit_code, 0);
  ASSERT_EQ(Emit(b).exit_code, 0);

  auto ids = [&](std::vector<std::string> args) {
    std::vector<int> out;
    for (const json& hit : Query(args)) out.push_back(hit["log_id"]);
    return out;
  };
  EXPECT_EQ(ids({"--target-contains", "document.title=ly Pl"}), std::vector<int>{1});
  EXPECT_EQ(ids({"--target-prefix", "document.title=Bud"}), std::vector<int>{2});
  EXPECT_EQ(ids({"--target-ci", "document.title=quarterly plan"}), std::vector<int>{1});
  EXPECT_EQ(ids({"--target", "document.title=quarterly plan"}), std::vector<int>{});
  EXPECT_EQ(ids({"--target", "document.id=8"}), std::vector<int>{2});
  EXPECT_EQ(ids({"--actor", "user.email=bob@example.org"}), std::vector<int>{2});
  EXPECT_EQ(ids({"--actor-prefix", "user.id=1"}), std::vector<int>{1});
  EXPECT_EQ(ids({"--method", "document.read"}), std::vector<int>{2});
  EXPECT_EQ(ids({"--since", "2024-01-15"}), std::vector<int>{2});
  EXPECT_EQ(ids({"--until", "2024-01-15T00:00:00Z"}), std::vector<int>{1});
  EXPECT_EQ(ids({"--column", "tenant=acme"}), std::vector<int>{1});
  EXPECT_EQ(ids({}), (std::vector<int>{2, 1}));
  EXPECT_EQ(ids({"--oldest-first"}), (std::vector<int>{1, 2}));
}

TEST_F(AuditCliTest, CursorPagesVisitEveryRowOnceInOrder) {
  DefineSchema();
  std::string input;
  for (int i = 0; i < 25; i++) input += DocEvent("1", std::to_string(i), "t").dump() + "\n";
  ASSERT_EQ(Run({"emit", dir_, "--stdin", "--durability", "os"}, input).exit_code, 0);

  for (bool oldest_first : {false, true}) {
    std::vector<int> seen;
    std::string cursor;
    int pages = 0;
    do {
      std::vector<std::string> args = {"--limit", "10"};
      if (oldest_first) args.push_back("--oldest-first");
      if (!cursor.empty()) args.insert(args.end(), {"--cursor", cursor});
      for (const json& hit : Query(args, &cursor)) seen.push_back(hit["log_id"]);
      ASSERT_LT(++pages, 10) << "cursor never ends";
    } while (!cursor.empty());
    EXPECT_EQ(pages, 3);
    ASSERT_EQ(seen.size(), 25u);
    for (int i = 0; i < 25; i++) EXPECT_EQ(seen[i], oldest_first ? i + 1 : 25 - i);
  }
}

TEST_F(AuditCliTest, TextQueryShowsRowsAndTheNextCursor) {
  DefineSchema();
  ASSERT_EQ(Emit(DocEvent("1", "7", "a")).exit_code, 0);
  ASSERT_EQ(Emit(DocEvent("1", "8", "b")).exit_code, 0);
  RunResult r = Run({"query", dir_, "--limit", "1"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("document:8@v1"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("next page: --cursor "), std::string::npos) << r.out;
}

// Checks ack lines: "appended 1..n" in order, each "durable k" after
// "appended k", never moving back, the last one n.
void ExpectAcks(const std::string& out, int n) {
  int appended = 0, durable = 0;
  for (const std::string& line : SplitLines(out)) {
    if (line.rfind("appended ", 0) == 0) {
      EXPECT_EQ(std::stoi(line.substr(9)), ++appended) << line;
    } else if (line.rfind("durable ", 0) == 0) {
      int id = std::stoi(line.substr(8));
      EXPECT_GT(id, durable) << line;
      EXPECT_LE(id, appended) << "durable before appended: " << line;
      durable = id;
    } else {
      ADD_FAILURE() << "unexpected line: " << line;
    }
  }
  EXPECT_EQ(appended, n);
  EXPECT_EQ(durable, n);
}

TEST_F(AuditCliTest, EmitStdinAcksEveryEventUnderEachPolicy) {
  DefineSchema();
  int total = 0;
  for (const char* policy : {"always", "every:3", "every:3,5", "group", "group:1", "os"}) {
    SCOPED_TRACE(policy);
    std::string input;
    for (int i = 0; i < 10; i++) input += DocEvent("1", "7", "t").dump() + "\n\n";
    RunResult r = Run({"emit", dir_, "--stdin", "--durability", policy}, input);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    // log_ids continue across runs; shift them so each run checks as 1..10.
    std::string shifted;
    for (const std::string& line : SplitLines(r.out)) {
      size_t space = line.find(' ');
      shifted +=
          line.substr(0, space + 1) + std::to_string(std::stoi(line.substr(space)) - total) + "\n";
    }
    ExpectAcks(shifted, 10);
    total += 10;
  }
  EXPECT_EQ(EventCount(), 60u);
}

TEST_F(AuditCliTest, EmitStdinStopsAtTheFirstBadLineNamingIt) {
  DefineSchema();
  std::string input = DocEvent("1", "7", "a").dump() + "\n" + DocEvent("1", "8", "b").dump() +
                      "\n{\"actor\": oops}\n" + DocEvent("1", "9", "c").dump() + "\n";
  RunResult r = Run({"emit", dir_, "--stdin"}, input);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("line 3"), std::string::npos) << r.err;
  EXPECT_EQ(SplitLines(r.err).size(), 1u) << r.err;
  ExpectAcks(r.out, 2);
  EXPECT_EQ(EventCount(), 2u);
}

struct BadEvent {
  const char* name;
  const char* event;
  const char* message;  // a piece of the one-line error
};

TEST_F(AuditCliTest, BadEventsAreRefusedWithOneLineAndWriteNothing) {
  DefineSchema();
  ASSERT_EQ(Emit(DocEvent("1", "7", "a")).exit_code, 0);
  const BadEvent cases[] = {
      {"bad JSON", R"({"actor": )", "invalid JSON"},
      {"not an object", R"([1, 2])", "must be a JSON object"},
      {"unknown key", R"({"actor": {"type": "user", "id": "1"}, "target": []})", "'target'"},
      {"no actor", R"({"method": "x"})", "\"actor\""},
      {"unknown type", R"({"actor": {"type": "robot", "id": "1"}})", "robot"},
      {"missing required field",
       R"({"actor": {"type": "user", "id": "1"}, "targets": [{"type": "document", "id": "9"}]})",
       "title"},
      {"wrong kind", R"({"actor": {"type": "user", "id": "1", "fields": {"age": "old"}}})", "age"},
      {"wrong column kind", R"({"actor": {"type": "user", "id": "1"}, "columns": {"tenant": 5}})",
       "tenant"},
      {"unknown column", R"({"actor": {"type": "user", "id": "1"}, "columns": {"nope": "x"}})",
       "nope"},
      {"unknown field", R"({"actor": {"type": "user", "id": "1", "fields": {"nick": "x"}}})",
       "nick"},
      {"bad time", R"({"actor": {"type": "user", "id": "1"}, "occurred_at": "soon"})", "soon"},
      {"bad json field",
       R"({"actor": {"type": "user", "id": "1"},
           "targets": [{"type": "document", "id": "7", "fields": {"title": 5}}]})",
       "title"},
  };
  for (const BadEvent& c : cases) {
    SCOPED_TRACE(c.name);
    RunResult r = Run({"emit", dir_, "--json", c.event});
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_EQ(r.out, "");
    std::vector<std::string> lines = SplitLines(r.err);
    ASSERT_EQ(lines.size(), 1u) << r.err;
    EXPECT_EQ(lines[0].rfind("quipu emit: ", 0), 0u) << lines[0];
    EXPECT_NE(lines[0].find(c.message), std::string::npos) << lines[0];
    EXPECT_EQ(EventCount(), 1u);
  }
}

TEST_F(AuditCliTest, BadDefinitionsAndQueriesAreRefusedAndChangeNothing) {
  DefineSchema();
  std::string before = Run({"types", dir_, "--json"}).out;
  const std::vector<std::vector<std::string>> bad = {
      {"define-type", dir_, "--json", "{\"name\": "},
      {"define-type", dir_, "--json", R"({"name": "user", "fields": []})"},  // drops fields
      {"define-type", dir_, "--json",
       R"({"name": "x", "fields": [{"name": "a", "kind": "blob"}]})"},
      {"define-type", dir_, "--json", R"({"name": "x", "fields": [{"name": "id"}]})"},
      {"define-column", dir_, "tenant", "number"},
      {"define-column", dir_, "size", "blob"},
      {"query", dir_, "--target", "user.age=3"},  // not indexed
      {"query", dir_, "--target", "robot.id=3"},
      {"query", dir_, "--target", "nodot"},
      {"query", dir_, "--column", "nope=1"},
      {"query", dir_, "--cursor", "not-a-cursor"},
      {"query", dir_, "--since", "someday"},
      {"history", dir_, "document", "404"},
      {"entities", dir_, "robot"},
  };
  for (const std::vector<std::string>& args : bad) {
    SCOPED_TRACE(args[0] + " " + args.back());
    RunResult r = Run(args);
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_EQ(SplitLines(r.err).size(), 1u) << r.err;
    EXPECT_EQ(r.err.rfind("quipu " + args[0] + ": ", 0), 0u) << r.err;
  }
  EXPECT_EQ(Run({"types", dir_, "--json"}).out, before);
}

TEST_F(AuditCliTest, UsageErrorsExitTwo) {
  EXPECT_EQ(Run({"emit", dir_}).exit_code, 2);  // neither --json nor --stdin
  EXPECT_EQ(Run({"emit", dir_, "--json", "{}", "--stdin"}).exit_code, 2);
  EXPECT_EQ(Run({"query", dir_, "--limit", "0"}).exit_code, 2);
  EXPECT_EQ(Run({"define-column", dir_, "x"}).exit_code, 2);
}

TEST_F(AuditCliTest, ReadVerbsDoNotCreateAStore) {
  RunResult r = Run({"query", dir_});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_FALSE(std::filesystem::exists(dir_));
}

TEST_F(AuditCliTest, ReadVerbsRunBesideAProcessThatWritesTheStore) {
  DefineSchema();
  ASSERT_EQ(Emit(DocEvent("1", "7", "Draft")).exit_code, 0);
  ASSERT_EQ(Emit(DocEvent("1", "7", "Final")).exit_code, 0);
  // This process now holds the store open for writing, as a service would.
  auto writer = AuditStore::Open(dir_, AuditOptions{});
  ASSERT_TRUE(writer.ok()) << writer.status().ToString();
  Event other;
  other.actor = EntityInput{"user", "1", {}};
  other.method = "document.create";
  other.targets = {EntityInput{"document", "8", {{"title", Value::Text("Other")}}}};
  ASSERT_TRUE((*writer)->Emit(other).ok());

  EXPECT_EQ(EventCount(), 3u);
  EXPECT_EQ(SplitLines(RunOk({"history", dir_, "document", "7", "--json"})).size(), 2u);
  EXPECT_EQ(SplitLines(RunOk({"entities", dir_, "document", "--json"})).size(), 2u);
  EXPECT_NE(RunOk({"types", dir_}).find("document"), std::string::npos);

  RunResult write = Emit(DocEvent("1", "9", "Refused"));
  EXPECT_EQ(write.exit_code, 1);
  EXPECT_NE(write.err.find("locked"), std::string::npos) << write.err;
  ASSERT_TRUE((*writer)->Close().ok());
  EXPECT_EQ(EventCount(), 3u);
}

TEST_F(AuditCliTest, DottedTypeNamesResolveAgainstTheCatalog) {
  ASSERT_EQ(Run({"define-type", dir_, "--json",
                 R"({"name": "acme.doc", "fields": [{"name": "title", "indexed": true}]})"})
                .exit_code,
            0);
  json event = {{"actor", {{"type", "default_actor"}, {"id", "u"}}},
                {"targets", {{{"type", "acme.doc"}, {"id", "1"}, {"fields", {{"title", "x"}}}}}}};
  ASSERT_EQ(Emit(event).exit_code, 0);
  EXPECT_EQ(Query({"--target", "acme.doc.title=x"}).size(), 1u);
}

// A log row's event record is a leaf of the Merkle tree: `prove --log-id`
// maps the row to its LSN (after the schema's own records) and proves that.
TEST_F(AuditCliTest, ProveByLogIdProvesTheEventRecordOfThatRow) {
  DefineSchema();  // three records: two types and a column
  ASSERT_EQ(Emit(DocEvent("1", "a", "first")).exit_code, 0);
  ASSERT_EQ(Emit(DocEvent("1", "b", "second")).exit_code, 0);

  json by_row = json::parse(RunOk({"prove", dir_, "--log-id", "2", "--json"}));
  EXPECT_EQ(by_row["log_id"], 2);
  EXPECT_EQ(by_row["lsn"], 5);
  json by_lsn = json::parse(RunOk({"prove", dir_, "5", "--json"}));
  by_row.erase("log_id");
  by_row.erase("lsn");
  EXPECT_EQ(by_row, by_lsn);

  RunResult missing = Run({"prove", dir_, "--log-id", "3"});
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_NE(missing.err.find("no log row 3"), std::string::npos) << missing.err;
  EXPECT_EQ(Run({"prove", dir_, "5", "--log-id", "2"}).exit_code, 1);
}

TEST_F(AuditCliTest, EmitWithASigningKeyLeavesACheckpointThatVerifies) {
  DefineSchema();  // three records
  const std::string key = Path("signing.pem");
  RunOk({"keygen", "--out", key});
  std::string input = DocEvent("1", "a", "first").dump() + "\n" + DocEvent("2", "b", "x").dump();
  RunOk({"emit", dir_, "--stdin", "--signing-key", key}, input);

  std::vector<std::string> checkpoints =
      SplitLines(clitest::ReadFile(std::filesystem::path(dir_) / "CHECKPOINTS"));
  ASSERT_EQ(checkpoints.size(), 1u);
  EXPECT_EQ(json::parse(checkpoints[0])["tree_size"], 5);
  RunResult verified = Run({"verify", dir_, "--public-key", key + ".pub"});
  EXPECT_EQ(verified.exit_code, 0) << verified.out << verified.err;
}

}  // namespace
}  // namespace quipu
