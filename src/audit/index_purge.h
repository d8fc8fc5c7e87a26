// audit/index_purge.h — what a retention purge does to the derived index,
// and the state it carries past itself.
//
// A purge (AuditStore::Retain, docs/audit.md "Retention") drops the log's
// oldest segments. Rows they held leave the index with everything that
// names them: time keys, postings, idempotency entries. Of each entity, the
// version current when the purged records end is kept, with every later
// one; older versions go, with field entries no kept version shares. So the
// registry still knows every entity, and every kept row's pins resolve
// (a row pins versions current at its time, never older ones).
//
// A rebuilt index must come out the same, from the log that is left. What
// the purged records established and later records build on — the catalog,
// each entity's kept base version and creation order, the log_id counter —
// is appended before the purge as carry records (audit/record.h); a rebuild
// applies them first (IndexApplier::ApplyBase), then the retained log.
#ifndef QUIPU_AUDIT_INDEX_PURGE_H_
#define QUIPU_AUDIT_INDEX_PURGE_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "audit/index_db.h"
#include "audit/protect.h"
#include "audit/record.h"
#include "quipu/log.h"

namespace quipu::audit {

// The newest purge record the index holds (G entries), with its LSN.
struct AppliedPurge {
  Lsn lsn = 0;
  PurgeRecord rec;
};
Result<std::optional<AppliedPurge>> LastPurge(const IndexSnapshot& snap);
// The same, and with a writer's `log` (null for a reader) the end of that
// purge: segments it drops that a crash kept go now.
Result<std::optional<AppliedPurge>> FinishPurge(IndexDb* db, Log* log);

// The note an audit store leaves in the log's purge marker (quipu/log.h):
// where its purge record is. PurgeLsnFromNote: Corruption when the note is
// not one (a purge the store did not record).
std::string PurgeNote(Lsn purge_lsn);
Result<Lsn> PurgeLsnFromNote(std::string_view note);

// Reads the purge record the marker of `log` names, and its carry records,
// checking that it is the purge that made the log start where it does.
// `carried` may be null (only the purge record is read).
Result<AppliedPurge> ReadRecordedPurge(Log* log, std::string_view note,
                                       const std::function<Status(const CarryRecord&)>& carried);

// Removes rows 1..last_log_id and what names them, and the versions those
// rows superseded (see above), in writes of a few thousand rows each. A
// crash in between leaves some done: running it again finishes the job.
Status DropPurgedEntries(IndexDb* db, uint64_t last_log_id, const Protector* protector);

// Removes the G entries (purge and carry records) before `first_kept`:
// their records are purged too, and the newer purge carries all they did.
Status DropRetentionRecordsBefore(IndexDb* db, Lsn first_kept);

// Calls `emit` with carry records of at most about `max_bytes` each that
// hold the catalog records before `first_kept` and each entity's newest
// version among those rows 1..last_log_id wrote. Reads `snap` only.
Status CollectCarried(const IndexSnapshot& snap, Lsn first_kept, uint64_t last_log_id,
                      size_t max_bytes, const std::function<Status(const CarryRecord&)>& emit);

}  // namespace quipu::audit

#endif  // QUIPU_AUDIT_INDEX_PURGE_H_
