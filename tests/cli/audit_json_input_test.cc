// The rules of the JSON the audit verbs read (json/input.h), enforced
// while parsing: nesting depth, duplicate keys and the number rule, in
// events, schemas and query arguments; and that a bad line never loses the
// acks of the events before it.
//
// The deep documents here are only ever built as strings: nothing in the
// test recurses over them.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "cli/audit_fixture.h"

namespace quipu {
namespace {

using clitest::ReadAcks;
using clitest::RunResult;
using clitest::SplitLines;

constexpr int kDeep = 100'000;
// Arguments are limited to 128 KiB each (MAX_ARG_STRLEN): as deep as fits.
constexpr int kDeepArrayArg = 60'000;
constexpr int kDeepObjectArg = 20'000;
constexpr char kActor[] = R"("actor":{"type":"user","id":"1"})";

std::string Arrays(int levels) { return std::string(levels, '[') + std::string(levels, ']'); }

std::string Objects(int levels) {
  std::string text;
  for (int i = 0; i < levels; i++) text += "{\"a\":";
  return text + "1" + std::string(levels, '}');
}

// An event whose document (the title field's target) has meta = `meta`.
std::string WithMeta(const std::string& meta) {
  return std::string("{") + kActor +
         R"(,"targets":[{"type":"document","id":"7","fields":{"title":"t","meta":)" + meta + "}}]}";
}

std::string WithContent(const std::string& content) {
  return std::string("{") + kActor + R"(,"content":)" + content + "}";
}

class AuditJsonInputTest : public clitest::AuditFixture {
 protected:
  void SetUp() override {
    AuditFixture::SetUp();
    DefineSchema();
  }

