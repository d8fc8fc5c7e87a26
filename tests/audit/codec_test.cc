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
  EXPECT_FALSE(back.idempotency.has_value());
}

IdempotencyRecord SampleIdempotency() {
  IdempotencyRecord idem;
  idem.key = "req-7f3a!~";
  for (size_t i = 0; i < Fingerprint::kSize; ++i) idem.fingerprint.bytes[i] = uint8_t(i * 7);
  idem.written_micros = 1714566896000123;
  return idem;
}

TEST(AuditRecordTest, KeyedEventIsKindFourVersionTwoAndRoundTrips) {
  EventRecord rec = SampleEvent();
  std::string plain;
  EncodeEvent(rec, &plain);
  rec.idempotency = SampleIdempotency();
  std::string bytes;
  EncodeEvent(rec, &bytes);
  EXPECT_EQ(bytes[0], 2);  // the lowest version that defines kind 4
  EXPECT_EQ(bytes[1], 4);  // kind: keyed event
  // The body is kind 3's, then the idempotency section.
  EXPECT_EQ(bytes.substr(2, plain.size() - 2), plain.substr(2));
  EXPECT_EQ(bytes.size(), plain.size() + 1 + rec.idempotency->key.size() + 32 + 8);
  ASSERT_EQ(*PeekKind(bytes), RecordKind::kKeyedEvent);
  EventRecord back;
  ASSERT_TRUE(DecodeEvent(bytes, &back).ok());
  EXPECT_EQ(back.log_id, rec.log_id);
  EXPECT_EQ(back.content, rec.content);
  ASSERT_EQ(back.targets.size(), 2u);
  ASSERT_TRUE(back.idempotency.has_value());
  EXPECT_EQ(back.idempotency->key, rec.idempotency->key);
  EXPECT_EQ(back.idempotency->fingerprint, rec.idempotency->fingerprint);
  EXPECT_EQ(back.idempotency->written_micros, rec.idempotency->written_micros);

  for (size_t n = 2; n < bytes.size(); ++n) {
    EventRecord cut;
    EXPECT_TRUE(DecodeEvent(std::string_view(bytes).substr(0, n), &cut).IsCorruption())
        << "prefix " << n;
  }
  EXPECT_TRUE(DecodeEvent(bytes + "x", &back).IsCorruption());
}

// A kind-3 record as stores written before idempotency keys hold it, byte
// for byte: it must keep decoding to the same event.
TEST(AuditRecordTest, KindThreeBytesFromBeforeKeysStillDecode) {
  const std::string bytes(
      "\x01\x03"                          // version 1, kind 3
      "\x05"                              // log_id 5
      "\x40\x42\x0f\x00\x00\x00\x00\x00"  // timestamp 1 000 000 us
      "\x01"                              // one version:
      "\x02\x02u1\x01"                    //   type 2, id "u1", number 1,
      "\x01\x00\x01\x04mary"              //   field 0 = text "mary"
      "\x00\x04root\x03"                  // actor: type 0, "root", v3
      "\x04POST"                          // method
      "\x03/u1"                           // url
      "\x01\x02hi"                        // content: text "hi"
      "\x00"                              // no columns
      "\x01\x02\x02u1\x01",               // one target: type 2, "u1", v1
      52);
  ASSERT_EQ(*PeekKind(bytes), RecordKind::kEvent);
  EventRecord rec;
  ASSERT_TRUE(DecodeEvent(bytes, &rec).ok());
  EXPECT_EQ(rec.log_id, 5u);
  EXPECT_EQ(rec.micros, 1000000);
  ASSERT_EQ(rec.versions.size(), 1u);
  EXPECT_EQ(rec.versions[0].id, "u1");
  EXPECT_EQ(rec.versions[0].fields, (OrdinalValues{{0, Value::Text("mary")}}));
  EXPECT_EQ(rec.actor.id, "root");
  EXPECT_EQ(rec.actor.number, 3u);
  EXPECT_EQ(rec.method, "POST");
  EXPECT_EQ(rec.url, "/u1");
  EXPECT_EQ(rec.content, Value::Text("hi"));
  ASSERT_EQ(rec.targets.size(), 1u);
  EXPECT_EQ(rec.targets[0].type, 2u);
  EXPECT_FALSE(rec.idempotency.has_value());
  // The encoder still writes exactly these bytes for this event.
  std::string again;
  EncodeEvent(rec, &again);
  EXPECT_EQ(again, bytes);
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
  EXPECT_EQ(PeekKind(std::string("\x05\x03", 2)).status().code(), Status::Code::kNotSupported);
  EXPECT_EQ(PeekKind(std::string("\x0f\x01", 2)).status().code(), Status::Code::kNotSupported);
  EXPECT_TRUE(PeekKind(std::string("\x10\x01", 2)).status().IsCorruption());
  EXPECT_TRUE(PeekKind(std::string("\x00\x01", 2)).status().IsCorruption());
  // Version 4 defines every kind; version 3 all but forget; version 2 also
  // not purge and carry; version 1 also not the keyed event.
  for (uint8_t kind = 1; kind <= 7; ++kind) {
    EXPECT_EQ(*PeekKind(std::string{'\x04', static_cast<char>(kind)}), RecordKind(kind));
  }
  for (uint8_t kind = 1; kind <= 6; ++kind) {
    EXPECT_EQ(*PeekKind(std::string{'\x03', static_cast<char>(kind)}), RecordKind(kind));
  }
  for (uint8_t kind = 1; kind <= 4; ++kind) {
    EXPECT_EQ(*PeekKind(std::string{'\x02', static_cast<char>(kind)}), RecordKind(kind));
  }
  EXPECT_EQ(*PeekKind(std::string("\x01\x03", 2)), RecordKind::kEvent);
  EXPECT_TRUE(PeekKind(std::string("\x01\x04", 2)).status().IsCorruption());
  EXPECT_TRUE(PeekKind(std::string("\x02\x05", 2)).status().IsCorruption());
  EXPECT_TRUE(PeekKind(std::string("\x02\x06", 2)).status().IsCorruption());
  EXPECT_TRUE(PeekKind(std::string("\x03\x07", 2)).status().IsCorruption());
  EXPECT_TRUE(PeekKind(std::string("\x04\x08", 2)).status().IsCorruption());
  EXPECT_TRUE(PeekKind(std::string("\x01\x09", 2)).status().IsCorruption());
  EXPECT_TRUE(PeekKind("plain text").status().IsCorruption());
  EXPECT_TRUE(PeekKind(std::string("\x01", 1)).status().IsCorruption());
}

