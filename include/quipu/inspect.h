// quipu/inspect.h — looking at a log directory without opening it for writing.
//
// InspectLog and CheckLog take no lock and change no file, so they are safe on
// a log another process is writing (they then describe a moment of it).
//   InspectLog  lists segments and counts records; damage stops it with an
//               error naming file and offset, except a torn tail of the newest
//               segment, which it reports (Open would cut it).
//   CheckLog    the same full scan, reported as a verdict for `quipu check`.
// Both verify every frame's CRC32C; their cost is one sequential read of the log.
#ifndef QUIPU_INSPECT_H_
#define QUIPU_INSPECT_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "quipu/log.h"
#include "quipu/options.h"
#include "quipu/reader.h"
#include "quipu/status.h"

namespace quipu {

class Env;

struct SegmentSummary {
  std::string file;  // name inside the log directory
  Lsn base_lsn = 0;  // LSN of its first record
  uint64_t records = 0;
  uint64_t bytes = 0;       // file size
  bool sealed = false;      // every segment but the newest
  uint64_t torn_bytes = 0;  // bytes past the last whole record (newest only)
};

struct LogSummary {
  // What the segments say the log is; nullopt for a log written before
  // kinds were recorded (quipu/options.h).
  std::optional<LogKind> kind;
  std::vector<SegmentSummary> segments;  // in LSN order
  uint64_t records = 0;
  Lsn first_lsn = 0;  // 0 when empty
  Lsn last_lsn = 0;
  uint64_t bytes = 0;
  uint64_t torn_bytes = 0;
  // The last line of the directory's recovery journal: what the most recent
  // Open cut away ("" if nothing was ever cut).
  std::string last_recovery;
};

// Errors: NotFound when `dir` does not exist or holds no segment ("not a
// quipu log"); Corruption naming file and offset, including a log whose
// first segment is gone or whose segments disagree about its kind.
Result<LogSummary> InspectLog(const std::string& dir, Env* env = nullptr);

// The kind the newest written segment of the log in `dir` records (one
// header read); nullopt for a log that predates kinds. Errors as InspectLog
// for a directory that is not a log.
Result<std::optional<LogKind>> ReadLogKind(const std::string& dir, Env* env = nullptr);

// The summary when every segment is intact (a torn tail counts as damage
// here: a clean Close never leaves one); otherwise the first problem, naming
// file and offset.
Result<LogSummary> CheckLog(const std::string& dir, Env* env = nullptr);

// True for the names of files quipu keeps in a log directory (segments, the
// lock, the recovery journal, SPINE and its temporary, CHECKPOINTS, and the
// directory `index` of an audit store's derived index): what a tool may
// remove when it removes a log.
bool IsLogFileName(std::string_view name);

// The purge marker of the log in `dir` (Log::DropSegmentsBefore), or nullopt
// for a log that was never purged. Corruption when it does not decode.
Result<std::optional<PurgeMarker>> ReadPurgeMarker(const std::string& dir, Env* env = nullptr);

}  // namespace quipu

#endif  // QUIPU_INSPECT_H_
