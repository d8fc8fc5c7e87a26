// audit/index_export.cc — an export of the store's records from one snapshot
// of the derived index (AuditStore::Export).
//
// The index holds every type and column record verbatim (C entries), the
// purge and carry records of retention and forget records (G entries), and every event record
// verbatim in its row (R entries), so an export reads no segment: the catalog records, which are
// few, are loaded first, and the rows, in log_id order, are merged with them by LSN.
#include <algorithm>
#include <string>
#include <vector>

#include "audit/index_keys.h"
#include "audit/index_read.h"
#include "audit/record_names.h"

namespace quipu::audit {

namespace {

Status NonEventRecords(const IndexSnapshot& snap, const Catalog& catalog, char tag, Lsn last_lsn,
                       std::vector<ExportedRecord>* out) {
  const std::string lower(1, tag);
  BoundedIterator it(snap, lower, keys::Successor(lower));
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    ExportedRecord rec;
    rec.lsn = keys::GetBig64(it->key().data() + 1);
    if (rec.lsn > last_lsn) break;
    rec.record = std::string(View(it->value()));
    auto kind = PeekKind(rec.record);
    Status s = kind.status();
    if (s.ok() && *kind == RecordKind::kType) {
      TypeRecord type;
      s = DecodeType(rec.record, &type);
      rec.kind = ExportedRecord::Kind::kType;
      rec.type = std::move(type.schema);
    } else if (s.ok() && *kind == RecordKind::kColumn) {
      ColumnRecord column;
      s = DecodeColumn(rec.record, &column);
      rec.kind = ExportedRecord::Kind::kColumn;
      rec.column = std::move(column.column);
    } else if (s.ok() && IsSummarized(*kind)) {
      s = SummarizeRetentionRecord(rec.record, *kind, catalog, &rec);
    } else if (s.ok()) {
      s = Status::Corruption("an event record under a catalog key");
    }
    if (!s.ok()) return s.WithContext("index catalog entry of LSN " + std::to_string(rec.lsn));
    out->push_back(std::move(rec));
  }
  return FromRocks(it->status(), "read catalog");
}

// The catalog records, then the purge and carry records, with LSN <=
// last_lsn, each in log order, decoded.
Status CatalogRecords(const IndexSnapshot& snap, const Catalog& catalog, Lsn last_lsn,
                      std::vector<ExportedRecord>* out) {
  QUIPU_RETURN_IF_ERROR(NonEventRecords(snap, catalog, keys::kCatalog, last_lsn, out));
  return NonEventRecords(snap, catalog, keys::kPurge, last_lsn, out);
}

}  // namespace

Result<Lsn> IndexRead::AppliedLsn() {
  auto bytes = Get(keys::Meta());
  if (!bytes.ok()) return bytes.status();
  IndexMeta meta;
  if (*bytes) QUIPU_RETURN_IF_ERROR(DecodeMeta(**bytes, &meta));
  return meta.applied_lsn;
}

Status IndexRead::Export(const Query& filter, Lsn last_lsn,
                         const std::function<Status(const ExportedRecord&)>& sink) {
  auto applied = AppliedLsn();
  if (!applied.ok()) return applied.status();
  if (last_lsn == 0 || last_lsn > *applied) last_lsn = *applied;
  std::vector<ExportedRecord> catalog;
  QUIPU_RETURN_IF_ERROR(CatalogRecords(snap_, *catalog_, last_lsn, &catalog));
  std::stable_sort(catalog.begin(), catalog.end(),
                   [](const ExportedRecord& a, const ExportedRecord& b) { return a.lsn < b.lsn; });
  size_t next_catalog = 0;
  auto catalog_before = [&](Lsn lsn) -> Status {
    for (; next_catalog < catalog.size() && catalog[next_catalog].lsn < lsn; ++next_catalog) {
      QUIPU_RETURN_IF_ERROR(sink(catalog[next_catalog]));
    }
    return Status::OK();
  };
  ExportedRecord out;
  out.kind = ExportedRecord::Kind::kEvent;
  QUIPU_RETURN_IF_ERROR(ForEachInLogOrder(
      filter, last_lsn, [&](const EventRecord& rec, Lsn lsn, std::string_view payload) -> Status {
        QUIPU_RETURN_IF_ERROR(catalog_before(lsn));
        auto written = NamedWrittenVersions(rec, *catalog_);
        if (!written.ok()) return written.status();
        // Shown as a reader of this store sees them (the names above hide
        // protected values).
        for (size_t i = 0; i < rec.versions.size(); ++i) {
          const VersionRecord& v = rec.versions[i];
          auto type = catalog_->TypeAt(v.type);
          if (!type) continue;
          auto fields = Shown(*type->schema, v.type, v.fields);
          if (!fields.ok()) return fields.status();
          (*written)[i].fields = std::move(*fields);
        }
        out.lsn = lsn;
        out.record.assign(payload);
        auto hit = ToHit(rec, lsn);
        if (!hit.ok()) return hit.status();
        out.event = std::move(*hit);
        out.written = std::move(*written);
        return sink(out);
      }));
  return catalog_before(UINT64_MAX);
}

}  // namespace quipu::audit