TEST(AuditRecordTest, ProtectionIsVersionFourAndRoundTrips) {
  // A plain schema stays version 1; a protected one is version 4.
  TypeRecord plain{TypeSchema{"t", {FieldSpec{"a", FieldKind::kText, true, true}}}};
  std::string bytes;
  EncodeType(plain, &bytes);
  EXPECT_EQ(bytes[0], '\x01');
  TypeRecord sealed = plain;
  sealed.schema.fields.push_back(
      FieldSpec{"e", FieldKind::kText, false, true, Protection::kEncryptedIndexed, 5});
  sealed.schema.fields.push_back(
      FieldSpec{"h", FieldKind::kNumber, false, true, Protection::kHashed, 0});
  bytes.clear();
  EncodeType(sealed, &bytes);
  EXPECT_EQ(bytes[0], '\x04');
  TypeRecord back;
  ASSERT_TRUE(DecodeType(bytes, &back).ok());
  ASSERT_EQ(back.schema.fields.size(), 3u);
  EXPECT_EQ(back.schema.fields[1].protection, Protection::kEncryptedIndexed);
  EXPECT_EQ(back.schema.fields[1].prefix_tokens, 5u);
  EXPECT_EQ(back.schema.fields[2].protection, Protection::kHashed);
  // Protection bits in a version-1 record were never written.
  bytes[0] = '\x01';
  EXPECT_TRUE(DecodeType(bytes, &back).IsCorruption());

  ColumnRecord column{ColumnSpec{"ip", FieldKind::kText, Protection::kHashed, "user"}};
  bytes.clear();
  EncodeColumn(column, &bytes);
  EXPECT_EQ(bytes[0], '\x04');
  ColumnRecord column_back;
  ASSERT_TRUE(DecodeColumn(bytes, &column_back).ok());
  EXPECT_EQ(column_back.column.protection, Protection::kHashed);
  EXPECT_EQ(column_back.column.subject, "user");

  // An event holding a sealed value is version 4, and only then may one hold it.
  EventRecord event;
  event.log_id = 1;
  event.versions.push_back(
      VersionRecord{0, "x", 1, {{0, Value{FieldKind::kSealed, std::string("blob"), 0}}}});
  event.actor = RefRecord{0, "x", 1};
  bytes.clear();
  EncodeEvent(event, &bytes);
  EXPECT_EQ(bytes[0], '\x04');
  EventRecord event_back;
  ASSERT_TRUE(DecodeEvent(bytes, &event_back).ok());
  EXPECT_EQ(event_back.versions[0].fields[0].second.kind, FieldKind::kSealed);
  bytes[0] = '\x01';
  EXPECT_TRUE(DecodeEvent(bytes, &event_back).IsCorruption());

  ForgetRecord forget{3, "alice", {std::string(16, 'k'), std::string(16, 'l')}, -7};
  bytes.clear();
  EncodeForget(forget, &bytes);
  EXPECT_EQ(*PeekKind(bytes), RecordKind::kForget);
  ForgetRecord forget_back;
  ASSERT_TRUE(DecodeForget(bytes, &forget_back).ok());
  EXPECT_EQ(forget_back.type, 3u);
  EXPECT_EQ(forget_back.id, "alice");
  EXPECT_EQ(forget_back.key_ids, forget.key_ids);
  EXPECT_EQ(forget_back.micros, -7);
  EXPECT_TRUE(DecodeForget(bytes.substr(0, bytes.size() - 1), &forget_back).IsCorruption());

  CarryRecord carry;
  carry.first_kept = 9;
  carry.forgotten = {std::string(16, 'z')};
  bytes.clear();
  EncodeCarry(carry, &bytes);
  EXPECT_EQ(bytes[0], '\x04');
  CarryRecord carry_back;
  ASSERT_TRUE(DecodeCarry(bytes, &carry_back).ok());
  EXPECT_EQ(carry_back.forgotten, carry.forgotten);
}

