// Record codec, JSON checker and RFC 3339 helpers.
#include <gtest/gtest.h>

#include "audit/json_check.h"
#include "audit/record.h"
#include "quipu/audit_types.h"

namespace quipu::audit {
namespace {

EventRecord SampleEvent() {
  EventRecord rec;
  rec.log_id = 300;
  rec.micros = -5;  // before the epoch still round-trips
  rec.versions.push_back(VersionRecord{
      2, "u1", 7, {{0, Value::Text("alice")}, {2, Value::Number(0.1)}, {3, Value::Json("[1]")}}});
  rec.actor = RefRecord{0, "root", 1};
  rec.method = "POST";
  rec.url = "/users/u1";
  rec.content = Value::Json("{\"k\":true}");
  rec.columns = {{1, Value::Number(-2.5)}};
  rec.targets = {RefRecord{2, "u1", 7}, RefRecord{1, std::string("\0x", 2), 1}};
  return rec;
}

TEST(AuditRecordTest, EventRoundTrips) {
  const EventRecord rec = SampleEvent();
  std::string bytes;
  EncodeEvent(rec, &bytes);
  EXPECT_EQ(bytes[0], 1);  // version
  EXPECT_EQ(bytes[1], 3);  // kind: event
  ASSERT_EQ(*PeekKind(bytes), RecordKind::kEvent);
  EventRecord back;
  ASSERT_TRUE(DecodeEvent(bytes, &back).ok());
  EXPECT_EQ(back.log_id, rec.log_id);
  EXPECT_EQ(back.micros, rec.micros);
  ASSERT_EQ(back.versions.size(), 1u);
  EXPECT_EQ(back.versions[0].id, "u1");
  EXPECT_EQ(back.versions[0].number, 7u);
  EXPECT_EQ(back.versions[0].fields, rec.versions[0].fields);
  EXPECT_EQ(back.actor.id, "root");
  EXPECT_EQ(back.method, "POST");
  EXPECT_EQ(back.url, "/users/u1");
  EXPECT_EQ(back.content, rec.content);
  EXPECT_EQ(back.columns, rec.columns);
  ASSERT_EQ(back.targets.size(), 2u);
  EXPECT_EQ(back.targets[1].id, std::string("\0x", 2));
}

TEST(AuditRecordTest, EveryTruncationIsCorruption) {
  std::string bytes;
  EncodeEvent(SampleEvent(), &bytes);
  for (size_t n = 2; n < bytes.size(); ++n) {
    EventRecord rec;
    Status s = DecodeEvent(std::string_view(bytes).substr(0, n), &rec);
    EXPECT_TRUE(s.IsCorruption()) << "prefix " << n;
  }
  EventRecord rec;
  EXPECT_TRUE(DecodeEvent(bytes + "x", &rec).IsCorruption());
}

TEST(AuditRecordTest, TypeAndColumnRoundTrip) {
  TypeRecord t{TypeSchema{"user",
                          {FieldSpec{"name", FieldKind::kText, true, true},
                           FieldSpec{"age", FieldKind::kNumber, false, false}}}};
  std::string bytes;
  EncodeType(t, &bytes);
  TypeRecord back;
  ASSERT_TRUE(DecodeType(bytes, &back).ok());
  ASSERT_EQ(back.schema.fields.size(), 2u);
  EXPECT_TRUE(back.schema.fields[0].required);
  EXPECT_TRUE(back.schema.fields[0].indexed);
  EXPECT_EQ(back.schema.fields[1].kind, FieldKind::kNumber);
  EXPECT_FALSE(back.schema.fields[1].indexed);

  bytes.clear();
  EncodeColumn(ColumnRecord{ColumnSpec{"tenant", FieldKind::kJson}}, &bytes);
  ColumnRecord col;
  ASSERT_TRUE(DecodeColumn(bytes, &col).ok());
  EXPECT_EQ(col.column.name, "tenant");
  EXPECT_EQ(col.column.kind, FieldKind::kJson);
}

TEST(AuditRecordTest, HeaderVersionsAndKinds) {
  EXPECT_EQ(PeekKind(std::string("\x02\x03", 2)).status().code(), Status::Code::kNotSupported);
  EXPECT_TRUE(PeekKind(std::string("\x01\x09", 2)).status().IsCorruption());
  EXPECT_TRUE(PeekKind("plain text").status().IsCorruption());
  EXPECT_TRUE(PeekKind(std::string("\x01", 1)).status().IsCorruption());
}

TEST(AuditJsonTest, AcceptsValidDocuments) {
  for (const char* doc : {"0", "-1.5e+10", "\"a\\u00e9\\n\"", "true", "null", "[]", "{}",
                          " {\"a\": [1, {\"b\": null}], \"c\": \"x\"} ", "[-0, 0.0, 1E5]"}) {
    EXPECT_TRUE(CheckJson(doc).ok()) << doc << ": " << CheckJson(doc).ToString();
  }
}

TEST(AuditJsonTest, RefusesInvalidDocuments) {
  for (const char* doc :
       {"", "{", "[1,]", "{\"a\" 1}", "{a:1}", "01", "1.", ".5", "tru", "\"unterminated",
        "\"bad \\x escape\"", "[1] [2]", "'single'", "\"tab\there\"", "NaN", "{\"a\":1,}", "+1"}) {
    EXPECT_EQ(CheckJson(doc).code(), Status::Code::kInvalidArgument) << doc;
  }
  EXPECT_FALSE(CheckJson(std::string(600, '[') + std::string(600, ']')).ok());
  EXPECT_TRUE(CheckJson(std::string(100, '[') + std::string(100, ']')).ok());
}

TEST(AuditTimeTest, FormatsUtcWithMicroseconds) {
  EXPECT_EQ(FormatRfc3339Utc(0), "1970-01-01T00:00:00.000000Z");
  EXPECT_EQ(FormatRfc3339Utc(1714566896000123), "2024-05-01T12:34:56.000123Z");
  EXPECT_EQ(FormatRfc3339Utc(-1), "1969-12-31T23:59:59.999999Z");
  EXPECT_EQ(FormatRfc3339Utc(951782400000000), "2000-02-29T00:00:00.000000Z");
}

TEST(AuditTimeTest, ParsesRfc3339Forms) {
  EXPECT_EQ(*ParseRfc3339("2024-05-01T12:34:56Z"), 1714566896000000);
  EXPECT_EQ(*ParseRfc3339("2024-05-01t12:34:56.000123z"), 1714566896000123);
  EXPECT_EQ(*ParseRfc3339("2024-05-01 14:34:56.5+02:00"), 1714566896500000);
  EXPECT_EQ(*ParseRfc3339("2024-05-01T07:04:56-05:30"), 1714566896000000);
  EXPECT_EQ(*ParseRfc3339("1970-01-01"), 0);
  EXPECT_EQ(*ParseRfc3339("2024-05-01T12:34:56.1234567Z"), 1714566896123456);
  for (const char* bad :
       {"", "2024-13-01", "2023-02-29", "2024-05-01T12:34:56", "2024-05-01T25:00:00Z", "2024-5-1",
        "2024-05-01T12:34:56Zjunk", "yesterday"}) {
    EXPECT_EQ(ParseRfc3339(bad).status().code(), Status::Code::kInvalidArgument) << bad;
  }
  for (int64_t t : {int64_t{0}, int64_t{1714566896000123}, int64_t{-86400000001},
                    int64_t{253402300799999999}}) {
    EXPECT_EQ(*ParseRfc3339(FormatRfc3339Utc(t)), t) << t;
  }
}

TEST(AuditValueTest, NumbersPrintShortest) {
  EXPECT_EQ(Value::Number(3).ToString(), "3");
  EXPECT_EQ(Value::Number(0.1).ToString(), "0.1");
  EXPECT_EQ(Value::Text("x").ToString(), "x");
  EXPECT_FALSE(Value::Text("1") == Value::Json("1"));
}

}  // namespace
}  // namespace quipu::audit
