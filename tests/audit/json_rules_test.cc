// The rules every JSON value and number of the audit store follows:
// ParseNumber, and CheckJson's depth, duplicate-key and number checks, both
// directly and through AuditStore::Emit and Query.
#include <gtest/gtest.h>

#include <string>

#include "audit/json_check.h"
#include "audit_test_util.h"
#include "quipu/audit.h"
#include "test_dir.h"

namespace quipu::testing {
namespace {

std::string Nested(int levels, char open, char close) {
  return std::string(levels, open) + std::string(levels, close);
}

TEST(AuditNumberTest, ReadsJsonNumbersAsBinary64) {
  EXPECT_EQ(*ParseNumber("3"), 3.0);
  EXPECT_EQ(*ParseNumber("-2.5e3"), -2500.0);
  EXPECT_EQ(*ParseNumber("0.1"), 0.1);  // rounded, as every JSON reader does
  EXPECT_EQ(*ParseNumber("9007199254740992"), 9007199254740992.0);  // 2^53
  EXPECT_EQ(*ParseNumber("-9007199254740992"), -9007199254740992.0);
  EXPECT_EQ(*ParseNumber("1152921504606846976"), 1152921504606846976.0);  // 2^60 is exact
  EXPECT_EQ(*ParseNumber("1e-310"), 1e-310);  // subnormal, still in range
  EXPECT_EQ(*ParseNumber("-0"), 0.0);
}

TEST(AuditNumberTest, RefusesWhatBinary64CannotHoldOrIsNotANumber) {
  for (const char* bad : {"1e400", "-1e400", "1e-400", "9007199254740993", "-9007199254740993",
                          "18446744073709551617", "nan", "NaN", "inf", "-inf", "infinity", "+1",
                          "01", ".5", "1.", "0x10", " 1", "1 ", ""}) {
    Result<double> n = ParseNumber(bad);
    EXPECT_EQ(n.status().code(), Status::Code::kInvalidArgument) << bad;
  }
  EXPECT_NE(ParseNumber("1e400").status().message().find("'1e400'"), std::string::npos);
  EXPECT_NE(ParseNumber("9007199254740993").status().message().find("'9007199254740993'"),
            std::string::npos);
  // A long text is named, shortened.
  std::string huge = "1" + std::string(10000, '0');
  std::string message = ParseNumber(huge).status().message();
  EXPECT_LT(message.size(), 200u) << message;
  EXPECT_NE(message.find("10001 bytes"), std::string::npos) << message;
}

TEST(AuditJsonRulesTest, NestingIsLimitedToExactlyMaxDepth) {
  EXPECT_TRUE(audit::CheckJson(Nested(kMaxJsonDepth, '[', ']')).ok());
  Status deep = audit::CheckJson(Nested(kMaxJsonDepth + 1, '[', ']'));
  EXPECT_NE(deep.message().find("nested deeper than 512"), std::string::npos) << deep.ToString();
  std::string objects;
  for (int i = 0; i <= kMaxJsonDepth; i++) objects += "{\"a\":";
  objects += "1" + std::string(kMaxJsonDepth + 1, '}');
  EXPECT_FALSE(audit::CheckJson(objects).ok());
  // Far deeper input is refused the same way, without deep recursion.
  EXPECT_FALSE(audit::CheckJson(Nested(1'000'000, '[', ']')).ok());
}

TEST(AuditJsonRulesTest, DuplicateKeysAreRefusedAtAnyDepth) {
  for (const char* doc :
       {R"({"a":1,"a":2})", R"({"a":1,"b":{"c":1,"c":1}})", R"([{"x":[{"k":1,"k":1}]}])",
        R"({"a":1,"\u0061":2})", R"({"\ud83d\ude00":1,"😀":2})", R"({"a\n":1,"a\u000a":2})"}) {
    Status s = audit::CheckJson(doc);
    EXPECT_EQ(s.code(), Status::Code::kInvalidArgument) << doc;
    EXPECT_NE(s.message().find("duplicate key"), std::string::npos) << s.ToString();
  }
  // Equal keys in different objects are fine, and so are lone surrogates.
  for (const char* doc : {R"({"a":{"a":1},"b":{"a":2}})", R"([{"k":1},{"k":2}])",
                          R"({"\ud83d":1,"\ude00":2,"\ud83d\ude00":3})"}) {
    EXPECT_TRUE(audit::CheckJson(doc).ok()) << doc << ": " << audit::CheckJson(doc).ToString();
  }
}

TEST(AuditJsonRulesTest, NumbersFollowTheNumberRule) {
  EXPECT_TRUE(audit::CheckJson("[0.1, 9007199254740992, -1e308]").ok());
  for (const char* doc : {"1e400", "[1, 9007199254740993]", R"({"n":-1e-400})"}) {
    Status s = audit::CheckJson(doc);
    EXPECT_EQ(s.code(), Status::Code::kInvalidArgument) << doc;
    EXPECT_NE(s.message().find("binary64"), std::string::npos) << s.ToString();
  }
}

class AuditStoreRulesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto s = AuditStore::Open(dir_.log(), AuditOptions{});
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    store_ = std::move(*s);
    ASSERT_TRUE(store_->DefineType(UserType()).ok());
  }

  TestDir dir_;
  std::unique_ptr<AuditStore> store_;
};

TEST_F(AuditStoreRulesTest, EmitRefusesJsonValuesBreakingTheRules) {
  for (const std::string& doc : {std::string(R"({"a":1,"a":2})"), std::string("[1e400]"),
                                 Nested(kMaxJsonDepth + 1, '[', ']')}) {
    EntityInput u = User("u1", "alice");
    u.fields["meta"] = Value::Json(doc);
    EXPECT_EQ(store_->Emit(MakeEvent(Actor("root"), "create", {u})).status().code(),
              Status::Code::kInvalidArgument)
        << doc;
    Event content = MakeEvent(Actor("root"), "create", {});
    content.content = Value::Json(doc);
    EXPECT_EQ(store_->Emit(content).status().code(), Status::Code::kInvalidArgument) << doc;
  }
  EXPECT_EQ(store_->Query(Query{}).value().hits.size(), 0u);
}

TEST_F(AuditStoreRulesTest, NumberFiltersFollowTheNumberRule) {
  EntityInput u = User("u1", "alice");
  u.fields["age"] = Value::Number(42);
  ASSERT_TRUE(store_->Emit(MakeEvent(Actor("root"), "create", {u})).ok());
  Query q;
  q.targets.push_back(EntityFilter{"user", "age", MatchOp::kExact, "42"});
  EXPECT_EQ(store_->Query(q).value().hits.size(), 1u);
  for (const char* bad : {"nan", "inf", "-inf", "1e400", "9007199254740993", "+42", " 42"}) {
    q.targets[0].value = bad;
    Result<QueryPage> page = store_->Query(q);
    EXPECT_EQ(page.status().code(), Status::Code::kInvalidArgument) << bad;
  }
}

}  // namespace
}  // namespace quipu::testing
