// audit/index_repair.h — taking back index entries of records the log lost.
//
// The writer applies a record to the index right after appending it, before
// it is durable, and RocksDB may write that entry to disk before the log's
// own bytes get there. A power cut can therefore leave an index that is
// ahead of the surviving log; and since RocksDB's log replay may skip a lost
// batch yet replay later ones, the index past its last sync point may also
// have holes. Open calls UndoAfter to take the index back to an LSN it can
// trust (the sync point, or the log's end if that is lower), removing what
// each record after it added, newest first, from the records themselves
// (rows keep their event record verbatim; catalog entries are keyed by
// LSN); a record whose batch was lost left nothing to remove. The cost is
// proportional to the records undone, not to the store.
#ifndef QUIPU_AUDIT_INDEX_REPAIR_H_
#define QUIPU_AUDIT_INDEX_REPAIR_H_

#include <cstdint>

#include "audit/index_db.h"
#include "audit/protect.h"

namespace quipu::audit {

// Removes the entries of every record after `keep` and sets the meta and the
// sync point to `keep` (whose payload's CRC-32C is `keep_crc`), in one synced
// write: a second crash cannot bring them back once new records reuse their
// LSNs. Everything up to `keep` must be intact (at or below the sync point).
// Returns the number of records undone. FailedPrecondition, changing
// nothing, when the index's own copy of record `keep` differs from the
// log's (an index of another log). Must run before the catalog is loaded
// and before anything else writes.
// `protector` opens sealed values for the tokens to take back.
Result<uint64_t> UndoAfter(IndexDb* db, Lsn keep, uint32_t keep_crc, const Protector* protector);

}  // namespace quipu::audit

#endif  // QUIPU_AUDIT_INDEX_REPAIR_H_
