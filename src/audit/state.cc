// audit/state.cc — applying records to the in-memory state.
//
// ApplyEvent checks every reference before changing anything it cannot
// undo, in this order: the log_id, the idempotency key, the new versions
// (each against the entity's current count), the pins, the columns. A
// record that fails is a bug or damage: Open reports it as Corruption at
// its LSN.
#include "audit/state.h"

#include <algorithm>

#include "util/quote.h"

namespace quipu::audit {

namespace {

Status Bad(const std::string& what) { return Status::Corruption("audit event record: " + what); }

// Converts (ordinal, value) pairs of a version into named fields, checking
// each ordinal and kind against the schema.
Status NamedFields(const TypeSchema& schema, OrdinalValues&& values, Fields* out) {
  for (auto& [ordinal, value] : values) {
    if (ordinal >= schema.fields.size() || schema.fields[ordinal].kind != value.kind) {
      return Bad("field ordinal " + std::to_string(ordinal) + " does not fit type '" + schema.name +
                 "'");
    }
    out->emplace_hint(out->end(), schema.fields[ordinal].name, std::move(value));
  }
  return Status::OK();
}

}  // namespace

Status AuditState::ApplyVersion(VersionRecord&& v, uint64_t log_id, int64_t micros) {
  auto view = catalog_.TypeAt(v.type);
  if (!view) return Bad("unknown type ordinal " + std::to_string(v.type));
  Registry& registry = view->type->registry;
  StoredVersion stored;
  stored.number = v.number;
  stored.log_id = log_id;
  stored.micros = micros;
  QUIPU_RETURN_IF_ERROR(NamedFields(*view->schema, std::move(v.fields), &stored.fields));
  auto entity = registry.FindAsWriter(v.id);
  const uint32_t count =
      entity ? registry.entity(*entity).count.load(std::memory_order_relaxed) : 0;
  if (v.number != count + 1) {
    return Bad("version " + std::to_string(v.number) + " of " + QuoteInput(v.id) +
               " follows version " + std::to_string(count));
  }
  stored.entity = entity ? *entity : registry.AddEntity(std::move(v.id));
  registry.AddVersion(std::move(stored));
  return Status::OK();
}

Result<PinnedEntity> AuditState::ResolvePin(const RefRecord& ref) const {
  const TypeState* type = catalog_.StateAt(ref.type);
  if (type == nullptr) return Bad("pin of unknown type ordinal " + std::to_string(ref.type));
  const Registry& registry = type->registry;
  auto entity = registry.FindAsWriter(ref.id);
  std::optional<uint32_t> version;
  if (entity) version = registry.VersionIndex(*entity, ref.number);
  if (!version) {
    return Bad("pin of missing version " + std::to_string(ref.number) + " of " +
               QuoteInput(ref.id));
  }
  return PinnedEntity{ref.type, *entity, *version};
}

Status AuditState::FillRow(EventRecord&& rec, Lsn lsn, Row* row) const {
  row->log_id = rec.log_id;
  row->lsn = lsn;
  row->micros = rec.micros;
  auto actor = ResolvePin(rec.actor);
  if (!actor.ok()) return actor.status();
  row->actor = *actor;
  row->targets.clear();
  for (const RefRecord& t : rec.targets) {
    auto target = ResolvePin(t);
    if (!target.ok()) return target.status();
    row->targets.push_back(*target);
  }
  for (const auto& [ordinal, value] : rec.columns) {
    auto column = catalog_.ColumnAt(ordinal);
    if (!column || column->kind != value.kind) {
      return Bad("column ordinal " + std::to_string(ordinal) + " does not fit");
    }
  }
  row->method = std::move(rec.method);
  row->url = std::move(rec.url);
  row->content = std::move(rec.content);
  row->columns = std::move(rec.columns);
  return Status::OK();
}

Status AuditState::ApplyEvent(EventRecord&& rec, Lsn lsn) {
  const uint64_t expected = RowCount() + 1;
  if (rec.log_id != expected) {
    return Bad("log_id " + std::to_string(rec.log_id) + " where " + std::to_string(expected) +
               " was due");
  }
  std::optional<IdempotencyRecord> idem = std::move(rec.idempotency);
  if (idem && !CheckIdempotencyKey(idem->key).ok()) return Bad("malformed idempotency key");
  for (VersionRecord& v : rec.versions) {
    QUIPU_RETURN_IF_ERROR(ApplyVersion(std::move(v), rec.log_id, rec.micros));
  }
  // The slot is not visible until Publish, so a failure here leaves no row.
  Row& row = rows_.Next();
  const uint64_t log_id = rec.log_id;
  QUIPU_RETURN_IF_ERROR(FillRow(std::move(rec), lsn, &row));
  // Relations go in before the row is published: a reader that sees the row
  // count also sees every posting of the rows below it.
  const auto index = static_cast<uint32_t>(log_id - 1);
  auto post = [&](const PinnedEntity& p, bool as_actor) {
    Entity& e = catalog_.StateAt(p.type)->registry.MutableEntity(p.entity);
    (as_actor ? e.as_actor : e.as_target).Push(index);
  };
  post(row.actor, true);
  for (size_t i = 0; i < row.targets.size(); ++i) {
    const PinnedEntity& t = row.targets[i];
    // An entity named twice as a target is posted once (targets are few).
    auto same = [&](const PinnedEntity& o) { return o.type == t.type && o.entity == t.entity; };
    if (std::none_of(row.targets.begin(), row.targets.begin() + i, same)) post(t, false);
  }
  rows_.Publish();
  if (idem) keys_.Add(idem->key, KeyedEvent{log_id, idem->fingerprint, idem->written_micros});
  return Status::OK();
}

Status AuditState::ApplyPayload(std::string_view payload, Lsn lsn) {
  auto kind = PeekKind(payload);
  Status s = kind.status();
  if (s.ok()) {
    switch (*kind) {
      case RecordKind::kType: {
        TypeRecord rec;
        s = DecodeType(payload, &rec);
        if (s.ok()) s = catalog_.ApplyType(rec);
        break;
      }
      case RecordKind::kColumn: {
        ColumnRecord rec;
        s = DecodeColumn(payload, &rec);
        if (s.ok()) s = catalog_.ApplyColumn(rec);
        break;
      }
      case RecordKind::kEvent:
      case RecordKind::kKeyedEvent: {
        EventRecord rec;
        s = DecodeEvent(payload, &rec);
        if (s.ok()) s = ApplyEvent(std::move(rec), lsn);
        break;
      }
    }
  }
  return s.WithContext("LSN " + std::to_string(lsn));
}

}  // namespace quipu::audit
