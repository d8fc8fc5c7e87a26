// log/purge.h — retention: dropping whole segments from the front of a log.
//
// A log normally starts at LSN 1, and a missing first segment is damage.
// A purge makes a later start legitimate, in two steps, each crash-safe:
//   1. the PURGED file is replaced (written under a temporary name, synced,
//      renamed, directory synced). It names `first_kept`, the base LSN of
//      the first segment that stays, and a note from the caller (the audit
//      store keeps there where its own record of the purge is);
//   2. the segments before first_kept are removed, oldest first, and the
//      directory synced.
// A power cut before step 1 is durable leaves the log as it was; after it,
// the next Open finishes step 2 (FinishPurge) and readers skip the
// segments it left (ApplyPurge). Either way, the log then starts at
// exactly first_kept: a later start means a retained segment is missing,
// which is Corruption as before. Layout: docs/format.md, "Purged prefix".
#ifndef QUIPU_LOG_PURGE_H_
#define QUIPU_LOG_PURGE_H_

#include <optional>
#include <string>
#include <vector>

#include "log/segment_scan.h"
#include "quipu/env.h"
#include "quipu/log.h"

namespace quipu {

// The PURGED file of `dir`, if any. Corruption if it does not decode.
Result<std::optional<PurgeMarker>> ReadPurgeMarkerFile(Env* env, const std::string& dir);

// Step 1: makes `marker` the log's durable PURGED file.
Status WritePurgeMarker(Env* env, const std::string& dir, const PurgeMarker& marker);

// Removes the segments of `*segments` (in LSN order) that precede
// `first_kept` from `dir` and from the list, oldest first, then syncs the
// directory. Nothing if none does.
Status RemoveSegmentsBefore(Env* env, const std::string& dir, Lsn first_kept,
                            std::vector<SegmentRef>* segments);

// For readers: drops from `*segments` those a purge left behind, and checks
// that the log then starts where it must (LSN 1, or the marker's
// first_kept). Corruption naming the first missing LSN otherwise.
Status ApplyPurge(const std::optional<PurgeMarker>& marker, std::vector<SegmentRef>* segments);

}  // namespace quipu

#endif  // QUIPU_LOG_PURGE_H_
