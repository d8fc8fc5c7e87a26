// audit/record_names.h — a decoded event record with its ordinals named.
//
// Records name types, fields and columns by ordinal (audit/record.h). These
// turn one into the names callers see, strictly: an ordinal the catalog does
// not know is Corruption, since a record that passed Apply* never has one.
// Used by exports (the versions a record wrote) and by AuditRecordReader,
// which has no index to read pinned versions from. Having no keys, they
// show protected values hidden (ShowSealedWithoutKeys).
#ifndef QUIPU_AUDIT_RECORD_NAMES_H_
#define QUIPU_AUDIT_RECORD_NAMES_H_

#include <vector>

#include "audit/catalog.h"
#include "audit/record.h"
#include "quipu/audit_types.h"

namespace quipu::audit {

// The versions `rec` wrote, fields named, created by its row.
Result<std::vector<EntityVersion>> NamedWrittenVersions(const EventRecord& rec,
                                                        const Catalog& catalog);

// The row of `rec`: pins carry type, id and number, and the fields of the
// versions in `written` (those `rec` wrote); other pins have none.
Result<Hit> NamedRow(const EventRecord& rec, Lsn lsn, const Catalog& catalog,
                     const std::vector<EntityVersion>& written);

// Fills out->kind and out->purge, out->carry or out->forget from a purge,
// carry or forget record (`kind`); Corruption when it does not decode.
Status SummarizeRetentionRecord(std::string_view payload, RecordKind kind, const Catalog& catalog,
                                ExportedRecord* out);

// Whether `kind` is one of the records SummarizeRetentionRecord reads.
inline bool IsSummarized(RecordKind kind) {
  return kind == RecordKind::kPurge || kind == RecordKind::kCarry || kind == RecordKind::kForget;
}

}  // namespace quipu::audit

#endif  // QUIPU_AUDIT_RECORD_NAMES_H_
