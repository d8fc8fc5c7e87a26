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
  if (value.hidden != Hidden::kNo) {
    return Status::InvalidArgument(what +
                                   ": a hidden value (erased, hashed or locked) cannot be "
                                   "written");
  }
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

Status NeedsProtector(const std::string& what) {
  return Status::FailedPrecondition(what +
                                    " is protected: writing it needs the master key "
                                    "(AuditOptions::keys, --key-file)");
}

class EventBuilder {
 public:
  EventBuilder(const Catalog& catalog, EntityLookup& entities, Protector* protector)
      : catalog_(catalog), entities_(entities), protector_(protector) {}

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
      return PinAgain(in, schema, it->second, type);
    }
    return PinFirst(in, *view, std::move(key), rec);
  }

 private:
  // Whether stored value `stored` of field `ordinal` already holds `given`.
  Result<bool> Holds(const FieldSpec& spec, uint32_t type, uint32_t ordinal, const Value& stored,
                     const Value& given) const {
    if (spec.protection == Protection::kPlain) return stored == given;
    if (protector_ == nullptr) return NeedsProtector("field " + Quote(spec.name));
    return protector_->Holds(stored, given, Scope{'f', type, ordinal});
  }

  // A second mention must not change what the first one wrote.
  Result<RefRecord> PinAgain(const EntityInput& in, const TypeSchema& schema, const Mention& m,
                             uint32_t type) {
    for (const auto& [name, value] : in.fields) {
      const uint32_t ordinal = *FieldOrdinal(schema, name);
      auto stored = m.fields.find(name);
      bool same = false;
      if (stored != m.fields.end()) {
        auto holds = Holds(schema.fields[ordinal], type, ordinal, stored->second, value);
        if (!holds.ok()) return holds.status();
        same = *holds;
      }
      if (!same) {
        return Status::InvalidArgument("entity " + Quote(in.id) + " of type " + Quote(in.type) +
                                       " appears twice in one event with different fields");
      }
    }
    return RefRecord{type, in.id, m.number};
  }

  // `in`'s fields merged onto `current` (stored values): protected values
  // are sealed unless the stored one already holds them.
  Result<Fields> Merge(const EntityInput& in, const TypeSchema& schema, uint32_t type,
                       const Fields& current) {
    Fields merged = current;
    for (const auto& [name, value] : in.fields) {
      const uint32_t ordinal = *FieldOrdinal(schema, name);
      const FieldSpec& spec = schema.fields[ordinal];
      auto stored = current.find(name);
      if (stored != current.end()) {
        auto holds = Holds(spec, type, ordinal, stored->second, value);
        if (!holds.ok()) return holds.status();
        if (*holds) continue;
      }
      if (spec.protection == Protection::kPlain) {
        merged[name] = value;
        continue;
      }
      if (protector_ == nullptr) return NeedsProtector("field " + Quote(name));
      auto sealed = protector_->Seal(value, spec.protection, spec.prefix_tokens,
                                     Scope{'f', type, ordinal}, type, in.id);
      if (!sealed.ok()) return sealed.status().WithContext("field " + Quote(name));
      merged[name] = std::move(*sealed);
    }
    return merged;
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
    auto merged_or = Merge(in, *view.schema, type, m.fields);
    if (!merged_or.ok()) return merged_or.status();
    Fields merged = std::move(*merged_or);
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
  Protector* protector_;
  std::map<MentionKey, Mention> mentions_;
};

// The entity whose key seals protected column `column` of `rec`: the actor,
// or the first target of the column's subject type.
Result<const RefRecord*> SubjectOf(const Catalog& catalog, const ColumnSpec& column,
                                   const EventRecord& rec) {
  if (column.subject.empty()) return &rec.actor;
  auto type = catalog.LookupType(column.subject);
  if (!type.ok()) return type.status();
  for (const RefRecord& t : rec.targets) {
    if (t.type == type->type->ordinal) return &t;
  }
  return Status::InvalidArgument("column " + Quote(column.name) +
                                 " is sealed for a target of type " + Quote(column.subject) +
                                 ", and the event has none");
}

Status CheckColumns(const Catalog& catalog, Protector* protector, const Fields& columns,
                    EventRecord* rec) {
  OrdinalValues* out = &rec->columns;
  for (const auto& [name, value] : columns) {
    auto column = catalog.LookupColumn(name);
    if (!column.ok()) return column.status();
    const ColumnSpec& spec = column->second;
    QUIPU_RETURN_IF_ERROR(CheckValue("column " + Quote(name), spec.kind, value));
    if (spec.protection == Protection::kPlain) {
      out->emplace_back(column->first, value);
      continue;
    }
    if (protector == nullptr) return NeedsProtector("column " + Quote(name));
    auto subject = SubjectOf(catalog, spec, *rec);
    if (!subject.ok()) return subject.status();
    auto sealed = protector->Seal(value, spec.protection, 0, Scope{'c', 0, column->first},
                                  (*subject)->type, (*subject)->id);
    if (!sealed.ok()) return sealed.status().WithContext("column " + Quote(name));
    out->emplace_back(column->first, std::move(*sealed));
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

Result<EventRecord> PrepareEvent(const Catalog& catalog, EntityLookup& entities,
                                 Protector* protector, uint64_t log_id, const Event& event,
                                 int64_t now) {
  EventRecord rec;
  rec.log_id = log_id;
  rec.micros = event.timestamp_micros.value_or(now);
  if (rec.micros < kMinMicros || rec.micros > kMaxMicros) {
    return Status::InvalidArgument("event timestamp out of range (years 0000..9999)");
  }
  EventBuilder builder(catalog, entities, protector);
  auto actor = builder.Pin(event.actor, &rec);
  if (!actor.ok()) return actor.status().WithContext("actor");
  rec.actor = std::move(*actor);
  for (size_t i = 0; i < event.targets.size(); ++i) {
    auto target = builder.Pin(event.targets[i], &rec);
    if (!target.ok()) return target.status().WithContext("target " + std::to_string(i));
    rec.targets.push_back(std::move(*target));
  }
  QUIPU_RETURN_IF_ERROR(CheckContent(event.content));
  QUIPU_RETURN_IF_ERROR(CheckColumns(catalog, protector, event.columns, &rec));
  rec.method = event.method;
  rec.url = event.url;
  rec.content = event.content;
  return rec;
}

}  // namespace quipu::audit
