// log/purge.cc — the PURGED file and the removal of purged segments.
#include "log/purge.h"

#include <algorithm>

#include "log/format.h"
#include "log/log_impl.h"
#include "util/coding.h"
#include "util/crc32c.h"

namespace quipu {

namespace {

constexpr std::string_view kMagic = "QPUR";
constexpr uint8_t kVersion = 1;
// magic, version, first_kept, note length; then the note and a CRC-32C.
constexpr size_t kFixedSize = 4 + 1 + 8 + 4;
constexpr size_t kMaxNote = 4096;

std::string Encode(const PurgeMarker& marker) {
  std::string out(kMagic);
  out.push_back(static_cast<char>(kVersion));
  PutFixed64(&out, marker.first_kept);
  PutFixed32(&out, static_cast<uint32_t>(marker.note.size()));
  out += marker.note;
  PutFixed32(&out, crc32c::Value(out));
  return out;
}

Status Decode(std::string_view bytes, PurgeMarker* marker) {
  const std::string where(format::kPurgedName);
  if (bytes.size() < kFixedSize + 4 || bytes.substr(0, 4) != kMagic) {
    return Status::Corruption(where + " at offset 0: not a purge marker");
  }
  if (static_cast<uint8_t>(bytes[4]) != kVersion) {
    return Status::NotSupported(where + ": purge marker version " +
                                std::to_string(static_cast<uint8_t>(bytes[4])) +
                                " is newer than this build understands");
  }
  const uint32_t note_size = DecodeFixed32(bytes.data() + 13);
  if (bytes.size() != kFixedSize + note_size + 4) {
    return Status::Corruption(where + " at offset 13: note length " + std::to_string(note_size) +
                              " does not fit the file's " + std::to_string(bytes.size()) +
                              " bytes");
  }
  const size_t crc_at = kFixedSize + note_size;
  if (DecodeFixed32(bytes.data() + crc_at) != crc32c::Value(bytes.substr(0, crc_at))) {
    return Status::Corruption(where + " at offset " + std::to_string(crc_at) +
                              ": checksum mismatch");
  }
  marker->first_kept = DecodeFixed64(bytes.data() + 5);
  marker->note = std::string(bytes.substr(kFixedSize, note_size));
  if (marker->first_kept < 2) {
    return Status::Corruption(where + " at offset 5: first kept LSN " +
                              std::to_string(marker->first_kept) + " purges nothing");
  }
  return Status::OK();
}

}  // namespace

Result<std::optional<PurgeMarker>> ReadPurgeMarkerFile(Env* env, const std::string& dir) {
  const std::string path = JoinPath(dir, std::string(format::kPurgedName));
  auto exists = env->FileExists(path);
  if (!exists.ok()) return exists.status();
  if (!*exists) return std::optional<PurgeMarker>();
  auto file = env->NewRandomAccessFile(path);
  if (!file.ok()) return file.status();
  auto size = (*file)->Size();
  if (!size.ok()) return size.status();
  if (*size > kFixedSize + kMaxNote + 4) {
    return Status::Corruption(path + ": " + std::to_string(*size) +
                              " bytes, more than a purge marker holds");
  }
  std::string bytes;
  QUIPU_RETURN_IF_ERROR((*file)->Read(0, *size, &bytes));
  PurgeMarker marker;
  QUIPU_RETURN_IF_ERROR(Decode(bytes, &marker).WithContext(dir));
  return std::optional<PurgeMarker>(std::move(marker));
}

Status WritePurgeMarker(Env* env, const std::string& dir, const PurgeMarker& marker) {
  if (marker.first_kept < 2) return Status::InvalidArgument("a purge keeps LSN 2 or later");
  if (marker.note.size() > kMaxNote) {
    return Status::InvalidArgument("a purge note holds at most " + std::to_string(kMaxNote) +
                                   " bytes");
  }
  const std::string temp = JoinPath(dir, std::string(format::kPurgedTempName));
  auto file = env->NewWritableFile(temp);
  if (!file.ok()) return file.status();
  Status s = (*file)->Append(Encode(marker));
  if (s.ok()) s = (*file)->Sync();
  Status closed = (*file)->Close();
  if (s.ok()) s = closed;
  if (s.ok()) s = env->RenameFile(temp, JoinPath(dir, std::string(format::kPurgedName)));
  if (s.ok()) s = env->SyncDir(dir);
  if (!s.ok()) (void)env->RemoveFile(temp);
  return s;
}

Status RemoveSegmentsBefore(Env* env, const std::string& dir, Lsn first_kept,
                            std::vector<SegmentRef>* segments) {
  size_t removed = 0;
  while (removed < segments->size() && (*segments)[removed].base < first_kept) {
    QUIPU_RETURN_IF_ERROR(env->RemoveFile(JoinPath(dir, (*segments)[removed].name)));
    ++removed;
  }
  if (removed == 0) return Status::OK();
  segments->erase(segments->begin(), segments->begin() + removed);
  return env->SyncDir(dir);
}

Status ApplyPurge(const std::optional<PurgeMarker>& marker, std::vector<SegmentRef>* segments) {
  const Lsn start = marker ? marker->first_kept : 1;
  auto kept = std::find_if(segments->begin(), segments->end(),
                           [&](const SegmentRef& s) { return s.base >= start; });
  segments->erase(segments->begin(), kept);
  if (segments->empty()) {
    return Status::Corruption("LSN " + std::to_string(start) +
                              ": missing; no segment holds it or any later record");
  }
  const SegmentRef& first = segments->front();
  if (first.base == start) return Status::OK();
  return Status::Corruption("LSN " + std::to_string(start) + ": missing; the log starts at LSN " +
                            std::to_string(first.base) + " (" + first.name +
                            " at offset 0): earlier segments were removed" +
                            (marker ? " that no purge dropped" : ""));
}

Status LogImpl::DropSegmentsBefore(Lsn first_kept, std::string_view note) {
  std::lock_guard<std::mutex> purging(purge_mu_);
  std::vector<SegmentRef> doomed;
  {
    std::lock_guard<std::mutex> guard(mu_);
    QUIPU_RETURN_IF_ERROR(UsableLocked());
    if (segments_.front().base == first_kept) {
      return Status::FailedPrecondition("the log already starts at LSN " +
                                        std::to_string(first_kept));
    }
    auto kept = std::find_if(segments_.begin(), segments_.end(),
                             [&](const SegmentRef& s) { return s.base == first_kept; });
    if (kept == segments_.end() || first_kept < segments_.front().base) {
      return Status::InvalidArgument("LSN " + std::to_string(first_kept) +
                                     " does not start a segment of this log");
    }
    // A durable record of the kept segment means every segment before it
    // was sealed and synced, and the kept one linked in (log/rotation.cc).
    if (DurableLsn() < first_kept) {
      return Status::InvalidArgument("no record of the segment at LSN " +
                                     std::to_string(first_kept) +
                                     " is durable yet: the segments before it may still be "
                                     "sealing");
    }
    doomed.assign(segments_.begin(), kept);
  }
  QUIPU_RETURN_IF_ERROR(WritePurgeMarker(env_, dir_, PurgeMarker{first_kept, std::string(note)}));
  // From here on the segments are gone for every reader and every later
  // Open, whether or not their files are removed now.
  Status removed = RemoveSegmentsBefore(env_, dir_, first_kept, &doomed);
  std::lock_guard<std::mutex> guard(mu_);
  segments_.erase(segments_.begin(),
                  std::find_if(segments_.begin(), segments_.end(),
                               [&](const SegmentRef& s) { return s.base >= first_kept; }));
  return removed;
}

Lsn LogImpl::FirstLsn() const {
  std::lock_guard<std::mutex> guard(mu_);
  return segments_.front().base;
}

Result<std::vector<SegmentInfo>> LogImpl::Segments() const {
  // Sealed segments no longer change; only a purge removes them.
  std::lock_guard<std::mutex> purging(purge_mu_);
  std::vector<SegmentRef> sealed;
  std::vector<SegmentInfo> out;
  {
    std::lock_guard<std::mutex> guard(mu_);
    QUIPU_RETURN_IF_ERROR(UsableLocked());
    sealed.assign(segments_.begin(), segments_.end() - 1);
    out.resize(segments_.size());
    out.back() = SegmentInfo{segments_.back().base, active_size_};
  }
  for (size_t i = 0; i < sealed.size(); ++i) {
    auto file = env_->NewRandomAccessFile(JoinPath(dir_, sealed[i].name));
    if (!file.ok()) return file.status();
    auto size = (*file)->Size();
    if (!size.ok()) return size.status();
    out[i] = SegmentInfo{sealed[i].base, *size};
  }
  return out;
}

}  // namespace quipu
