// audit/retention.cc — planning a retention purge.
#include "audit/retention.h"

#include <limits>
#include <optional>
#include <vector>

#include "audit/index_entries.h"
#include "audit/index_keys.h"
#include "audit/index_purge.h"
#include "audit/record.h"
#include "quipu/inspect.h"
#include "quipu/reader.h"
#include "quipu/tree_view.h"

namespace quipu::audit {

namespace {

// The newest event timestamp among records [from, to); nullopt if none is
// an event.
Result<std::optional<int64_t>> NewestEvent(Log* log, Lsn from, Lsn to) {
  auto reader = log->NewReader(from);
  if (!reader.ok()) return reader.status();
  std::optional<int64_t> newest;
  for (Lsn lsn = from; lsn < to; ++lsn) {
    auto more = (*reader)->Next();
    if (!more.ok()) return more.status();
    if (!*more) break;
    auto kind = PeekKind((*reader)->payload());
    if (!kind.ok()) return kind.status().WithContext("LSN " + std::to_string(lsn));
    if (*kind != RecordKind::kEvent && *kind != RecordKind::kKeyedEvent) continue;
    EventRecord rec;
    QUIPU_RETURN_IF_ERROR(
        DecodeEvent((*reader)->payload(), &rec).WithContext("LSN " + std::to_string(lsn)));
    newest = std::max(newest.value_or(std::numeric_limits<int64_t>::min()), rec.micros);
  }
  return newest;
}

// The row's LSN, or nullopt when the index has no such row.
Result<std::optional<Lsn>> RowLsn(const IndexSnapshot& snap, uint64_t log_id) {
  auto bytes = snap.Get(keys::Row(log_id));
  if (!bytes.ok()) return bytes.status();
  if (!*bytes) return std::optional<Lsn>();
  RowEntry row;
  QUIPU_RETURN_IF_ERROR(DecodeRow(**bytes, &row));
  return std::optional<Lsn>(row.lsn);
}

}  // namespace

Result<RetentionPlan> PlanRetention(Log* log, const RetentionPolicy& policy, int64_t now_micros) {
  auto segments = log->Segments();
  if (!segments.ok()) return segments.status();
  uint64_t total = 0;
  for (const SegmentInfo& s : *segments) total += s.bytes;
  const int64_t oldest_kept = now_micros - policy.max_age.count();
  RetentionPlan plan;
  for (size_t i = 0; i + 1 < segments->size(); ++i) {
    const SegmentInfo& s = (*segments)[i];
    bool expired = policy.max_bytes > 0 && total - plan.bytes > policy.max_bytes;
    if (!expired && policy.max_age.count() > 0) {
      auto newest = NewestEvent(log, s.base_lsn, (*segments)[i + 1].base_lsn);
      if (!newest.ok()) return newest.status();
      expired = !*newest || **newest < oldest_kept;
    }
    if (!expired) break;
    plan.bytes += s.bytes;
    ++plan.segments;
    plan.first_kept = (*segments)[i + 1].base_lsn;
  }
  return plan;
}

Result<CutCounters> CountersBefore(const IndexSnapshot& snap, Lsn first_kept, CutCounters floor,
                                   uint64_t last_log_id) {
  // Rows after the floor are all present and their LSNs rise with their
  // log_ids: find the last one before first_kept by bisection.
  uint64_t lo = floor.last_log_id;  // known to be before the cut
  uint64_t hi = last_log_id + 1;    // known not to be (or past the end)
  while (hi - lo > 1) {
    const uint64_t mid = lo + (hi - lo) / 2;
    auto lsn = RowLsn(snap, mid);
    if (!lsn.ok()) return lsn.status();
    if (!*lsn) return Status::Corruption("index: row " + std::to_string(mid) + " is missing");
    (**lsn < first_kept ? lo : hi) = mid;
  }
  if (lo == floor.last_log_id) return floor;
  auto bytes = snap.Get(keys::Row(lo));
  if (!bytes.ok()) return bytes.status();
  RowEntry row;
  QUIPU_RETURN_IF_ERROR(DecodeRow(bytes->value_or(""), &row));
  return CutCounters{lo, row.keyed_count};
}

Result<RetainStart> StartRetain(Log* log, const IndexSnapshot& snap, const RetentionPolicy& policy,
                                int64_t now_micros, uint64_t last_log_id) {
  RetainStart out;
  out.report.first_kept = log->FirstLsn();
  auto plan = PlanRetention(log, policy, now_micros);
  if (!plan.ok()) return plan.status();
  out.plan = *plan;
  if (plan->first_kept == 0) return out;
  auto floor = LastPurge(snap);
  if (!floor.ok()) return floor.status();
  const CutCounters before =
      *floor ? CutCounters{(*floor)->rec.last_log_id, (*floor)->rec.keyed_count} : CutCounters{};
  auto cut = CountersBefore(snap, plan->first_kept, before, last_log_id);
  if (!cut.ok()) return cut.status();
  out.cut = *cut;
  RetainReport& r = out.report;
  r.records = plan->first_kept - r.first_kept;
  r.first_kept = plan->first_kept;
  r.segments = plan->segments;
  r.bytes = plan->bytes;
  r.rows = cut->last_log_id - before.last_log_id;
  r.last_log_id = cut->last_log_id;
  return out;
}

PurgeRecord MakePurgeRecord(const RetainStart& start, const merkle::Hash& purged_root,
                            const RetentionPolicy& policy, int64_t now_micros, uint64_t carried) {
  PurgeRecord rec;
  rec.first_kept = start.plan.first_kept;
  rec.purged_root = purged_root;
  rec.last_log_id = start.cut.last_log_id;
  rec.keyed_count = start.cut.keyed_count;
  rec.micros = now_micros;
  rec.max_age_micros = policy.max_age.count();
  rec.max_bytes = policy.max_bytes;
  rec.segments = start.plan.segments;
  rec.bytes = start.plan.bytes;
  rec.carried = static_cast<uint32_t>(carried);
  return rec;
}

}  // namespace quipu::audit

