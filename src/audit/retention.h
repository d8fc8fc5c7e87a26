// audit/retention.h — deciding what a retention policy drops, and where the
// purged rows end.
//
// Only whole sealed segments go, oldest first, and only while every one
// before them goes too: the log keeps a contiguous suffix. A segment's age
// is that of its newest event (by the event's timestamp, which a caller may
// set in the past: an import of old events ages as they did); a segment
// without events ages with those before it.
#ifndef QUIPU_AUDIT_RETENTION_H_
#define QUIPU_AUDIT_RETENTION_H_

#include <cstdint>

#include "audit/index_db.h"
#include "audit/record.h"
#include "quipu/audit.h"
#include "quipu/log.h"

namespace quipu::audit {

struct RetentionPlan {
  Lsn first_kept = 0;  // 0: nothing is due
  uint64_t segments = 0;
  uint64_t bytes = 0;
};

// Reads the segments the age bound has to judge (from the oldest, up to the
// first one too young), none for the size bound.
Result<RetentionPlan> PlanRetention(Log* log, const RetentionPolicy& policy, int64_t now_micros);

// The counters as of the cut: the last row whose record is before
// `first_kept`, and the keyed events up to it. `floor` is what an earlier
// purge left (0, 0 for none).
struct CutCounters {
  uint64_t last_log_id = 0;
  uint64_t keyed_count = 0;
};
Result<CutCounters> CountersBefore(const IndexSnapshot& snap, Lsn first_kept, CutCounters floor,
                                   uint64_t last_log_id);

// What Retain is about to do, read under the writer lock: the plan, the
// counters at the cut, and the report (of a dry run, or to be completed).
struct RetainStart {
  RetentionPlan plan;
  CutCounters cut;
  RetainReport report;
};
Result<RetainStart> StartRetain(Log* log, const IndexSnapshot& snap, const RetentionPolicy& policy,
                                int64_t now_micros, uint64_t last_log_id);

// The purge record of `start`, with the root of the purged records' tree.
PurgeRecord MakePurgeRecord(const RetainStart& start, const merkle::Hash& purged_root,
                            const RetentionPolicy& policy, int64_t now_micros, uint64_t carried);

}  // namespace quipu::audit

#endif  // QUIPU_AUDIT_RETENTION_H_
