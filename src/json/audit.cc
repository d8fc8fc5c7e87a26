#include "json/audit.h"

#include <charconv>
#include <cmath>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "util/quote.h"

namespace quipu::json {

namespace {

std::string JsonTypeName(const Json& j) { return j.type_name(); }

// Refuses keys outside `allowed`, so a misspelt key is an error rather than
// silently ignored data.
Status CheckKeys(const Json& object, std::string_view what,
                 std::initializer_list<std::string_view> allowed) {
  if (!object.is_object()) {
    return Status::InvalidArgument(std::string(what) + " must be a JSON object, got " +
                                   JsonTypeName(object));
  }
  for (const auto& item : object.items()) {
    bool known = false;
    for (std::string_view key : allowed) known = known || item.key() == key;
    if (!known) {
      return Status::InvalidArgument("unknown key " + QuoteInput(item.key()) + " in " +
                                     std::string(what));
    }
  }
  return Status::OK();
}

// `object[key]` as a string; absent is `fallback` (nullopt: required).
Result<std::string> GetString(const Json& object, const char* key, std::string_view what,
                              std::optional<std::string> fallback) {
  auto it = object.find(key);
  if (it == object.end()) {
    if (fallback) return *fallback;
    return Status::InvalidArgument(std::string(what) + " needs \"" + key + "\"");
  }
  if (!it->is_string()) {
    return Status::InvalidArgument(std::string(what) + " \"" + key + "\" must be a string, got " +
                                   JsonTypeName(*it));
  }
  return it->get<std::string>();
}

Result<bool> GetBool(const Json& object, const char* key, std::string_view what) {
  auto it = object.find(key);
  if (it == object.end()) return false;
  if (!it->is_boolean()) {
    return Status::InvalidArgument(std::string(what) + " \"" + key + "\" must be true or false");
  }
  return it->get<bool>();
}

// Converts one field or column value to `kind` (nullopt: unknown name,
// converted by its JSON type for Emit to judge).
Result<Value> ValueFromJson(const Json& j, std::optional<FieldKind> kind, const std::string& what) {
  if (j.is_null()) return Status::InvalidArgument(what + " is null; give a value or leave it out");
  if (j.is_object() && j.size() == 1 &&
      (j.contains("erased") || j.contains("hashed") || j.contains("encrypted")) &&
      kind != FieldKind::kJson) {
    return Status::InvalidArgument(
        what + " is " + j.dump() +
        ": a protected value shown hidden has no value to write (an export holds the values "
        "of encrypted fields only when made with the master key, and never of hashed or "
        "erased ones)");
  }
  FieldKind want = kind.value_or(j.is_string()   ? FieldKind::kText
                                 : j.is_number() ? FieldKind::kNumber
                                                 : FieldKind::kJson);
  switch (want) {
    case FieldKind::kText:
      if (j.is_string()) return Value::Text(j.get<std::string>());
      break;
    case FieldKind::kNumber:
      if (j.is_number()) return Value::Number(j.get<double>());
      break;
    case FieldKind::kJson:
      // Canonical, which is what the store's "did this field change"
      // comparison and the queries on json fields need.
      return Value::Json(CanonicalJson(j));
    case FieldKind::kSealed:
      break;
  }
  return Status::InvalidArgument(what + " is " + std::string(FieldKindName(want)) + ", got " +
                                 JsonTypeName(j));
}

std::optional<FieldKind> FieldKindIn(const Result<TypeSchema>& schema, const std::string& field) {
  if (!schema.ok()) return std::nullopt;
  for (const FieldSpec& spec : schema->fields) {
    if (spec.name == field) return spec.kind;
  }
  return std::nullopt;
}

Result<EntityInput> EntityFromJson(const Json& j, const AuditStore& store,
                                   const std::string& what) {
  QUIPU_RETURN_IF_ERROR(CheckKeys(j, what, {"type", "id", "fields"}));
  EntityInput entity;
  Result<std::string> type = GetString(j, "type", what, std::nullopt);
  if (!type.ok()) return type.status();
  Result<std::string> id = GetString(j, "id", what, std::nullopt);
  if (!id.ok()) return id.status();
  entity.type = *type;
  entity.id = *id;
  auto fields = j.find("fields");
  if (fields == j.end()) return entity;
  if (!fields->is_object()) return Status::InvalidArgument(what + " \"fields\" must be an object");
  Result<TypeSchema> schema = store.GetType(entity.type);
  for (const auto& item : fields->items()) {
    std::string name =
        what + " field " + QuoteInput(item.key()) + " of type " + QuoteInput(entity.type);
    Result<Value> value = ValueFromJson(item.value(), FieldKindIn(schema, item.key()), name);
    if (!value.ok()) return value.status();
    entity.fields.emplace(item.key(), std::move(*value));
  }
  return entity;
}

}  // namespace

Result<Fields> ColumnsFromJson(const Json& j, const AuditStore& store) {
  if (!j.is_object()) return Status::InvalidArgument("\"columns\" must be an object");
  std::vector<ColumnSpec> specs = store.Columns();
  Fields columns;
  for (const auto& item : j.items()) {
    std::optional<FieldKind> kind;
    for (const ColumnSpec& spec : specs) {
      if (spec.name == item.key()) kind = spec.kind;
    }
    Result<Value> value = ValueFromJson(item.value(), kind, "column " + QuoteInput(item.key()));
    if (!value.ok()) return value.status();
    columns.emplace(item.key(), std::move(*value));
  }
  return columns;
}

namespace {

// `what` names the member in errors ("event \"occurred_at\"").
Result<int64_t> TimeFromJson(const Json& j, const std::string& what) {
  if (j.is_string()) {
    Result<int64_t> micros = ParseTimeArgument(j.get<std::string>());
    return micros.ok() ? micros : Result<int64_t>(micros.status().WithContext(what));
  }
  if (j.is_number_integer()) return j.get<int64_t>();
  return Status::InvalidArgument(
      what + " must be an RFC 3339 string or integer microseconds, got " + JsonTypeName(j));
}

// The optional plain-string members of an event.
Status StringMembersFromJson(const Json& j, Event* event) {
  Result<std::string> method = GetString(j, "method", "event", "");
  if (!method.ok()) return method.status();
  Result<std::string> url = GetString(j, "url", "event", "");
  if (!url.ok()) return url.status();
  event->method = *method;
  event->url = *url;
  auto content = j.find("content");
  if (content != j.end() && !content->is_null()) {
    // A string is text; anything else is kept as a JSON document.
    event->content = content->is_string() ? Value::Text(content->get<std::string>())
                                          : Value::Json(CanonicalJson(*content));
  }
  return Status::OK();
}

}  // namespace

Result<Event> EventFromJson(const Json& j, const AuditStore& store) {
  QUIPU_RETURN_IF_ERROR(CheckKeys(j, "event",
                                  {"actor", "method", "url", "content", "targets", "columns",
                                   "occurred_at", "idempotency_key"}));
  auto actor = j.find("actor");
  if (actor == j.end()) return Status::InvalidArgument("event needs \"actor\"");
  Event event;
  Result<EntityInput> actor_input = EntityFromJson(*actor, store, "actor");
  if (!actor_input.ok()) return actor_input.status();
  event.actor = std::move(*actor_input);
  QUIPU_RETURN_IF_ERROR(StringMembersFromJson(j, &event));
  if (auto targets = j.find("targets"); targets != j.end()) {
    if (!targets->is_array()) return Status::InvalidArgument("event \"targets\" must be an array");
    for (size_t i = 0; i < targets->size(); i++) {
      Result<EntityInput> target =
          EntityFromJson((*targets)[i], store, "target " + std::to_string(i));
      if (!target.ok()) return target.status();
      event.targets.push_back(std::move(*target));
    }
  }
  if (auto columns = j.find("columns"); columns != j.end()) {
    Result<Fields> values = ColumnsFromJson(*columns, store);
    if (!values.ok()) return values.status();
    event.columns = std::move(*values);
  }
  Result<std::string> key = GetString(j, "idempotency_key", "event", "");
  if (!key.ok()) return key.status();
  event.idempotency_key = *key;
  if (auto when = j.find("occurred_at"); when != j.end()) {
    Result<int64_t> micros = TimeFromJson(*when, "event \"occurred_at\"");
    if (!micros.ok()) return micros.status();
    event.timestamp_micros = *micros;
  }
  return event;
}

namespace {

// FILTER: {"type", "field", "op" (default "exact"), "value": string or number}.
Result<EntityFilter> FilterFromJson(const Json& j, const std::string& what) {
  QUIPU_RETURN_IF_ERROR(CheckKeys(j, what, {"type", "field", "op", "value"}));
  EntityFilter filter;
  for (auto [key, out] : {std::pair{"type", &filter.type}, std::pair{"field", &filter.field}}) {
    Result<std::string> text = GetString(j, key, what, std::nullopt);
    if (!text.ok()) return text.status();
    *out = *text;
  }
  Result<std::string> op = GetString(j, "op", what, "exact");
  if (!op.ok()) return op.status();
  Result<MatchOp> parsed = ParseMatchOp(*op);
  if (!parsed.ok()) return parsed.status().WithContext(what);
  filter.op = *parsed;
  auto value = j.find("value");
  if (value == j.end()) return Status::InvalidArgument(what + " needs \"value\"");
  if (value->is_string()) {
    filter.value = value->get<std::string>();
  } else if (value->is_number()) {
    filter.value = value->dump();
  } else {
    return Status::InvalidArgument(what + " \"value\" must be a string or a number");
  }
  return filter;
}

Status PagingFromJson(const Json& j, Query* query) {
  Result<std::string> order = GetString(j, "order", "query", "newest_first");
  if (!order.ok()) return order.status();
  if (*order != "newest_first" && *order != "oldest_first") {
    return Status::InvalidArgument("query \"order\" must be \"newest_first\" or \"oldest_first\"");
  }
  query->order = *order == "oldest_first" ? Order::kOldestFirst : Order::kNewestFirst;
  if (auto limit = j.find("limit"); limit != j.end()) {
    if (!limit->is_number_unsigned() || limit->get<uint64_t>() < 1 ||
        limit->get<uint64_t>() > 10000) {
      return Status::InvalidArgument("query \"limit\" must be an integer from 1 to 10000");
    }
    query->limit = limit->get<uint32_t>();
  }
  Result<std::string> cursor = GetString(j, "cursor", "query", "");
  if (!cursor.ok()) return cursor.status();
  query->cursor = *cursor;
  return Status::OK();
}

}  // namespace

Result<Query> QueryFromJson(const Json& j, const AuditStore& store, bool paged) {
  if (paged) {
    QUIPU_RETURN_IF_ERROR(CheckKeys(
        j, "query",
        {"targets", "actor", "method", "since", "until", "columns", "order", "limit", "cursor"}));
  } else {
    QUIPU_RETURN_IF_ERROR(
        CheckKeys(j, "query", {"targets", "actor", "method", "since", "until", "columns"}));
  }
  Query query;
  if (auto targets = j.find("targets"); targets != j.end()) {
    if (!targets->is_array()) return Status::InvalidArgument("query \"targets\" must be an array");
    for (size_t i = 0; i < targets->size(); i++) {
      Result<EntityFilter> filter =
          FilterFromJson((*targets)[i], "target filter " + std::to_string(i));
      if (!filter.ok()) return filter.status();
      query.targets.push_back(std::move(*filter));
    }
  }
  if (auto actor = j.find("actor"); actor != j.end()) {
    Result<EntityFilter> filter = FilterFromJson(*actor, "actor filter");
    if (!filter.ok()) return filter.status();
    query.actor = std::move(*filter);
  }
  if (j.contains("method")) {
    Result<std::string> method = GetString(j, "method", "query", std::nullopt);
    if (!method.ok()) return method.status();
    query.method = *method;
  }
  for (auto [key, out] :
       {std::pair{"since", &query.since_micros}, std::pair{"until", &query.until_micros}}) {
    auto when = j.find(key);
    if (when == j.end()) continue;
    Result<int64_t> micros = TimeFromJson(*when, std::string("query \"") + key + "\"");
    if (!micros.ok()) return micros.status();
    *out = *micros;
  }
  if (auto columns = j.find("columns"); columns != j.end()) {
    Result<Fields> values = ColumnsFromJson(*columns, store);
    if (!values.ok()) return values.status();
    query.columns = std::move(*values);
  }
  if (paged) QUIPU_RETURN_IF_ERROR(PagingFromJson(j, &query));
  return query;
}

Result<Protection> ProtectionFromJson(const Json& j, const std::string& what) {
  Result<std::string> name = GetString(j, "protection", what, "plain");
  if (!name.ok()) return name.status();
  Result<Protection> p = ParseProtection(*name);
  if (!p.ok()) return p.status().WithContext(what);
  return p;
}

Result<ColumnSpec> ColumnFromJson(const Json& j) {
  QUIPU_RETURN_IF_ERROR(CheckKeys(j, "column", {"name", "kind", "protection", "subject"}));
  Result<std::string> name = GetString(j, "name", "column", std::nullopt);
  if (!name.ok()) return name.status();
  Result<std::string> kind = GetString(j, "kind", "column", "text");
  if (!kind.ok()) return kind.status();
  Result<FieldKind> parsed = ParseFieldKind(*kind);
  if (!parsed.ok()) return parsed.status().WithContext("column \"kind\"");
  Result<Protection> protection = ProtectionFromJson(j, "column");
  if (!protection.ok()) return protection.status();
  Result<std::string> subject = GetString(j, "subject", "column", "");
  if (!subject.ok()) return subject.status();
  return ColumnSpec{*name, *parsed, *protection, *subject};
}

Result<TypeSchema> SchemaFromJson(const Json& j) {
  QUIPU_RETURN_IF_ERROR(CheckKeys(j, "schema", {"name", "fields"}));
  TypeSchema schema;
  Result<std::string> name = GetString(j, "name", "schema", std::nullopt);
  if (!name.ok()) return name.status();
  schema.name = *name;
  auto fields = j.find("fields");
  if (fields == j.end()) return schema;
  if (!fields->is_array()) return Status::InvalidArgument("schema \"fields\" must be an array");
  for (size_t i = 0; i < fields->size(); i++) {
    const Json& f = (*fields)[i];
    std::string what = "schema field " + std::to_string(i);
    QUIPU_RETURN_IF_ERROR(
        CheckKeys(f, what, {"name", "kind", "required", "indexed", "protection", "prefix_tokens"}));
    Result<std::string> field_name = GetString(f, "name", what, std::nullopt);
    if (!field_name.ok()) return field_name.status();
    Result<std::string> kind_name = GetString(f, "kind", what, "text");
    if (!kind_name.ok()) return kind_name.status();
    Result<FieldKind> kind = ParseFieldKind(*kind_name);
    if (!kind.ok()) return kind.status().WithContext(what);
    Result<bool> required = GetBool(f, "required", what);
    if (!required.ok()) return required.status();
    Result<bool> indexed = GetBool(f, "indexed", what);
    if (!indexed.ok()) return indexed.status();
    Result<Protection> protection = ProtectionFromJson(f, what);
    if (!protection.ok()) return protection.status();
    uint32_t prefix_tokens = 0;
    if (auto p = f.find("prefix_tokens"); p != f.end()) {
      if (!p->is_number_unsigned() || p->get<uint64_t>() > kMaxPrefixTokens) {
        return Status::InvalidArgument(what + ": \"prefix_tokens\" must be an integer 0.." +
                                       std::to_string(kMaxPrefixTokens));
      }
      prefix_tokens = p->get<uint32_t>();
    }
    schema.fields.push_back(
        FieldSpec{*field_name, *kind, *required, *indexed, *protection, prefix_tokens});
  }
  return schema;
}

Result<Value> ValueFromArgument(std::string_view text, FieldKind kind) {
  switch (kind) {
    case FieldKind::kText:
      return Value::Text(std::string(text));
    case FieldKind::kNumber: {
      Result<double> number = ParseNumber(text);
      if (!number.ok()) return number.status();
      return Value::Number(*number);
    }
    case FieldKind::kJson: {
      Result<Json> parsed = ParseJson(text, "json value");
      if (!parsed.ok()) return parsed.status();
      return Value::Json(CanonicalJson(*parsed));
    }
    case FieldKind::kSealed:
      break;
  }
  return Status::InvalidArgument("unknown field kind");
}

OrderedJson ValueToJson(const Value& value) {
  if (value.hidden != Hidden::kNo) return HiddenToJson(value.hidden);
  switch (value.kind) {
    case FieldKind::kText:
      return value.text;
    case FieldKind::kNumber: {
      // 2^53: beyond it not every integer is a double, so keep the double.
      double d = value.number;
      if (std::trunc(d) == d && std::fabs(d) < 9007199254740992.0) return static_cast<int64_t>(d);
      return d;
    }
    case FieldKind::kJson: {
      OrderedJson parsed = OrderedJson::parse(value.text, nullptr, /*allow_exceptions=*/false);
      // The store validated it on write; should that ever fail, show the text.
      return parsed.is_discarded() ? OrderedJson(value.text) : parsed;
    }
    case FieldKind::kSealed:
      return HiddenToJson(Hidden::kLocked);
  }
  return nullptr;
}

OrderedJson FieldsToJson(const Fields& fields) {
  OrderedJson out = OrderedJson::object();
  for (const auto& [name, value] : fields) out[name] = ValueToJson(value);
  return out;
}

OrderedJson SchemaToJson(const TypeSchema& schema) {
  OrderedJson out;
  out["name"] = schema.name;
  out["fields"] = OrderedJson::array();
  for (const FieldSpec& f : schema.fields) {
    OrderedJson field;
    field["name"] = f.name;
    field["kind"] = FieldKindName(f.kind);
    field["required"] = f.required;
    field["indexed"] = f.indexed;
    if (f.protection != Protection::kPlain) field["protection"] = ProtectionName(f.protection);
    if (f.prefix_tokens > 0) field["prefix_tokens"] = f.prefix_tokens;
    out["fields"].push_back(std::move(field));
  }
  return out;
}

OrderedJson ColumnToJson(const ColumnSpec& column) {
  OrderedJson out;
  out["name"] = column.name;
  out["kind"] = FieldKindName(column.kind);
  if (column.protection != Protection::kPlain) {
    out["protection"] = ProtectionName(column.protection);
  }
  if (!column.subject.empty()) out["subject"] = column.subject;
  return out;
}

OrderedJson ForgetToJson(const ForgetSummary& forget) {
  OrderedJson out;
  out["type"] = forget.type;
  out["id"] = forget.id;
  out["keys"] = forget.keys;
  out["time"] = FormatRfc3339Utc(forget.micros);
  return out;
}

OrderedJson HiddenToJson(Hidden hidden) {
  switch (hidden) {
    case Hidden::kErased:
      return OrderedJson{{"erased", true}};
    case Hidden::kHashed:
      return OrderedJson{{"hashed", true}};
    case Hidden::kLocked:
      return OrderedJson{{"encrypted", true}};
    case Hidden::kNo:
      break;
  }
  return nullptr;
}

OrderedJson PurgeToJson(const PurgeSummary& purge) {
  OrderedJson out;
  out["first_kept"] = purge.first_kept;
  out["purged_root"] = purge.purged_root;
  out["last_log_id"] = purge.last_log_id;
  out["at"] = FormatRfc3339Utc(purge.micros);
  out["max_age_micros"] = purge.max_age_micros;
  out["max_bytes"] = purge.max_bytes;
  out["segments"] = purge.segments;
  out["bytes"] = purge.bytes;
  out["carried"] = purge.carried;
  return out;
}

OrderedJson CarryToJson(const CarrySummary& carry) {
  return OrderedJson{{"first_kept", carry.first_kept},
                     {"catalog_records", carry.catalog_records},
                     {"entities", carry.entities}};
}

OrderedJson VersionToJson(const EntityVersion& version, bool provenance) {
  OrderedJson out;
  out["type"] = version.type;
  out["id"] = version.id;
  out["version"] = version.version;
  if (provenance) {
    out["created_log_id"] = version.created_log_id;
    out["created_at"] = FormatRfc3339Utc(version.created_micros);
  }
  out["fields"] = FieldsToJson(version.fields);
  return out;
}

OrderedJson HitToJson(const Hit& hit) {
  OrderedJson out;
  out["log_id"] = hit.log_id;
  out["lsn"] = hit.lsn;
  out["timestamp"] = FormatRfc3339Utc(hit.timestamp_micros);
  out["actor"] = VersionToJson(hit.actor, /*provenance=*/false);
  out["method"] = hit.method;
  out["url"] = hit.url;
  out["content"] = hit.content ? ValueToJson(*hit.content) : OrderedJson(nullptr);
  out["columns"] = FieldsToJson(hit.columns);
  out["targets"] = OrderedJson::array();
  for (const EntityVersion& t : hit.targets) {
    out["targets"].push_back(VersionToJson(t, /*provenance=*/false));
  }
  return out;
}

std::string JsonLine(const OrderedJson& value) {
  return value.dump(-1, ' ', false, OrderedJson::error_handler_t::replace) + "\n";
}

Result<int64_t> ParseTimeArgument(std::string_view text) {
  int64_t micros = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), micros);
  if (ec == std::errc() && end == text.data() + text.size()) return micros;
  return ParseRfc3339(text);
}

}  // namespace quipu::json
