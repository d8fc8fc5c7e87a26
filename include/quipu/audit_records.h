// quipu/audit_records.h — reading an audit store's log records without the
// store.
//
// An export (`quipu export --with-proofs`, AuditStore::Export) carries each
// record's bytes beside its JSON, and an inclusion proof proves the bytes. A
// verifier that holds no store needs one more step to trust the JSON: read
// the proven bytes and compare. AuditRecordReader is that step.
//
// Records refer to types, fields and columns by ordinal, so the reader must
// see every type and column record before the events that use them, in log
// order, as the log and a whole export hold them. It keeps nothing of the
// events, so its memory is that of the catalog.
//
// What an event record holds, and so what Read can return: the row (log_id,
// timestamp, method, url, content, columns), the entity and version number
// of its actor and of each target, and the full fields of the versions this
// event wrote (ExportedRecord::written). A pin of a version written by an
// earlier event has no fields here (its `fields` is empty): those are in the
// record that wrote it.
//
// Not thread-safe.
#ifndef QUIPU_AUDIT_RECORDS_H_
#define QUIPU_AUDIT_RECORDS_H_

#include <memory>
#include <string_view>

#include "quipu/audit_types.h"
#include "quipu/status.h"

namespace quipu {

namespace audit {
class Catalog;
}  // namespace audit

class AuditRecordReader {
 public:
  AuditRecordReader();  // knows the built-in types only
  ~AuditRecordReader();
  AuditRecordReader(const AuditRecordReader&) = delete;
  AuditRecordReader& operator=(const AuditRecordReader&) = delete;

  // Reads the record at `lsn`. Errors: Corruption when the bytes do not
  // decode, or name a type, field or column no earlier record defined, or
  // evolve a type in a way no store writes; NotSupported for a record newer
  // than this build.
  Result<ExportedRecord> Read(std::string_view record, Lsn lsn);

 private:
  std::unique_ptr<audit::Catalog> catalog_;
};

}  // namespace quipu

#endif  // QUIPU_AUDIT_RECORDS_H_