  // Emits two good events, then `bad` on line 3: expects the run to stop
  // there with every piece in the error, the two events acked durable.
  void ExpectLine3Refused(const std::string& bad, const std::vector<std::string>& pieces) {
    size_t before = QueryIds({}).size();
    std::string input = DocEvent("1", "a", "x") + "\n" + DocEvent("1", "b", "y") + "\n" + bad +
                        "\n" + DocEvent("1", "c", "z") + "\n";
    RunResult r = Run({"emit", dir_, "--stdin"}, input);
    std::vector<std::string> want = {"line 3: "};
    want.insert(want.end(), pieces.begin(), pieces.end());
    ExpectRefused(r, "emit", want);
    clitest::LastAcks acks = ReadAcks(r.out);
    EXPECT_EQ(acks.appended - static_cast<long>(before), 2) << r.out;
    EXPECT_EQ(acks.durable, acks.appended) << r.out;
    EXPECT_EQ(QueryIds({}).size(), before + 2);
  }
};

TEST_F(AuditJsonInputTest, DeepNestingIsRefusedWhileParsingWithoutCrashing) {
  const std::string too_deep = "nested deeper than 512 levels";
  ExpectLine3Refused(WithContent(Arrays(kDeep)), {too_deep});
  ExpectLine3Refused(WithContent(Objects(kDeep)), {too_deep});
  ExpectLine3Refused(WithMeta(Arrays(kDeep)), {too_deep});
  ExpectLine3Refused(WithMeta(Objects(kDeep)), {too_deep});
  ExpectLine3Refused(Arrays(kDeep), {too_deep});  // the event itself
  ExpectLine3Refused("{" + std::string(kActor) + R"(,"columns":{"blob":)" + Objects(kDeep) + "}}",
                     {too_deep});
  ExpectRefused(Run({"emit", dir_, "--json", WithContent(Arrays(kDeepArrayArg))}), "emit",
                {too_deep});
  ExpectRefused(Run({"define-type", dir_, "--json",
                     R"({"name":"x","fields":)" + Arrays(kDeepArrayArg) + "}"}),
                "define-type", {too_deep});
  ExpectRefused(Run({"query", dir_, "--column", "blob=" + Arrays(kDeepArrayArg)}), "query",
                {too_deep});
  ExpectRefused(Run({"query", dir_, "--target", "document.meta=" + Objects(kDeepObjectArg)}),
                "query", {too_deep});
}

TEST_F(AuditJsonInputTest, NestingCountsFromTheEventAndStopsAtTheLimit) {
  // The event object is level 1, so content may nest 511 levels.
  RunResult ok = Emit(WithContent(Arrays(511)));
  ASSERT_EQ(ok.exit_code, 0) << ok.err;
  ExpectRefused(Emit(WithContent(Arrays(512))), "emit", {"nested deeper than 512 levels"});
  RunResult read = Run({"query", dir_, "--json"});
  ASSERT_EQ(read.exit_code, 0) << read.err;
  EXPECT_NE(read.out.find(Arrays(511)), std::string::npos);
  EXPECT_EQ(QueryIds({}).size(), 1u);
}

TEST_F(AuditJsonInputTest, DuplicateKeysAreRefusedAtEveryLevel) {
  struct Case {
    const char* name;
    std::string event;
    const char* key;
  };
  const Case cases[] = {
      {"event", std::string("{") + kActor + R"(,"method":"a","method":"b"})", R"("method")"},
      {"event actor", R"({"actor":{"type":"user","id":"1"},"actor":{"type":"user","id":"2"}})",
       R"("actor")"},
      {"actor", R"({"actor":{"type":"user","id":"1","id":"2"}})", R"("id")"},
      {"target",
       std::string("{") + kActor + R"(,"targets":[{"type":"document","type":"user","id":"7"}]})",
       R"("type")"},
      {"fields",
       std::string("{") + kActor +
           R"(,"targets":[{"type":"document","id":"7","fields":{"title":"a","title":"b"}}]})",
       R"("title")"},
      {"columns", std::string("{") + kActor + R"(,"columns":{"tenant":"a","tenant":"b"}})",
       R"("tenant")"},
      {"json field", WithMeta(R"({"k":1,"k":2})"), R"("k")"},
      {"deep in content", WithContent(R"({"x":[{"k":1,"k":1}]})"), R"("k")"},
      {"same key escaped", WithContent(R"({"a":1,"\u0061":2})"), R"("a")"},
      {"control key", WithContent(R"({"a\u001b":1,"a\u001b":2})"), R"("a\u001b")"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    RunResult r = Emit(c.event);
    ExpectRefused(r, "emit", {std::string("duplicate key ") + c.key});
    EXPECT_EQ(r.err.find('\x1b'), std::string::npos);
  }
  ExpectLine3Refused(std::string("{") + kActor + R"(,"url":"a","url":"a"})",
                     {R"(duplicate key "url")"});
  EXPECT_EQ(QueryIds({}).size(), 2u);

  ExpectRefused(Run({"define-type", dir_, "--json", R"({"name":"x","name":"y"})"}), "define-type",
                {R"(duplicate key "name")"});
  ExpectRefused(Run({"define-type", dir_, "--json",
                     R"({"name":"x","fields":[{"name":"a","kind":"text","kind":"json"}]})"}),
                "define-type", {R"(duplicate key "kind")"});
  EXPECT_EQ(Run({"types", dir_}).out.find("x "), std::string::npos);
}

TEST_F(AuditJsonInputTest, NumbersFollowOneRuleEverywhere) {
  auto age = [](const std::string& literal) {
    return std::string(R"({"actor":{"type":"user","id":"1","fields":{"age":)") + literal + "}}}";
  };
  const std::pair<std::string, std::string> refused[] = {
      {age("1e400"), "'1e400'"},
      {age("-1e400"), "'-1e400'"},
      {age("1e-400"), "'1e-400'"},
      {age("9007199254740993"), "'9007199254740993'"},
      {age("18446744073709551615"), "'18446744073709551615'"},
      {age("100000000000000000000001"), "'100000000000000000000001'"},
      {std::string("{") + kActor + R"(,"columns":{"n":1e400}})", "'1e400'"},
      {std::string("{") + kActor + R"(,"columns":{"n":9007199254740993}})", "'9007199254740993'"},
      {WithMeta(R"({"id":9007199254740993})"), "'9007199254740993'"},
      {WithContent("[1, 2e999]"), "'2e999'"},
      {std::string("{") + kActor + R"(,"occurred_at":1e400})", "'1e400'"},
  };
  for (const auto& [event, piece] : refused) {
    SCOPED_TRACE(event);
    ExpectRefused(Emit(event), "emit", {piece});
  }
  EXPECT_EQ(QueryIds({}).size(), 0u);

  ASSERT_EQ(Emit(age("9007199254740992")).exit_code, 0);  // 2^53: exact
  ASSERT_EQ(Emit(WithMeta(R"({"id":-9007199254740992,"f":0.1})")).exit_code, 0);
  EXPECT_EQ(QueryIds({"--actor", "user.age=9007199254740992"}).size(), 2u);
  RunResult read = Run({"query", dir_, "--json", "--target", "document.id=7"});
  EXPECT_NE(read.out.find(R"({"f":0.1,"id":-9007199254740992})"), std::string::npos) << read.out;

  for (const char* bad : {"nan", "inf", "-inf", "1e400", "9007199254740993", "+1", "0x10"}) {
    SCOPED_TRACE(bad);
    ExpectRefused(Run({"query", dir_, "--target", std::string("user.age=") + bad}), "query",
                  {std::string("'") + bad + "'"});
    ExpectRefused(Run({"query", dir_, "--column", std::string("n=") + bad}), "query",
                  {std::string("'") + bad + "'"});
  }
}

// A number overflow used to escape as an exception: no line number, and the
// acks of the events before it were lost although they were stored.
TEST_F(AuditJsonInputTest, BadNumberLineAcksAndSyncsEveryEarlierEvent) {
  struct Policy {
    const char* policy;
    int events;
  };
  long total = 0;
  for (const Policy& run : {Policy{"group", 1000}, Policy{"os", 1000}, Policy{"always", 20},
                            Policy{"every:7", 20}, Policy{"group:1", 20}}) {
    SCOPED_TRACE(run.policy);
    std::string input;
    for (int i = 0; i < run.events; i++) input += DocEvent("1", std::to_string(i), "t") + "\n";
    input += R"({"actor":{"type":"user","id":"1","fields":{"age":1e400}}})"
             "\n";
    input += DocEvent("1", "after", "t") + "\n";
    RunResult r = Run({"emit", dir_, "--stdin", "--durability", run.policy}, input);
    ExpectRefused(r, "emit", {"line " + std::to_string(run.events + 1) + ": ", "'1e400'"});
    EXPECT_EQ(r.err.find("unexpected"), std::string::npos) << r.err;
    total += run.events;
    clitest::LastAcks acks = ReadAcks(r.out);
    EXPECT_EQ(acks.appended, total)
        << r.out.substr(r.out.size() - std::min<size_t>(200, r.out.size()));
    EXPECT_EQ(acks.durable, total);
    EXPECT_EQ(static_cast<long>(QueryIds({}).size()), total);
  }
  // dump: the 5 schema records, then exactly the events.
  RunResult dump = Run({"dump", dir_, "--json"});
  ASSERT_EQ(dump.exit_code, 0) << dump.err;
  EXPECT_EQ(static_cast<long>(SplitLines(dump.out).size()), 5 + total);
}

TEST_F(AuditJsonInputTest, SchemaAndArgumentErrorsAreValuesNotExceptions) {
  for (const char* schema :
       {R"({"name":"x","fields":[{"name":"a","required":1e400}]})",
        R"({"name":"x","fields":[{"name":"a","indexed":9007199254740993}]})"}) {
    RunResult r = Run({"define-type", dir_, "--json", schema});
    ExpectRefused(r, "define-type", {"binary64"});
  }
  ExpectRefused(Run({"query", dir_, "--column", "blob=[1e400]"}), "query", {"'1e400'"});
  ExpectRefused(Run({"query", dir_, "--column", R"(blob={"a":1,"a":2})"}), "query",
                {R"(duplicate key "a")"});
}

}  // namespace
}  // namespace quipu
