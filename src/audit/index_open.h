// audit/index_open.h — opening an audit store's derived index and bringing
// it in line with the log before the store is used.
//
// For the writer, in this order:
//   1. open DIR/index, or build it from scratch when it is missing, damaged
//      (RocksDB reports corruption), of another format, or asked to be
//      rebuilt;
//   2. the index's applied LSN past the log's last record (a power cut took
//      records the index had seen): take them back (audit/index_repair.h);
//   3. otherwise, the record at the applied LSN must be the one the index
//      saw (same CRC-32C), or the index belongs to another log: rebuild;
//   4. load the catalog, then apply the records after the applied LSN, in
//      large batches, and flush them.
// A reader only opens the index as it is (read-only) and loads the catalog.
#ifndef QUIPU_AUDIT_INDEX_OPEN_H_
#define QUIPU_AUDIT_INDEX_OPEN_H_

#include <memory>
#include <string>

#include "audit/catalog.h"
#include "audit/index_apply.h"
#include "audit/index_db.h"
#include "audit/protect.h"
#include "quipu/audit.h"
#include "quipu/log.h"

namespace quipu::audit {

struct OpenedIndex {
  std::unique_ptr<IndexDb> db;
  std::unique_ptr<IndexApplier> applier;
  IndexReport report;
};

// The index's directory inside the store's.
std::string IndexPath(const std::string& dir);

// `protector` opens the sealed values of records applied, for their tokens.
Result<OpenedIndex> OpenIndexForWriter(const std::string& dir, Log* log, Catalog* catalog,
                                       Protector* protector, const AuditOptions& options);
Result<OpenedIndex> OpenIndexForReader(const std::string& dir, Catalog* catalog,
                                       Protector* protector, const AuditOptions& options);

}  // namespace quipu::audit

#endif  // QUIPU_AUDIT_INDEX_OPEN_H_
