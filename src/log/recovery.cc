#include "log/recovery.h"

#include <algorithm>
#include <ctime>

#include "log/format.h"
#include "log/purge.h"

namespace quipu {

Result<std::unique_ptr<WritableFile>> CreateSegment(Env* env, const std::string& dir, Lsn base,
                                                    LogKind kind) {
  const std::string path = JoinPath(dir, format::SegmentFileName(base));
  auto file = env->NewWritableFile(path);
  if (!file.ok()) return file.status();
  Status s = (*file)->Append(format::EncodeSegmentHeader(base, kind));
  if (s.ok()) s = (*file)->Sync();
  if (s.ok()) s = env->SyncDir(dir);
  if (!s.ok()) {
    (void)(*file)->Close();
    (void)env->RemoveFile(path);
    return s;
  }
  return file;
}

Result<std::unique_ptr<WritableFile>> CreatePendingSegment(Env* env, const std::string& dir,
                                                           Lsn base, LogKind kind) {
  const std::string path = JoinPath(dir, format::PendingSegmentFileName(base));
  auto file = env->NewWritableFile(path);
  if (!file.ok()) return file.status();
  // The header is synced here, before anyone appends: it must be durable
  // before the segment's name is (a segment without its header cannot be
  // read at all), and once appends run, the file's syncs belong to the sync
  // leaders alone — a second syncer could retry a sync that just failed.
  Status s = (*file)->Append(format::EncodeSegmentHeader(base, kind));
  if (s.ok()) s = (*file)->Sync();
  if (!s.ok()) {
    (void)(*file)->Close();
    (void)env->RemoveFile(path);
    return s;
  }
  return file;
}

namespace {

std::string NowRfc3339() {
  std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

// Cuts `name` to `size` bytes and makes the cut durable.
Status TruncateSegment(Env* env, const std::string& dir, const std::string& name, uint64_t size) {
  auto file = env->ReopenWritableFile(JoinPath(dir, name));
  if (!file.ok()) return file.status();
  Status s = (*file)->Truncate(size);
  if (s.ok()) s = (*file)->Sync();
  Status c = (*file)->Close();
  return s.ok() ? c : s;
}

// Removes every segment after index `keep_last` and syncs the directory.
Status RemoveSegmentsAfter(Env* env, const std::string& dir, std::vector<SegmentRef>* segments,
                           size_t keep_last, RecoveryReport* report) {
  while (segments->size() > keep_last + 1) {
    QUIPU_RETURN_IF_ERROR(env->RemoveFile(JoinPath(dir, segments->back().name)));
    segments->pop_back();
    ++report->dropped_segments;
  }
  return env->SyncDir(dir);
}

class Recovery {
 public:
  Recovery(Env* env, const std::string& dir, const LogOptions& options,
           const BeforeDiscard& before_discard)
      : env_(env), dir_(dir), options_(options), before_discard_(before_discard) {}

  Result<RecoveredLog> Run();

 private:
  // A directory without segments becomes a new log, unless it holds files
  // that are not quipu's: a mistyped path must not turn a user's directory
  // into a store.
  Status FinishPurge();
  Status CheckNoForeignFiles();
  // Refuses a log whose segments say it is of another kind.
  Status CheckKind();
  Status CheckSealed(size_t i);
  Status RecoverNewest();
  // Links in or drops the pending segment a rotation left, if any.
  Status ResolvePending();
  Status DropPending(const SegmentRef& pending, const std::string& reason);
  Status RebuildUnborn(const SegmentRef& ref, uint64_t file_size);
  // Cuts every record after options_.discard_after (LogOptions).
  Status DiscardTail();
  // Handles damage at (segment i, offset): an error, or under salvage a cut
  // there and removal of every later segment.
  Status Damage(size_t i, uint64_t offset, const std::string& reason, const SegmentScan& scan);

  Env* env_;
  const std::string& dir_;
  const LogOptions& options_;
  const BeforeDiscard& before_discard_;
  RecoveredLog out_;
  bool salvaged_ = false;
};

Result<RecoveredLog> Recovery::Run() {
  auto listed = ListSegments(env_, dir_);
  if (!listed.ok()) return listed.status();
  out_.segments = std::move(*listed);
  if (out_.segments.empty()) {
    QUIPU_RETURN_IF_ERROR(CheckNoForeignFiles());
    auto pending = FindPendingSegment(env_, dir_, out_.segments);
    if (!pending.ok()) return pending.status();
    auto file = CreateSegment(env_, dir_, 1, options_.kind);
    if (!file.ok()) return file.status();
    QUIPU_RETURN_IF_ERROR((*file)->Close());
    out_.segments.push_back({format::SegmentFileName(1), 1});
    out_.active_size = format::kSegmentHeaderSize;
    return std::move(out_);
  }
  QUIPU_RETURN_IF_ERROR(FinishPurge());
  QUIPU_RETURN_IF_ERROR(CheckKind());
  for (size_t i = 0; i + 1 < out_.segments.size() && !salvaged_; ++i) {
    QUIPU_RETURN_IF_ERROR(CheckSealed(i));
  }
  if (!salvaged_) QUIPU_RETURN_IF_ERROR(RecoverNewest());
  QUIPU_RETURN_IF_ERROR(ResolvePending());
  QUIPU_RETURN_IF_ERROR(DiscardTail());
  if (out_.report.dropped_bytes > 0 || out_.report.dropped_segments > 0) {
    QUIPU_RETURN_IF_ERROR(AppendRecoveryJournal(env_, dir_, out_.report));
  }
  return std::move(out_);
}

// A purge whose marker is durable but whose segments were not all removed
// (a crash in between) is finished; then the log must start exactly where
// the marker says, or at LSN 1 without one (log/purge.h).
Status Recovery::FinishPurge() {
  auto marker = ReadPurgeMarkerFile(env_, dir_);
  if (!marker.ok()) return marker.status();
  // A marker being replaced when the crash came never took effect.
  const std::string temp = JoinPath(dir_, std::string(format::kPurgedTempName));
  auto temp_exists = env_->FileExists(temp);
  if (!temp_exists.ok()) return temp_exists.status();
  if (*temp_exists) QUIPU_RETURN_IF_ERROR(env_->RemoveFile(temp));
  if (*marker) {
    QUIPU_RETURN_IF_ERROR(RemoveSegmentsBefore(env_, dir_, (*marker)->first_kept, &out_.segments));
  }
  return ApplyPurge(*marker, &out_.segments);
}

Status Recovery::CheckNoForeignFiles() {
  auto names = env_->ListDir(dir_);
  if (!names.ok()) return names.status();
  for (const std::string& name : *names) {
    if (format::IsStoreFileName(name) || name == "lost+found") continue;
    return Status::FailedPrecondition(
        "holds no quipu log but other files (such as '" + name +
        "'): refusing to create a log there (use a new or empty directory)");
  }
  return Status::OK();
}

Status Recovery::CheckKind() {
  auto stored = ReadStoredKind(env_, dir_, out_.segments);
  if (!stored.ok()) return stored.status();
  if (*stored == 0 || *stored == static_cast<uint8_t>(options_.kind)) return Status::OK();
  auto with_article = [](LogKind kind) {
    return std::string(kind == LogKind::kAuditStore ? "an " : "a ") +
           std::string(LogKindName(kind));
  };
  return Status::FailedPrecondition("this is " + with_article(static_cast<LogKind>(*stored)) +
                                    "; it cannot be opened as " + with_article(options_.kind));
}

Status Recovery::CheckSealed(size_t i) {
  const SegmentRef& ref = out_.segments[i];
  const Lsn next_base = out_.segments[i + 1].base;
  if (next_base <= ref.base) {
    return Status::Corruption(out_.segments[i + 1].name + ": base LSN does not follow " + ref.name);
  }
  if (!options_.verify_sealed_segments && options_.recovery != RecoveryMode::kSalvage) {
    return Status::OK();  // trusted: its record count is the gap to the next base
  }
  auto scan = ScanSegment(env_, dir_, ref);
  if (!scan.ok()) return scan.status();
  if (scan->unborn) return Damage(i, 0, "sealed segment has no header", *scan);
  if (scan->damaged) return Damage(i, scan->bad_offset, scan->bad_reason, *scan);
  // A seal cuts the zeros written ahead before its sync: a sealed segment
  // ends with its last frame.
  if (scan->zero_tail) {
    return Damage(i, scan->valid_end, "sealed segment ends in zero bytes after its last frame",
                  *scan);
  }
  const uint64_t expected = next_base - ref.base;
  if (scan->records != expected) {
    const std::string reason = "sealed segment holds " + std::to_string(scan->records) +
                               " records but the next segment starts at LSN " +
                               std::to_string(next_base) + " (expected " +
                               std::to_string(expected) + ")";
    if (scan->records > expected) {
      return Status::Corruption(DamageMessage(ref.name, scan->valid_end, reason));
    }
    return Damage(i, scan->valid_end, reason, *scan);
  }
  return Status::OK();
}

Status Recovery::RecoverNewest() {
  const size_t last = out_.segments.size() - 1;
  const SegmentRef ref = out_.segments[last];
  auto scan = ScanSegment(env_, dir_, ref);
  if (!scan.ok()) return scan.status();
  if (scan->unborn) return RebuildUnborn(ref, scan->file_size);
  if (scan->damaged) {
    if (scan->durable_damage) {
      return Damage(last, scan->bad_offset,
                    scan->bad_reason +
                        ", in bytes a later sync marker says were durable (not a "
                        "torn tail)",
                    *scan);
    }
    QUIPU_RETURN_IF_ERROR(TruncateSegment(env_, dir_, ref.name, scan->bad_offset));
    out_.report.dropped_bytes += scan->file_size - scan->bad_offset;
    out_.report.file = ref.name;
    out_.report.offset = scan->bad_offset;
    out_.report.reason = scan->bad_reason;
  } else if (scan->zero_tail) {
    // Zeros written ahead of the appends (or pages never written back):
    // nothing was there to lose, so nothing is reported.
    QUIPU_RETURN_IF_ERROR(TruncateSegment(env_, dir_, ref.name, scan->valid_end));
  }
  out_.active_records = scan->records;
  out_.active_size = scan->valid_end;
  out_.active_marker_claim = scan->marker_claim;
  out_.next_lsn = ref.base + scan->records;
  return Status::OK();
}

Status Recovery::ResolvePending() {
  auto found = FindPendingSegment(env_, dir_, out_.segments);
  if (!found.ok()) return found.status();
  if (!found->has_value()) return Status::OK();
  const SegmentRef pending = **found;
  const SegmentRef newest = out_.segments.back();
  if (salvaged_) return DropPending(pending, "salvage: it follows the damage");
  if (pending.base < out_.next_lsn) {
    return Status::Corruption(DamageMessage(
        pending.name, 0,
        "pending segment starts at LSN " + std::to_string(pending.base) + " but " + newest.name +
            " holds records up to LSN " + std::to_string(out_.next_lsn - 1)));
  }
  if (pending.base > out_.next_lsn) {
    return DropPending(pending, "records " + std::to_string(out_.next_lsn) + ".." +
                                    std::to_string(pending.base - 1) + " before it were lost (" +
                                    newest.name + " was not yet sealed)");
  }
  // No gap: finish the rotation the crash interrupted, then judge the linked
  // segment as the newest.
  auto file = env_->ReopenWritableFile(JoinPath(dir_, newest.name));
  if (!file.ok()) return file.status();
  Status s = (*file)->Sync();
  Status c = (*file)->Close();
  QUIPU_RETURN_IF_ERROR(s.ok() ? c : s);
  const std::string name = format::SegmentFileName(pending.base);
  QUIPU_RETURN_IF_ERROR(env_->RenameFile(JoinPath(dir_, pending.name), JoinPath(dir_, name)));
  QUIPU_RETURN_IF_ERROR(env_->SyncDir(dir_));
  out_.segments.push_back({name, pending.base});
  return RecoverNewest();
}

Status Recovery::DropPending(const SegmentRef& pending, const std::string& reason) {
  // Nothing in a pending segment was acknowledged as durable: durability
  // waits for it to be linked in, which a seal does only after the segment
  // before it is complete and synced.
  auto file = env_->NewRandomAccessFile(JoinPath(dir_, pending.name));
  if (!file.ok()) return file.status();
  auto size = (*file)->Size();
  if (!size.ok()) return size.status();
  file->reset();
  QUIPU_RETURN_IF_ERROR(env_->RemoveFile(JoinPath(dir_, pending.name)));
  QUIPU_RETURN_IF_ERROR(env_->SyncDir(dir_));
  out_.report.dropped_bytes += *size;
  ++out_.report.dropped_segments;
  out_.report.file = pending.name;
  out_.report.offset = 0;
  out_.report.reason = "pending segment of an unfinished rotation dropped: " + reason;
  return Status::OK();
}

Status Recovery::RebuildUnborn(const SegmentRef& ref, uint64_t file_size) {
  // A crash while the segment was being created: nothing in it was ever
  // acknowledged (acks wait for its header and directory entry to be synced).
  auto file = env_->ReopenWritableFile(JoinPath(dir_, ref.name));
  if (!file.ok()) return file.status();
  Status s = (*file)->Truncate(0);
  if (s.ok()) s = (*file)->Append(format::EncodeSegmentHeader(ref.base, options_.kind));
  if (s.ok()) s = (*file)->Sync();
  if (s.ok()) s = env_->SyncDir(dir_);
  Status c = (*file)->Close();
  QUIPU_RETURN_IF_ERROR(s.ok() ? c : s);
  if (file_size > 0) {
    out_.report.dropped_bytes += file_size;
    out_.report.file = ref.name;
    out_.report.offset = 0;
    out_.report.reason = "segment header was never completely written";
  }
  out_.active_records = 0;
  out_.active_size = format::kSegmentHeaderSize;
  out_.next_lsn = ref.base;
  return Status::OK();
}

Status Recovery::DiscardTail() {
  if (!options_.discard_after || out_.next_lsn <= *options_.discard_after + 1) {
    return Status::OK();
  }
  const Lsn keep = *options_.discard_after;
  const Lsn last = out_.next_lsn - 1;
  if (keep + 1 < out_.segments.front().base) {
    return Status::FailedPrecondition(
        "cannot discard the records after LSN " + std::to_string(keep) + ": the log starts at " +
        std::to_string(out_.segments.front().base) + " (records before it were purged)");
  }
  size_t i = out_.segments.size() - 1;
  while (out_.segments[i].base > keep + 1) --i;
  const SegmentRef ref = out_.segments[i];
  // The frames to keep in `ref`: its records up to `keep`.
  auto file = env_->NewRandomAccessFile(JoinPath(dir_, ref.name));
  if (!file.ok()) return file.status();
  auto size = (*file)->Size();
  if (!size.ok()) return size.status();
  FrameScanner scanner(file->get(), ref.base);
  for (Lsn lsn = ref.base; lsn <= keep; ++lsn) {
    std::string_view payload;
    auto outcome = scanner.Next(&payload);
    if (!outcome.ok()) return outcome.status();
    if (*outcome != FrameScanner::Outcome::kRecord) {
      return Status::Corruption(DamageMessage(ref.name, scanner.offset(),
                                              "record " + std::to_string(lsn) + " is missing"));
    }
  }
  const uint64_t cut = std::max<uint64_t>(scanner.valid_end(), format::kSegmentHeaderSize);
  const uint64_t claim = std::min(scanner.marker_claim(), cut);
  file->reset();
  if (before_discard_) QUIPU_RETURN_IF_ERROR(before_discard_(keep));
  uint64_t dropped = *size - cut;
  for (size_t j = i + 1; j < out_.segments.size(); ++j) {
    auto later = env_->NewRandomAccessFile(JoinPath(dir_, out_.segments[j].name));
    if (!later.ok()) return later.status();
    auto later_size = (*later)->Size();
    if (!later_size.ok()) return later_size.status();
    dropped += *later_size;
  }
  // Newest first, so that a crash part way leaves a chain without a gap,
  // whose tail the next Open (given the same LSN) cuts again.
  QUIPU_RETURN_IF_ERROR(RemoveSegmentsAfter(env_, dir_, &out_.segments, i, &out_.report));
  QUIPU_RETURN_IF_ERROR(TruncateSegment(env_, dir_, ref.name, cut));
  out_.report.dropped_bytes += dropped;
  out_.report.discarded_records = last - keep;
  out_.report.file = ref.name;
  out_.report.offset = cut;
  out_.report.reason = "discarded LSN " + std::to_string(keep + 1) + ".." + std::to_string(last) +
                       " as asked (LogOptions::discard_after)";
  out_.active_records = keep + 1 - ref.base;
  out_.active_size = cut;
  out_.active_marker_claim = claim;
  out_.next_lsn = keep + 1;
  return Status::OK();
}

// `offset` is where the valid frames of `scan` end (or 0 for a missing
// header), so what survives a cut there is exactly what `scan` counted.
Status Recovery::Damage(size_t i, uint64_t offset, const std::string& reason,
                        const SegmentScan& scan) {
  const SegmentRef ref = out_.segments[i];
  if (options_.recovery != RecoveryMode::kSalvage) {
    return Status::Corruption(DamageMessage(ref.name, offset, reason) +
                              "; refusing to open (salvage mode keeps the valid prefix)");
  }
  salvaged_ = true;
  QUIPU_RETURN_IF_ERROR(RemoveSegmentsAfter(env_, dir_, &out_.segments, i, &out_.report));
  const uint64_t keep = std::max<uint64_t>(offset, format::kSegmentHeaderSize);
  out_.report.file = ref.name;
  out_.report.offset = keep;
  out_.report.reason = "salvage: " + reason;
  if (offset < format::kSegmentHeaderSize) {
    out_.report.dropped_bytes += scan.file_size;
    return RebuildUnborn(ref, 0);
  }
  QUIPU_RETURN_IF_ERROR(TruncateSegment(env_, dir_, ref.name, keep));
  out_.report.dropped_bytes += scan.file_size - keep;
  out_.active_records = scan.records;
  out_.active_size = keep;
  out_.active_marker_claim = std::min(scan.marker_claim, keep);
  out_.next_lsn = ref.base + scan.records;
  return Status::OK();
}

}  // namespace

Result<RecoveredLog> RecoverLog(Env* env, const std::string& dir, const LogOptions& options,
                                const BeforeDiscard& before_discard) {
  return Recovery(env, dir, options, before_discard).Run();
}

Status AppendRecoveryJournal(Env* env, const std::string& dir, const RecoveryReport& report) {
  const std::string path = JoinPath(dir, std::string(format::kRecoveryJournalName));
  auto exists = env->FileExists(path);
  if (!exists.ok()) return exists.status();
  auto file = *exists ? env->ReopenWritableFile(path) : env->NewWritableFile(path);
  if (!file.ok()) return file.status();
  std::string line = NowRfc3339() + " dropped " + std::to_string(report.dropped_bytes) + " bytes";
  if (report.dropped_segments > 0) {
    line += " and " + std::to_string(report.dropped_segments) + " segment(s)";
  }
  line += ", cut " + report.file + " at offset " + std::to_string(report.offset) + ": " +
          report.reason + "\n";
  Status s = (*file)->Append(line);
  if (s.ok()) s = (*file)->Sync();
  if (s.ok() && !*exists) s = env->SyncDir(dir);
  Status c = (*file)->Close();
  return s.ok() ? c : s;
}

Result<std::string> LastRecoveryJournalLine(Env* env, const std::string& dir) {
  const std::string path = JoinPath(dir, std::string(format::kRecoveryJournalName));
  auto exists = env->FileExists(path);
  if (!exists.ok()) return exists.status();
  if (!*exists) return std::string();
  auto file = env->NewRandomAccessFile(path);
  if (!file.ok()) return file.status();
  auto size = (*file)->Size();
  if (!size.ok()) return size.status();
  std::string text;
  QUIPU_RETURN_IF_ERROR((*file)->Read(0, *size, &text));
  while (!text.empty() && text.back() == '\n') text.pop_back();
  const size_t nl = text.rfind('\n');
  return nl == std::string::npos ? text : text.substr(nl + 1);
}

}  // namespace quipu