namespace quipu {

Status CheckRecordedPurge(const std::string& dir, Env* env) {
  auto marker = ReadPurgeMarker(dir, env);
  if (!marker.ok()) return marker.status();
  if (!*marker) return Status::OK();
  const Lsn first = (*marker)->first_kept;
  auto at = audit::PurgeLsnFromNote((*marker)->note);
  if (!at.ok()) return at.status();
  auto unrecorded = [&](const std::string& why) {
    return Status::Corruption("the log starts at LSN " + std::to_string(first) +
                              ", but the purge record it names (LSN " + std::to_string(*at) + ") " +
                              why);
  };
  auto reader = OpenLogReader(dir, *at, env);
  if (!reader.ok()) return reader.status();
  auto more = (*reader)->Next();
  if (!more.ok()) return more.status();
  if (!*more || (*reader)->lsn() != *at || *at <= first) return unrecorded("is not in the log");
  auto kind = audit::PeekKind((*reader)->payload());
  if (!kind.ok() || *kind != audit::RecordKind::kPurge) return unrecorded("is not a purge record");
  audit::PurgeRecord rec;
  QUIPU_RETURN_IF_ERROR(audit::DecodePurge((*reader)->payload(), &rec));
  if (rec.first_kept != first) {
    return unrecorded("says the log starts at LSN " + std::to_string(rec.first_kept));
  }
  auto view = TreeView::Open(dir, env);
  if (!view.ok()) return view.status();
  auto root = (*view)->Root(first - 1);
  if (!root.ok()) return root.status();
  if (*root != rec.purged_root) {
    return unrecorded("states another root of the purged records than the tree's");
  }
  return Status::OK();
}

}  // namespace quipu
