// quipu/audit_types.h — the values an AuditStore (quipu/audit.h) takes and returns.
//
// Vocabulary:
//   entity type   a named schema (TypeSchema): fields of kind text, number or
//                 json, each optional or required; `indexed` fields are the
//                 ones queries may match on. Two types always exist:
//                 "default_actor" and "default_target", each with one field
//                 `name` (text, optional, indexed).
//   entity        one thing of a type, named by a caller-chosen id string.
//   version       an immutable snapshot of an entity's fields, numbered 1, 2,
//                 3, ... per entity. Changing any field makes a new version;
//                 nothing is ever overwritten.
//   log row       one event: who (actor), what (method, url, content), when
//                 (timestamp), to what (targets), plus optional custom
//                 columns. Rows are numbered by a dense log_id from 1 and pin
//                 the actor's and every target's version as of the write.
//
// The entity id is not a field, but queries may match it as the reserved
// field name "id" (always indexed); a schema may not define a field "id".
//
// Timestamps are microseconds since the Unix epoch, UTC.
//
// These are plain values: distinct objects may be used from different threads.
#ifndef QUIPU_AUDIT_TYPES_H_
#define QUIPU_AUDIT_TYPES_H_

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "quipu/reader.h"  // Lsn
#include "quipu/status.h"

namespace quipu {

// The on-disk tag of each kind (docs/format.md); never renumber.
//   kSealed is how the store holds the value of a protected field
//   (Protection, below) inside its records and index: ciphertext and blind
//   index tokens. A schema never declares it, writes refuse it and reads
//   never return it.
enum class FieldKind : uint8_t { kText = 1, kNumber = 2, kJson = 3, kSealed = 4 };

// "text", "number", "json".
std::string_view FieldKindName(FieldKind kind);
Result<FieldKind> ParseFieldKind(std::string_view name);

// How deeply arrays and objects may nest in a json value: `[[]]` is 2 levels.
// Deeper documents are refused before anything walks them recursively.
inline constexpr int kMaxJsonDepth = 512;

// One field or column value.
//   kText    `text` is any UTF-8 string (not checked).
//   kNumber  `number` is a finite double (NaN and infinities are refused).
//   kJson    `text` is one JSON value (RFC 8259), checked by a strict
//            validator on write and stored as given. The validator also
//            refuses nesting deeper than kMaxJsonDepth, an object with two
//            equal keys, and numbers that ParseNumber refuses. Equality (and
//            so "did this field change") compares the text: callers should
//            pass a canonical serialization (e.g. nlohmann::json::dump()) so
//            that equal documents compare equal.
//
// A value read from a protected field may be hidden (docs/privacy.md): then
// `kind` is the field's kind, `text` is empty and `number` 0.
//   kErased   its subject was forgotten (AuditStore::Forget): the key that
//             sealed it is destroyed, so no one can read it again.
//   kHashed   the field is `hashed`: the store holds a keyed hash, never
//             the value.
//   kLocked   the field is encrypted and this store was opened without the
//             master key (AuditOptions::keys).
enum class Hidden : uint8_t { kNo = 0, kErased = 1, kHashed = 2, kLocked = 3 };

struct Value {
  FieldKind kind = FieldKind::kText;
  std::string text;
  double number = 0;
  Hidden hidden = Hidden::kNo;

  static Value Text(std::string s) { return Value{FieldKind::kText, std::move(s), 0}; }
  static Value Number(double d) { return Value{FieldKind::kNumber, {}, d}; }
  static Value Json(std::string s) { return Value{FieldKind::kJson, std::move(s), 0}; }

  // Text and JSON as stored; numbers in the shortest form that reads back
  // to the same double ("3", "0.1", "1e+300").
  std::string ToString() const;

