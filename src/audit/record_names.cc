// audit/record_names.cc — naming the ordinals of a decoded event record.
#include "audit/record_names.h"

#include <string>

#include "audit/protect.h"
#include "util/quote.h"

namespace quipu::audit {

namespace {

Result<TypeView> TypeOf(const Catalog& catalog, uint32_t ordinal) {
  std::optional<TypeView> view = catalog.TypeAt(ordinal);
  if (!view) {
    return Status::Corruption("event record names type ordinal " + std::to_string(ordinal) +
                              ", which no earlier record defines");
  }
  return *view;
}

Result<Fields> NamedFields(const TypeSchema& schema, const OrdinalValues& values) {
  Fields out;
  for (const auto& [ordinal, value] : values) {
    if (ordinal >= schema.fields.size()) {
      return Status::Corruption("event record names field ordinal " + std::to_string(ordinal) +
                                " of type " + QuoteInput(schema.name) + ", which has " +
                                std::to_string(schema.fields.size()) + " fields");
    }
    auto shown = ShowSealedWithoutKeys(value);
    if (!shown.ok()) return shown.status();
    out.emplace(schema.fields[ordinal].name, std::move(*shown));
  }
  return out;
}

}  // namespace

Result<std::vector<EntityVersion>> NamedWrittenVersions(const EventRecord& rec,
                                                        const Catalog& catalog) {
  std::vector<EntityVersion> out;
  for (const VersionRecord& v : rec.versions) {
    Result<TypeView> type = TypeOf(catalog, v.type);
    if (!type.ok()) return type.status();
    Result<Fields> fields = NamedFields(*type->schema, v.fields);
    if (!fields.ok()) return fields.status();
    out.push_back(EntityVersion{type->type->name, v.id, v.number, rec.log_id, rec.micros,
                                std::move(*fields)});
  }
  return out;
}

Result<Hit> NamedRow(const EventRecord& rec, Lsn lsn, const Catalog& catalog,
                     const std::vector<EntityVersion>& written) {
  auto pin = [&](const RefRecord& ref) -> Result<EntityVersion> {
    Result<TypeView> type = TypeOf(catalog, ref.type);
    if (!type.ok()) return type.status();
    for (const EntityVersion& w : written) {
      if (w.type == type->type->name && w.id == ref.id && w.version == ref.number) return w;
    }
    return EntityVersion{type->type->name, ref.id, ref.number, 0, 0, {}};
  };
  Hit hit;
  hit.log_id = rec.log_id;
  hit.lsn = lsn;
  hit.timestamp_micros = rec.micros;
  Result<EntityVersion> actor = pin(rec.actor);
  if (!actor.ok()) return actor.status();
  hit.actor = std::move(*actor);
  hit.method = rec.method;
  hit.url = rec.url;
  hit.content = rec.content;
  for (const auto& [ordinal, value] : rec.columns) {
    std::optional<ColumnSpec> column = catalog.ColumnAt(ordinal);
    if (!column) {
      return Status::Corruption("event record names column ordinal " + std::to_string(ordinal) +
                                ", which no earlier record registers");
    }
    auto shown = ShowSealedWithoutKeys(value);
    if (!shown.ok()) return shown.status();
    hit.columns[column->name] = std::move(*shown);
  }
  for (const RefRecord& t : rec.targets) {
    Result<EntityVersion> target = pin(t);
    if (!target.ok()) return target.status();
    hit.targets.push_back(std::move(*target));
  }
  return hit;
}

Status SummarizeRetentionRecord(std::string_view payload, RecordKind kind, const Catalog& catalog,
                                ExportedRecord* out) {
  if (kind == RecordKind::kForget) {
    ForgetRecord rec;
    QUIPU_RETURN_IF_ERROR(DecodeForget(payload, &rec));
    Result<TypeView> type = TypeOf(catalog, rec.type);
    if (!type.ok()) return type.status();
    out->kind = ExportedRecord::Kind::kForget;
    out->forget = ForgetSummary{type->type->name, rec.id, static_cast<uint32_t>(rec.key_ids.size()),
                                rec.micros};
    return Status::OK();
  }
  if (kind == RecordKind::kPurge) {
    PurgeRecord rec;
    QUIPU_RETURN_IF_ERROR(DecodePurge(payload, &rec));
    out->kind = ExportedRecord::Kind::kPurge;
    out->purge =
        PurgeSummary{rec.first_kept,     rec.purged_root.ToHex(), rec.last_log_id, rec.micros,
                     rec.max_age_micros, rec.max_bytes,           rec.segments,    rec.bytes,
                     rec.carried};
    return Status::OK();
  }
  CarryRecord rec;
  QUIPU_RETURN_IF_ERROR(DecodeCarry(payload, &rec));
  out->kind = ExportedRecord::Kind::kCarry;
  out->carry = CarrySummary{rec.first_kept, rec.catalog.size(), rec.entities.size()};
  return Status::OK();
}

}  // namespace quipu::audit
