// json/audit.h — the JSON shapes of the audit store's values and their
// conversion to and from quipu/audit_types.h, shared by the CLI's audit verbs
// and the HTTP server so that an event, a schema or a row has one shape
// everywhere. docs/audit.md documents the shapes.
//
// Input is strict: an unknown key, a value of the wrong JSON type or a field
// value that does not fit its declared kind is an InvalidArgument naming the
// key, so a typo never silently drops data. Output is nlohmann::ordered_json
// so keys appear in the documented order.
#ifndef QUIPU_JSON_AUDIT_H_
#define QUIPU_JSON_AUDIT_H_

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "json/input.h"  // ParseJson, CanonicalJson
#include "quipu/audit.h"
#include "quipu/audit_types.h"
#include "quipu/status.h"

namespace quipu::json {

// EVENT: {"actor": ENTITY, "method": str, "url": str, "content": str | any
// JSON, "targets": [ENTITY...], "columns": {name: value}, "occurred_at":
// RFC 3339 string | integer microseconds since the epoch, "idempotency_key":
// str (Event::idempotency_key)}. Only "actor" is required. ENTITY: {"type": str, "id": str,
// "fields": {name: value}}. Field and column values are converted by their declared kind, looked up
// in `store`: text takes a JSON string, number a JSON number, json any JSON value (stored as
// CanonicalJson). Names the store does not know are passed through for Emit to refuse with its own
// message.
Result<Event> EventFromJson(const Json& event, const AuditStore& store);

// QUERY: {"targets": [FILTER...], "actor": FILTER, "method": str, "since":
// TIME, "until": TIME, "columns": {name: value}} and, when `paged`, "order":
// "newest_first" | "oldest_first", "limit": 1..10000, "cursor": str. FILTER:
// {"type", "field", "op": "exact" | "contains" | "prefix" | "exact_ci"
// (default exact), "value": str | number}. TIME as occurred_at. Every key is
// optional; the same semantics as quipu::Query.
Result<Query> QueryFromJson(const Json& query, const AuditStore& store, bool paged);

// {name: value} for custom columns, converted by each column's kind.
Result<Fields> ColumnsFromJson(const Json& columns, const AuditStore& store);

// SCHEMA: {"name": str, "fields": [{"name": str, "kind": "text" | "number" |
// "json" (default text), "required": bool (default false), "indexed": bool
// (default false)}...]}.
Result<TypeSchema> SchemaFromJson(const Json& schema);

// COLUMN: {"name": str, "kind": "text" | "number" | "json" (default text)}.
Result<ColumnSpec> ColumnFromJson(const Json& column);

// A column value given on the command line (query --column NAME=VALUE) as
// the column's kind: numbers read by ParseNumber, JSON parsed by ParseJson
// and canonicalized like EventFromJson.
Result<Value> ValueFromArgument(std::string_view text, FieldKind kind);

// Text and json values as JSON (json parsed back into structure); numbers
// as JSON numbers, integral ones without a fraction.
OrderedJson ValueToJson(const Value& value);
OrderedJson FieldsToJson(const Fields& fields);
OrderedJson SchemaToJson(const TypeSchema& schema);
OrderedJson ColumnToJson(const ColumnSpec& column);
// A retention purge record and a carry record, as exports show them.
OrderedJson PurgeToJson(const PurgeSummary& purge);
OrderedJson CarryToJson(const CarrySummary& carry);
OrderedJson ForgetToJson(const ForgetSummary& forget);
// A hidden value (Value::hidden): {"erased": true}, {"hashed": true} or
// {"encrypted": true} (a store opened without its master key).
OrderedJson HiddenToJson(Hidden hidden);
// {"type", "id", "version", "fields"}; with `provenance` also
// "created_log_id" and "created_at" (for history and entities).
OrderedJson VersionToJson(const EntityVersion& version, bool provenance);
// {"log_id", "lsn", "timestamp", "actor", "method", "url", "content",
// "columns", "targets"}.
OrderedJson HitToJson(const Hit& hit);

// One line of NDJSON; bytes that are not UTF-8 become U+FFFD rather than
// aborting the output.
std::string JsonLine(const OrderedJson& value);

// A time argument or occurred_at: RFC 3339 (see ParseRfc3339) or an integer
// count of microseconds since the Unix epoch.
Result<int64_t> ParseTimeArgument(std::string_view text);

}  // namespace quipu::json

#endif  // QUIPU_JSON_AUDIT_H_
