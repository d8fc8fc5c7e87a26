// audit/prepare.cc — turning an Event into an EventRecord: validation,
// merging fields into versions, pinning.
//
// Nothing here changes state, so a refused event leaves no trace. The writer
// mutex is held by the caller, which makes "the current version" stable
// between this check and ApplyEvent.
#include "audit/prepare.h"

#include <algorithm>
#include <cmath>
#include <map>

#include "audit/index_read.h"
#include "audit/json_check.h"
#include "util/quote.h"

namespace quipu::audit {

namespace {

constexpr size_t kMaxIdLength = 1024;

std::string Quote(std::string_view s) { return QuoteInput(s); }

// Checks that `value` may be stored in a slot of kind `kind`; `what` names
// the slot for the error ("field 'age' of type 'user'").
Status CheckValue(const std::string& what, FieldKind kind, const Value& value) {
  if (value.kind != kind) {
    return Status::InvalidArgument(what + " is " + std::string(FieldKindName(kind)) + ", got " +
                                   std::string(FieldKindName(value.kind)));
  }
  if (kind == FieldKind::kNumber && !std::isfinite(value.number)) {
    return Status::InvalidArgument(what + ": numbers must be finite");
  }
  if (kind == FieldKind::kJson) {
    Status s = CheckJson(value.text);
    if (!s.ok()) return Status::InvalidArgument(what + ": " + s.message());
  }
  return Status::OK();
}

// The entities an event has mentioned so far, with the version each pins.
struct Mention {
  uint32_t number = 0;
  Fields fields;
};
using MentionKey = std::pair<uint32_t, std::string>;  // (type ordinal, id)

class EventBuilder {
 public:
  EventBuilder(const Catalog& catalog, EntityLookup& entities)
      : catalog_(catalog), entities_(entities) {}

  // Resolves one mention of an entity into a pin, adding a new version to
  // `rec` if the mention changes the entity.
  Result<RefRecord> Pin(const EntityInput& in, EventRecord* rec) {
    auto view = catalog_.LookupType(in.type);
    if (!view.ok()) return view.status();
    const TypeSchema& schema = *view->schema;
    if (in.id.empty() || in.id.size() > kMaxIdLength) {
      return Status::InvalidArgument("entity id of type " + Quote(in.type) +
                                     " must be 1..1024 bytes");
    }
    for (const auto& [name, value] : in.fields) {
      auto ordinal = FieldOrdinal(schema, name);
      if (!ordinal) {
        return Status::InvalidArgument("type " + Quote(in.type) + " has no field " + Quote(name));
      }
      QUIPU_RETURN_IF_ERROR(CheckValue("field " + Quote(name) + " of type " + Quote(in.type),
                                       schema.fields[*ordinal].kind, value));
    }
    const uint32_t type = view->type->ordinal;
    MentionKey key{type, in.id};
    if (auto it = mentions_.find(key); it != mentions_.end()) {
      return PinAgain(in, it->second, type);
    }
    return PinFirst(in, *view, std::move(key), rec);
  }

 private:
  // A second mention must not change what the first one wrote.
  Result<RefRecord> PinAgain(const EntityInput& in, const Mention& m, uint32_t type) {
    Fields merged = m.fields;
    for (const auto& [name, value] : in.fields) merged[name] = value;
    if (merged != m.fields) {
      return Status::InvalidArgument("entity " + Quote(in.id) + " of type " + Quote(in.type) +
                                     " appears twice in one event with different fields");
    }
    return RefRecord{type, in.id, m.number};
  }

  Result<RefRecord> PinFirst(const EntityInput& in, const TypeView& view, MentionKey key,
                             EventRecord* rec) {
    const uint32_t type = view.type->ordinal;
    Mention m;
    auto entity = entities_.Current(type, in.id);
    if (!entity.ok()) return entity.status();
    if (*entity) {
      m.number = (*entity)->count;
      m.fields = IndexRead::Named(*view.schema, (*entity)->fields);
    }
    Fields merged = m.fields;
    for (const auto& [name, value] : in.fields) merged[name] = value;
    if (!*entity || merged != m.fields) {
      QUIPU_RETURN_IF_ERROR(CheckRequired(*view.schema, merged, in.id));
      m.number += 1;
      m.fields = std::move(merged);
      rec->versions.push_back(
          VersionRecord{view.type->ordinal, in.id, m.number, ToOrdinals(*view.schema, m.fields)});
    }
    const uint32_t number = m.number;
    mentions_.emplace(std::move(key), std::move(m));
    return RefRecord{view.type->ordinal, in.id, number};
  }

  static Status CheckRequired(const TypeSchema& schema, const Fields& fields,
                              const std::string& id) {
    for (const FieldSpec& f : schema.fields) {
      if (f.required && fields.find(f.name) == fields.end()) {
        return Status::InvalidArgument("entity " + Quote(id) + " of type " + Quote(schema.name) +
                                       " lacks required field " + Quote(f.name));
      }
    }
    return Status::OK();
  }

  static OrdinalValues ToOrdinals(const TypeSchema& schema, const Fields& fields) {
    OrdinalValues out;
    for (size_t i = 0; i < schema.fields.size(); ++i) {
      auto it = fields.find(schema.fields[i].name);
      if (it != fields.end()) out.emplace_back(static_cast<uint32_t>(i), it->second);
    }
    return out;
  }

  const Catalog& catalog_;
  EntityLookup& entities_;
  std::map<MentionKey, Mention> mentions_;
};

Status CheckColumns(const Catalog& catalog, const Fields& columns, OrdinalValues* out) {
  for (const auto& [name, value] : columns) {
    auto column = catalog.LookupColumn(name);
    if (!column.ok()) return column.status();
    QUIPU_RETURN_IF_ERROR(CheckValue("column " + Quote(name), column->second.kind, value));
    out->emplace_back(column->first, value);
  }
  std::sort(out->begin(), out->end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  return Status::OK();
}

Status CheckContent(const std::optional<Value>& content) {
  if (!content) return Status::OK();
  if (content->kind == FieldKind::kNumber) {
    return Status::InvalidArgument("content must be text or json, not a number");
  }
  return CheckValue("content", content->kind, *content);
}

}  // namespace

Result<EventRecord> PrepareEvent(const Catalog& catalog, EntityLookup& entities, uint64_t log_id,
                                 const Event& event, int64_t now) {
  EventRecord rec;
  rec.log_id = log_id;
  rec.micros = event.timestamp_micros.value_or(now);
  if (rec.micros < kMinMicros || rec.micros > kMaxMicros) {
    return Status::InvalidArgument("event timestamp out of range (years 0000..9999)");
  }
  EventBuilder builder(catalog, entities);
  auto actor = builder.Pin(event.actor, &rec);
  if (!actor.ok()) return actor.status().WithContext("actor");
  rec.actor = std::move(*actor);
  for (size_t i = 0; i < event.targets.size(); ++i) {
    auto target = builder.Pin(event.targets[i], &rec);
    if (!target.ok()) return target.status().WithContext("target " + std::to_string(i));
    rec.targets.push_back(std::move(*target));
  }
  QUIPU_RETURN_IF_ERROR(CheckContent(event.content));
  QUIPU_RETURN_IF_ERROR(CheckColumns(catalog, event.columns, &rec.columns));
  rec.method = event.method;
  rec.url = event.url;
  rec.content = event.content;
  return rec;
}

}  // namespace quipu::audit