  bool operator==(const Value& other) const;
};

// Field (or column) name -> value. Ordered, so equal maps compare equal.
using Fields = std::map<std::string, Value, std::less<>>;

// --- schema -------------------------------------------------------------

// How the store holds a field's or column's values (docs/privacy.md). The
// key material comes from AuditOptions::keys; values are sealed per subject
// (the entity a field describes, or the subject a column names) so that
// AuditStore::Forget can erase one subject by destroying its key.
//   kPlain             as given: readable, searchable by every operator.
//   kHashed            only a keyed HMAC-SHA-256 of the value: exact (and,
//                      for text and json, exact_ci) matching; never readable.
//   kEncrypted         AES-256-GCM ciphertext: readable with the key, not
//                      searchable.
//   kEncryptedIndexed  ciphertext plus blind index tokens (HMACs of the
//                      value, of its case-folded form and of its first 1..
//                      prefix_tokens bytes): exact, exact_ci and prefix
//                      (up to prefix_tokens bytes) matching; never contains.
// A field's protection is fixed when the field is first defined.
enum class Protection : uint8_t { kPlain = 0, kHashed = 1, kEncrypted = 2, kEncryptedIndexed = 3 };
// "plain", "hashed", "encrypted", "encrypted+indexed".
std::string_view ProtectionName(Protection p);
Result<Protection> ParseProtection(std::string_view name);

// Longest prefix a kEncryptedIndexed field may keep tokens for.
inline constexpr uint32_t kMaxPrefixTokens = 64;

struct FieldSpec {
  std::string name;
  FieldKind kind = FieldKind::kText;
  bool required = false;
  bool indexed = false;
  Protection protection = Protection::kPlain;
  // kEncryptedIndexed only: prefix queries of 1..prefix_tokens bytes work
  // (0: none). Each costs one index entry per distinct value.
  uint32_t prefix_tokens = 0;
};

// Type and field names: 1..128 bytes of [A-Za-z0-9_.-], not starting with a
// digit, '.' or '-'. Field "id" is reserved (see above).
struct TypeSchema {
  std::string name;
  std::vector<FieldSpec> fields;  // definition order; evolution appends
};

// A custom column of the log rows of a store. Columns are optional on every
// event; a value given must have the column's kind.
struct ColumnSpec {
  std::string name;  // same rules as field names
  FieldKind kind = FieldKind::kText;
  // kPlain, kHashed or kEncrypted (columns have no blind index entries;
  // a hashed column matches Query::columns by equality).
  Protection protection = Protection::kPlain;
  // Whose key seals a protected column: empty for the event's actor, or a
  // type name for the event's first target of that type (an event that
  // gives the column without such a target is refused).
  std::string subject{};
};

// --- writing ------------------------------------------------------------

// An entity as an event mentions it. `fields` are merged onto the entity's
// current version: fields given replace theirs, fields not given keep their
// current values (so a field, once set, can change but never be unset). If
// the merged fields equal the current version, that version is reused; else
// a new version is written with the event. A new entity must give every
// required field. An entity may be named with no fields at all: it then
// pins its current version (or, when new, creates version 1 with no fields,
// if its type has no required field).
struct EntityInput {
  std::string type;
  std::string id;  // 1..1024 bytes, any content
  Fields fields;
};

struct Event {
  // When the event happened (UTC microseconds, 0 .. year 9999); nullopt
  // means the time Emit is called.
  std::optional<int64_t> timestamp_micros;
  EntityInput actor;
  std::string method;  // e.g. "POST" or "user.rename"; may be empty
  std::string url;     // may be empty
  // Text or json (a number is refused).
  std::optional<Value> content;
  // Custom columns by name; each must be registered (AuditStore::RegisterColumn).
  Fields columns;
  // Any number (0 too) of targets. The same entity may appear more than once
  // in one event (also as the actor) only with fields that agree.
  std::vector<EntityInput> targets;
  // Empty: none. Otherwise 1..128 bytes of visible ASCII (0x21..0x7E), else
  // InvalidArgument. A caller-chosen name for this request, stored in the
  // event's record, so that a retry of it (after a timeout, a crash, a
  // restart) returns the original event instead of writing it twice; see
  // AuditStore::Emit. The key is not part of the event's row.
  std::string idempotency_key;
};

struct EmitResult {
  uint64_t log_id = 0;
  Lsn lsn = 0;  // of the event's record in the underlying log
  int64_t timestamp_micros = 0;
  // True when the call wrote nothing because its idempotency key named an
  // earlier, identical event: the fields above are that event's.
  bool duplicate = false;
};

// --- reading ------------------------------------------------------------

// One version of one entity.
struct EntityVersion {
  std::string type;
  std::string id;
  uint32_t version = 0;         // 1, 2, ... per entity
  uint64_t created_log_id = 0;  // the event that wrote this version
  int64_t created_micros = 0;   // that event's timestamp
  Fields fields;                // the full state of the entity at this version
};

enum class MatchOp {
  kExact,     // the whole value equals
  kContains,  // the value contains `value` as a substring (bytes)
  kPrefix,    // the value starts with `value`
  kExactCi,   // equal ignoring ASCII case
};
// "exact", "contains", "prefix", "exact_ci".
std::string_view MatchOpName(MatchOp op);
Result<MatchOp> ParseMatchOp(std::string_view name);

// Matches entities of `type` whose `field` matches `value` in ANY of their
// versions (an entity renamed later is still found by its old name).
// `field` must be indexed in the type's schema, or "id".
//   text and json fields: `value` is compared with the stored text (for
//                  json, pass the serialization used on write).
//   number fields: only kExact; `value` is read by ParseNumber and compared
//                  numerically ("3" matches 3.0).
struct EntityFilter {
  std::string type;
  std::string field;
  MatchOp op = MatchOp::kExact;
  std::string value;
};

enum class Order { kNewestFirst, kOldestFirst };

// All given conditions must hold (AND).
struct Query {
  // Each filter must match at least one target of the row (two filters may
  // be satisfied by different targets).
  std::vector<EntityFilter> targets;
  std::optional<EntityFilter> actor;
  std::optional<std::string> method;    // exact
  std::optional<int64_t> since_micros;  // timestamp >= since
  std::optional<int64_t> until_micros;  // timestamp <  until
  Fields columns;                       // column == value (same kind)
  Order order = Order::kNewestFirst;
  // Rows per page, 1..10000.
  uint32_t limit = 100;
  // Empty for the first page, else QueryPage::next_cursor of the previous
  // page of the same query (same filters and order).
  std::string cursor;
};

// One log row as recorded: actor and targets are the versions pinned at
// write time, whatever happened to those entities since.
struct Hit {
  uint64_t log_id = 0;
  Lsn lsn = 0;
  int64_t timestamp_micros = 0;
  EntityVersion actor;
  std::string method;
  std::string url;
  std::optional<Value> content;
  Fields columns;
  std::vector<EntityVersion> targets;  // in the order the event gave them
};

struct QueryPage {
  std::vector<Hit> hits;
  // Opaque; empty when this page is the last. Pass it as Query::cursor to
  // get the rows that follow the last hit of this page in the query's order.
  std::string next_cursor;
};

// One record of an audit store's log as an export carries it
// (AuditStore::Export, AuditRecordReader in quipu/audit_records.h).
// What a retention purge record says (AuditStore::Retain).
struct PurgeSummary {
  Lsn first_kept = 0;          // the log starts here after the purge
  std::string purged_root;     // hex root of the tree of records 1..first_kept-1
  uint64_t last_log_id = 0;    // rows 1..last_log_id were purged
  int64_t micros = 0;          // when
  int64_t max_age_micros = 0;  // the policy (0: that bound was not set)
  uint64_t max_bytes = 0;
  uint64_t segments = 0;  // segment files removed, and their bytes
  uint64_t bytes = 0;
  uint32_t carried = 0;  // carry records right before the purge record
};

// What a carry record holds: state the purged records established, for a
// rebuild of the derived index (docs/audit.md, "Retention").
struct CarrySummary {
  Lsn first_kept = 0;
  uint64_t catalog_records = 0;
  uint64_t entities = 0;
};

// What a forget record says (AuditStore::Forget).
struct ForgetSummary {
  std::string type;  // the subject forgotten
  std::string id;
  uint32_t keys = 0;   // data keys destroyed
  int64_t micros = 0;  // when
};

struct ExportedRecord {
  enum class Kind { kType, kColumn, kEvent, kPurge, kCarry, kForget };
  Kind kind = Kind::kEvent;
  Lsn lsn = 0;
  // The record's bytes as the log holds them: the leaf data of the store's
  // Merkle tree at `lsn`, which an inclusion proof proves.
  std::string record;
  TypeSchema type;    // kType: the type's whole schema after this record
  ColumnSpec column;  // kColumn
  Hit event;          // kEvent: the row with the versions it pins
  // kEvent: the versions this record wrote, with their fields. The row's
  // other pins refer to versions that earlier events wrote.
  std::vector<EntityVersion> written;
  PurgeSummary purge;    // kPurge
  CarrySummary carry;    // kCarry
  ForgetSummary forget;  // kForget
};

// One page of the entities of a type (AuditStore::ListEntities).
struct EntityPage {
  std::vector<EntityVersion> entities;  // latest versions, in order of creation
  // Opaque; empty when this page is the last.
  std::string next_cursor;
};

// --- numbers ------------------------------------------------------------

// Reads a number as the audit store reads every number: number fields and
// columns, query filters on them, and the numbers inside json values.
// `text` is a JSON number (RFC 8259: no '+', no leading zero, no "nan" or
// "inf") and becomes an IEEE-754 binary64:
//   - with a fraction or an exponent it is rounded to the nearest binary64,
//     as every JSON reader does ("0.1");
//   - without either it is an integer and must be exactly representable, so
//     an id-like number is never silently changed: every integer up to 2^53
//     in magnitude is, 9007199254740993 is not;
//   - beyond binary64's range ("1e400", "1e-400") it is refused.
// Errors: InvalidArgument naming the text (shortened if long).
Result<double> ParseNumber(std::string_view text);

// --- time helpers (for the CLI's --since/--until and output) -----------

// "2024-05-01T12:34:56.000123Z": always UTC, always six fractional digits.
std::string FormatRfc3339Utc(int64_t micros);

// Parses RFC 3339 / ISO 8601 date-times into UTC microseconds:
//   "2024-05-01T12:34:56Z", "2024-05-01T12:34:56.5+02:00", "2024-05-01 12:34:56z",
//   and a bare date "2024-05-01" (midnight UTC). Fractions beyond six digits
//   are truncated. Errors: InvalidArgument naming the input.
Result<int64_t> ParseRfc3339(std::string_view text);

}  // namespace quipu

#endif  // QUIPU_AUDIT_TYPES_H_