TEST(AuditRecordTest, PurgeAndCarryRoundTrip) {
  PurgeRecord purge;
  purge.first_kept = 1234;
  purge.purged_root = merkle::LeafHash("x");
  purge.last_log_id = 999;
  purge.keyed_count = 17;
  purge.micros = -5;
  purge.max_age_micros = 86'400'000'000;
  purge.max_bytes = 1 << 30;
  purge.segments = 3;
  purge.bytes = 3 << 20;
  purge.carried = 2;
  std::string bytes;
  EncodePurge(purge, &bytes);
  EXPECT_EQ(*PeekKind(bytes), RecordKind::kPurge);
  EXPECT_EQ(bytes[0], '\x03');
  PurgeRecord back;
  ASSERT_TRUE(DecodePurge(bytes, &back).ok());
  EXPECT_EQ(back.first_kept, 1234u);
  EXPECT_EQ(back.purged_root, purge.purged_root);
  EXPECT_EQ(back.last_log_id, 999u);
  EXPECT_EQ(back.keyed_count, 17u);
  EXPECT_EQ(back.micros, -5);
  EXPECT_EQ(back.max_age_micros, purge.max_age_micros);
  EXPECT_EQ(back.max_bytes, purge.max_bytes);
  EXPECT_EQ(back.carried, 2u);
  EXPECT_TRUE(DecodePurge(bytes.substr(0, bytes.size() - 1), &back).IsCorruption());
  EXPECT_TRUE(DecodePurge(bytes + "x", &back).IsCorruption());

  CarryRecord carry;
  carry.first_kept = 1234;
  carry.catalog.emplace_back(1, "type bytes");
  carry.entities.push_back(
      CarriedEntity{2, "u\x00\x01", 7, 3, 998, -1, {{0, Value::Text("n")}, {2, Value::Number(4)}}});
  bytes.clear();
  EncodeCarry(carry, &bytes);
  CarryRecord got;
  ASSERT_TRUE(DecodeCarry(bytes, &got).ok());
  ASSERT_EQ(got.catalog.size(), 1u);
  EXPECT_EQ(got.catalog[0], carry.catalog[0]);
  ASSERT_EQ(got.entities.size(), 1u);
  const CarriedEntity& e = got.entities[0];
  EXPECT_EQ(e.type, 2u);
  EXPECT_EQ(e.id, carry.entities[0].id);
  EXPECT_EQ(e.seq, 7u);
  EXPECT_EQ(e.number, 3u);
  EXPECT_EQ(e.log_id, 998u);
  EXPECT_EQ(e.micros, -1);
  EXPECT_EQ(e.fields.size(), 2u);
  EXPECT_TRUE(DecodeCarry(bytes.substr(0, bytes.size() - 1), &got).IsCorruption());
  // A carried catalog record must come from before the purge.
  carry.catalog[0].first = 1234;
  bytes.clear();
  EncodeCarry(carry, &bytes);
  EXPECT_TRUE(DecodeCarry(bytes, &got).IsCorruption());
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
