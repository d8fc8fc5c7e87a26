// What the audit read verbs show: text tables escape every control
// character of stored data (a writer must not forge rows or drive the
// reader's terminal) while --json stays exact; and how query arguments are
// read: json values canonically, empty filter values refused.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "cli/audit_fixture.h"
#include "quipu/audit.h"

namespace quipu {
namespace {

using clitest::RunResult;
using clitest::SplitLines;
using nlohmann::json;

// The bytes of `text` that a terminal would act on, other than the '\n'
// ending each line: C0 controls, DEL, and C1 controls (UTF-8 C2 80..C2 9F).
std::string ControlBytes(const std::string& text) {
  std::string found;
  for (size_t i = 0; i < text.size(); i++) {
    const auto c = static_cast<unsigned char>(text[i]);
    const bool c1 = c == 0xC2 && i + 1 < text.size() &&
                    static_cast<unsigned char>(text[i + 1]) >= 0x80 &&
                    static_cast<unsigned char>(text[i + 1]) <= 0x9F;
    if ((c < 0x20 && c != '\n') || c == 0x7F || c1) found += std::to_string(c) + " ";
  }
  return found;
}

class AuditDisplayTest : public clitest::AuditFixture {
 protected:
  void SetUp() override {
    AuditFixture::SetUp();
    DefineSchema();
  }
};

const std::string kMethod = "a\nquipu forged row";
const std::string kActorId = "u\r1";
const std::string kTargetId = "\x1b[2J";
const std::string kTitle =
    "csi\xc2\x9b"
    "1m del\x7f tab\t back\\n";

TEST_F(AuditDisplayTest, TextTablesEscapeControlCharactersAndJsonStaysExact) {
  json event = {
      {"actor", {{"type", "user"}, {"id", kActorId}}},
      {"method", kMethod},
      {"url", "/x\ty"},
      {"targets", {{{"type", "document"}, {"id", kTargetId}, {"fields", {{"title", kTitle}}}}}}};
  ASSERT_EQ(Emit(event.dump()).exit_code, 0);

  std::string query = RunOk({"query", dir_});
  EXPECT_EQ(ControlBytes(query), "") << query;
  ASSERT_EQ(SplitLines(query).size(), 2u) << query;  // the header and one row
  std::string row = SplitLines(query)[1];
  EXPECT_NE(row.find("a\\nquipu forged row"), std::string::npos) << row;
  EXPECT_NE(row.find("user:u\\r1@v1"), std::string::npos) << row;
  EXPECT_NE(row.find("document:\\x1b[2J@v1"), std::string::npos) << row;
  EXPECT_NE(row.find("/x\\ty"), std::string::npos) << row;

  std::string history = RunOk({"history", dir_, "document", kTargetId});
  EXPECT_EQ(ControlBytes(history), "") << history;
  ASSERT_EQ(SplitLines(history).size(), 2u) << history;
  // The fields column is JSON: its own escapes, and \u00XX for the rest.
  EXPECT_NE(history.find(R"({"title":"csi\u009b1m del\u007f tab\t back\\n"})"), std::string::npos)
      << history;

  std::string entities = RunOk({"entities", dir_, "user"});
  EXPECT_EQ(ControlBytes(entities), "") << entities;
  EXPECT_EQ(SplitLines(entities).size(), 2u) << entities;

  // --json gives back exactly what was written.
  RunResult exact = Run({"query", dir_, "--json"});
  json hit = json::parse(SplitLines(exact.out)[0]);
  EXPECT_EQ(hit["method"], kMethod);
  EXPECT_EQ(hit["actor"]["id"], kActorId);
  EXPECT_EQ(hit["targets"][0]["id"], kTargetId);
  EXPECT_EQ(hit["targets"][0]["fields"]["title"], kTitle);
}

TEST_F(AuditDisplayTest, BackslashesAndStrayBytesCannotPassForEscapes) {
  // A literal backslash-n must not look like an escaped newline, and a byte
  // that is not UTF-8 (a C1 control in Latin-1 terminals) is shown as hex.
  json event = {{"actor", {{"type", "user"}, {"id", "1"}}}, {"method", "lit\\n"}};
  ASSERT_EQ(Emit(event.dump()).exit_code, 0);
  {
    // JSON input cannot carry such bytes; the library takes any text.
    auto store = AuditStore::Open(dir_, AuditOptions{});
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    Event raw;
    raw.actor = EntityInput{"user", "2", {}};
    raw.method =
        "\x9b"
        "2J\xff";
    ASSERT_TRUE((*store)->Emit(raw).ok());
    ASSERT_TRUE((*store)->Close().ok());
  }
  std::string query = RunOk({"query", dir_, "--oldest-first"});
  ASSERT_EQ(SplitLines(query).size(), 3u) << query;
  EXPECT_NE(SplitLines(query)[1].find("lit\\\\n"), std::string::npos) << query;
  EXPECT_NE(SplitLines(query)[2].find("\\x9b2J\\xff"), std::string::npos) << query;
  EXPECT_EQ(query.find('\x9b'), std::string::npos);
  EXPECT_EQ(query.find('\xff'), std::string::npos);
  EXPECT_EQ(ControlBytes(query), "");
}

TEST_F(AuditDisplayTest, JsonFieldFiltersCompareCanonically) {
  std::string written = R"({"b":1,"a":[2,{"d":1,"c":2}]})";
  std::string event = std::string(R"({"actor":{"type":"user","id":"1"},"targets":[)") +
                      R"({"type":"document","id":"7","fields":{"title":"t","meta":)" + written +
                      R"(}}],"columns":{"blob":)" + written + "}}";
  ASSERT_EQ(Emit(event).exit_code, 0) << event;
  for (const std::string& value :
       {written, std::string(R"({"a":[2,{"c":2,"d":1}],"b":1})"),
        std::string(R"( { "a" : [ 2 , { "d" : 1 , "c" : 2 } ] , "b" : 1 } )")}) {
    SCOPED_TRACE(value);
    EXPECT_EQ(QueryIds({"--target", "document.meta=" + value}), std::vector<int>{1});
    EXPECT_EQ(QueryIds({"--target-ci", "document.meta=" + value}), std::vector<int>{1});
    EXPECT_EQ(QueryIds({"--column", "blob=" + value}), std::vector<int>{1});
  }
  EXPECT_EQ(QueryIds({"--target", R"(document.meta={"b":1})"}), std::vector<int>{});
  // contains and prefix search the stored (canonical) text.
  EXPECT_EQ(QueryIds({"--target-contains", R"(document.meta={"c":2,"d":1})"}), std::vector<int>{1});
  EXPECT_EQ(QueryIds({"--target-prefix", R"(document.meta={"a":[2,)"}), std::vector<int>{1});
  ExpectRefused(Run({"query", dir_, "--target", "document.meta=not json"}), "query",
                {"document.meta is a json field"});
  ExpectRefused(Run({"query", dir_, "--target", R"(document.meta={"a":1,"a":1})"}), "query",
                {R"(duplicate key "a")"});
}

TEST_F(AuditDisplayTest, EmptyFilterValuesAreUsageErrors) {
  ASSERT_EQ(Emit(DocEvent("1", "7", "t")).exit_code, 0);
  const std::vector<std::vector<std::string>> empty = {
      {"--method", ""},
      {"--since", ""},
      {"--until", ""},
      {"--target", "document.title="},
      {"--target-contains", "document.title="},
      {"--target-prefix", "document.title="},
      {"--target-ci", "document.title="},
      {"--actor", "user.id="},
      {"--actor-prefix", "user.id="},
      {"--column", "tenant="},
  };
  for (const std::vector<std::string>& flag : empty) {
    SCOPED_TRACE(flag[0]);
    std::vector<std::string> args = {"query", dir_};
    args.insert(args.end(), flag.begin(), flag.end());
    RunResult r = Run(args);
    EXPECT_EQ(r.exit_code, 2) << r.out;
    EXPECT_NE(r.err.find("empty"), std::string::npos) << r.err;
    EXPECT_EQ(SplitLines(r.err).size(), 1u) << r.err;
  }
  EXPECT_EQ(QueryIds({"--method", "document.update"}), std::vector<int>{1});
}

}  // namespace
}  // namespace quipu
