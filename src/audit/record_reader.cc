// audit/record_reader.cc — AuditRecordReader (quipu/audit_records.h).
#include <string>

#include "audit/catalog.h"
#include "audit/record.h"
#include "audit/record_names.h"
#include "quipu/audit_records.h"

namespace quipu {

AuditRecordReader::AuditRecordReader() : catalog_(std::make_unique<audit::Catalog>()) {}
AuditRecordReader::~AuditRecordReader() = default;

Result<ExportedRecord> AuditRecordReader::Read(std::string_view record, Lsn lsn) {
  ExportedRecord out;
  out.lsn = lsn;
  out.record = std::string(record);
  Result<audit::RecordKind> kind = audit::PeekKind(record);
  Status s = kind.status();
  // A verifier sees the types as the log defined them, one record at a
  // time; "has entities" only matters for refusing a change a writer asks
  // for, never for replaying one that was written.
  const audit::HasEntities replaying = [](uint32_t) { return false; };
  if (s.ok() && *kind == audit::RecordKind::kType) {
    audit::TypeRecord rec;
    s = audit::DecodeType(record, &rec);
    if (s.ok()) s = catalog_->ApplyType(rec, replaying);
    out.kind = ExportedRecord::Kind::kType;
    out.type = std::move(rec.schema);
  } else if (s.ok() && *kind == audit::RecordKind::kColumn) {
    audit::ColumnRecord rec;
    s = audit::DecodeColumn(record, &rec);
    if (s.ok()) s = catalog_->ApplyColumn(rec);
    out.kind = ExportedRecord::Kind::kColumn;
    out.column = std::move(rec.column);
  } else if (s.ok() && audit::IsSummarized(*kind)) {
    s = audit::SummarizeRetentionRecord(record, *kind, *catalog_, &out);
  } else if (s.ok()) {
    audit::EventRecord rec;
    s = audit::DecodeEvent(record, &rec);
    Result<std::vector<EntityVersion>> written = std::vector<EntityVersion>();
    if (s.ok()) written = audit::NamedWrittenVersions(rec, *catalog_);
    if (s.ok()) s = written.status();
    Result<Hit> row = Hit();
    if (s.ok()) row = audit::NamedRow(rec, lsn, *catalog_, *written);
    if (s.ok()) s = row.status();
    if (s.ok()) {
      out.kind = ExportedRecord::Kind::kEvent;
      out.event = std::move(*row);
      out.written = std::move(*written);
    }
  }
  if (!s.ok()) return s.WithContext("record at LSN " + std::to_string(lsn));
  return out;
}

}  // namespace quipu
