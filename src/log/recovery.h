// log/recovery.h — bringing a log directory to a consistent state on Open.
//
// Recovery decides what the log is after a crash: the segments in LSN order,
// each sealed one intact, the newest one ending at its last whole frame, and
// a pending segment (a rotation whose seal did not finish) linked in when it
// follows the newest without a gap, dropped when records are missing before
// it (none of its records was acknowledged as durable). It
// follows LogOptions::recovery (see quipu/options.h): a torn tail of the
// newest segment is cut and reported; any other damage is an error naming the
// file and offset, unless salvage was asked for. Whatever it cuts is written
// to the directory's recovery journal, so `quipu stat` can tell later.
#ifndef QUIPU_LOG_RECOVERY_H_
#define QUIPU_LOG_RECOVERY_H_

#include <memory>
#include <string>
#include <vector>

#include "log/engine.h"
#include "log/segment_scan.h"
#include "quipu/env.h"
#include "quipu/log.h"
#include "quipu/options.h"

namespace quipu {

struct RecoveredLog {
  std::vector<SegmentRef> segments;  // in LSN order; the last is the active one
  uint64_t active_records = 0;
  uint64_t active_size = 0;  // bytes of the active segment, header included
  // Highest offset a sync marker in the active segment claims durable.
  uint64_t active_marker_claim = 0;
  Lsn next_lsn = 1;
  RecoveryReport report;
};

// Requires the caller to hold the directory's lock. `before_discard` runs
// before LogOptions::discard_after cuts anything (log/engine.h).
Result<RecoveredLog> RecoverLog(Env* env, const std::string& dir, const LogOptions& options,
                                const BeforeDiscard& before_discard = {});

// Creates segment `base` in `dir`: header written and synced, directory
// synced, so the empty segment is durably findable. On failure the partial
// file is removed (best effort).
Result<std::unique_ptr<WritableFile>> CreateSegment(Env* env, const std::string& dir, Lsn base,
                                                    LogKind kind);

// Creates segment `base` under its pending name with its header, syncing
// nothing: the caller links it in (renames it to its segment name) once the
// segment before it is durable (log/rotation.cc).
Result<std::unique_ptr<WritableFile>> CreatePendingSegment(Env* env, const std::string& dir,
                                                           Lsn base, LogKind kind);

// Appends one line to the recovery journal and syncs it.
Status AppendRecoveryJournal(Env* env, const std::string& dir, const RecoveryReport& report);

// The last line of the recovery journal, or "" if there is none.
Result<std::string> LastRecoveryJournalLine(Env* env, const std::string& dir);

}  // namespace quipu

#endif  // QUIPU_LOG_RECOVERY_H_
