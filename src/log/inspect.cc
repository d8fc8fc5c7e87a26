#include "quipu/inspect.h"

#include "log/format.h"
#include "log/purge.h"
#include "log/recovery.h"
#include "log/segment_scan.h"
#include "quipu/env.h"

namespace quipu {

namespace {

// Notes the kind a segment records; two different kinds in one log cannot
// come from quipu (a writer of another kind is refused).
Status NoteKind(const std::string& file, uint8_t kind, std::optional<LogKind>* log_kind) {
  if (kind == 0) return Status::OK();
  const auto seen = static_cast<LogKind>(kind);
  if (log_kind->has_value() && **log_kind != seen) {
    return Status::Corruption(file + " at offset 0: the header records the kind '" +
                              std::string(LogKindName(seen)) + "' but earlier segments '" +
                              std::string(LogKindName(**log_kind)) + "'");
  }
  *log_kind = seen;
  return Status::OK();
}

// Summarizes segment i of `segments`, refusing damage that Open would refuse.
Result<SegmentSummary> Summarize(Env* env, const std::string& dir,
                                 const std::vector<SegmentRef>& segments, size_t i,
                                 std::optional<LogKind>* kind) {
  const SegmentRef& ref = segments[i];
  const bool newest = i + 1 == segments.size();
  auto scan = ScanSegment(env, dir, ref);
  if (!scan.ok()) return scan.status();
  QUIPU_RETURN_IF_ERROR(NoteKind(ref.name, scan->kind, kind));
  SegmentSummary summary{ref.name, ref.base, scan->records, scan->file_size, !newest, 0};
  if (scan->unborn) {
    if (!newest) return Status::Corruption(ref.name + ": sealed segment has no header");
    summary.torn_bytes = scan->file_size;
    return summary;
  }
  if (scan->zero_tail && !newest) {
    return Status::Corruption(DamageMessage(
        ref.name, scan->valid_end, "sealed segment ends in zero bytes after its last frame"));
  }
  if (scan->damaged && (!newest || scan->durable_damage)) {
    return Status::Corruption(DamageMessage(ref.name, scan->bad_offset, scan->bad_reason));
  }
  if (scan->damaged) summary.torn_bytes = scan->file_size - scan->bad_offset;
  if (!newest && ref.base + scan->records != segments[i + 1].base) {
    return Status::Corruption(DamageMessage(
        ref.name, scan->valid_end,
        "sealed segment holds " + std::to_string(scan->records) +
            " records but the next segment starts at LSN " + std::to_string(segments[i + 1].base)));
  }
  return summary;
}

// Summarizes the pending segment a rotation left after `newest`: read like
// the newest segment when it continues the chain, all torn otherwise (the
// next open drops it).
Result<SegmentSummary> SummarizePending(Env* env, const std::string& dir, const SegmentRef& ref,
                                        const SegmentSummary& newest,
                                        std::optional<LogKind>* kind) {
  if (newest.torn_bytes == 0 && newest.base_lsn + newest.records == ref.base) {
    return Summarize(env, dir, {ref}, 0, kind);
  }
  auto file = env->NewRandomAccessFile(JoinPath(dir, ref.name));
  if (!file.ok()) return file.status();
  auto size = (*file)->Size();
  if (!size.ok()) return size.status();
  return SegmentSummary{ref.name, ref.base, 0, *size, false, *size};
}

}  // namespace

Result<LogSummary> InspectLog(const std::string& dir, Env* env) {
  if (env == nullptr) env = Env::Default();
  auto segments = ListLogSegments(env, dir);
  if (!segments.ok()) return segments.status();

  auto pending = FindPendingSegment(env, dir, *segments);
  if (!pending.ok()) return pending.status();

  LogSummary log;
  for (size_t i = 0; i < segments->size(); ++i) {
    auto summary = Summarize(env, dir, *segments, i, &log.kind);
    if (!summary.ok()) return summary.status();
    log.records += summary->records;
    log.bytes += summary->bytes;
    log.torn_bytes += summary->torn_bytes;
    log.segments.push_back(std::move(*summary));
  }
  if (pending->has_value()) {
    // A rotation whose seal did not finish: the next open links the pending
    // segment in when it continues the chain, and drops it otherwise.
    const SegmentRef& ref = **pending;
    const SegmentSummary& newest = log.segments.back();
    auto summary = SummarizePending(env, dir, ref, newest, &log.kind);
    if (!summary.ok()) return summary.status();
    log.records += summary->records;
    log.bytes += summary->bytes;
    log.torn_bytes += summary->torn_bytes;
    log.segments.push_back(std::move(*summary));
  }
  if (log.records > 0) {
    log.first_lsn = log.segments.front().base_lsn;
    log.last_lsn = log.first_lsn + log.records - 1;
  }
  auto journal = LastRecoveryJournalLine(env, dir);
  if (!journal.ok()) return journal.status();
  log.last_recovery = std::move(*journal);
  return log;
}

Result<std::optional<LogKind>> ReadLogKind(const std::string& dir, Env* env) {
  if (env == nullptr) env = Env::Default();
  auto segments = ListLogSegments(env, dir);
  if (!segments.ok()) return segments.status();
  auto kind = ReadStoredKind(env, dir, *segments);
  if (!kind.ok()) return kind.status();
  if (*kind == 0) return std::optional<LogKind>();
  return std::optional<LogKind>(static_cast<LogKind>(*kind));
}

Result<LogSummary> CheckLog(const std::string& dir, Env* env) {
  auto log = InspectLog(dir, env);
  if (!log.ok()) return log.status();
  if (log->torn_bytes > 0) {
    const SegmentSummary& newest = log->segments.back();
    return Status::Corruption(
        DamageMessage(newest.file, newest.bytes - newest.torn_bytes,
                      "torn tail: " + std::to_string(newest.torn_bytes) +
                          " bytes after the last whole record (the next open will cut them)"));
  }
  return log;
}

bool IsLogFileName(std::string_view name) { return format::IsStoreFileName(name); }

Result<std::optional<PurgeMarker>> ReadPurgeMarker(const std::string& dir, Env* env) {
  return ReadPurgeMarkerFile(env == nullptr ? Env::Default() : env, dir);
}

}  // namespace quipu
