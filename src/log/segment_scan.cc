#include "log/segment_scan.h"

#include <algorithm>

#include "log/format.h"
#include "log/purge.h"
#include "util/coding.h"
#include "util/crc32c.h"

namespace quipu {

namespace {

constexpr size_t kReadChunk = 1 << 20;

bool AllZero(std::string_view bytes) {
  return std::all_of(bytes.begin(), bytes.end(), [](char c) { return c == 0; });
}

// The files of `dir` whose names `parse` accepts, in LSN order.
Result<std::vector<SegmentRef>> ListByName(Env* env, const std::string& dir,
                                           bool (*parse)(std::string_view, Lsn*)) {
  auto names = env->ListDir(dir);
  if (!names.ok()) return names.status();
  std::vector<SegmentRef> found;
  for (const std::string& name : *names) {
    Lsn base;
    if (parse(name, &base)) found.push_back({name, base});
  }
  std::sort(found.begin(), found.end(),
            [](const SegmentRef& a, const SegmentRef& b) { return a.base < b.base; });
  return found;
}

}  // namespace

Result<std::vector<SegmentRef>> ListSegments(Env* env, const std::string& dir) {
  return ListByName(env, dir, format::ParseSegmentFileName);
}

Result<std::vector<SegmentRef>> ListPendingSegments(Env* env, const std::string& dir) {
  return ListByName(env, dir, format::ParsePendingSegmentFileName);
}

Result<std::optional<SegmentRef>> FindPendingSegment(Env* env, const std::string& dir,
                                                     const std::vector<SegmentRef>& segments) {
  auto pending = ListPendingSegments(env, dir);
  if (!pending.ok()) return pending.status();
  if (pending->empty()) return std::optional<SegmentRef>();
  if (pending->size() > 1) {
    return Status::Corruption(
        DamageMessage((*pending)[1].name, 0,
                      "a second pending segment (the first is " + pending->front().name + ")"));
  }
  const SegmentRef& found = pending->front();
  if (segments.empty() || found.base <= segments.back().base) {
    return Status::Corruption(DamageMessage(
        found.name, 0,
        segments.empty() ? "a pending segment without any segment before it"
                         : "a pending segment that does not follow the newest segment, " +
                               segments.back().name));
  }
  return std::optional<SegmentRef>(found);
}

Result<std::vector<SegmentRef>> ListLogSegments(Env* env, const std::string& dir) {
  auto exists = env->FileExists(dir);
  if (!exists.ok()) return exists.status();
  if (!*exists) return Status::NotFound(dir + ": no such log directory");
  auto segments = ListSegments(env, dir);
  if (!segments.ok()) return segments.status();
  if (segments->empty()) return Status::NotFound(dir + ": not a quipu log (no segment files)");
  auto marker = ReadPurgeMarkerFile(env, dir);
  if (!marker.ok()) return marker.status();
  QUIPU_RETURN_IF_ERROR(ApplyPurge(*marker, &*segments));
  return segments;
}

FrameScanner::FrameScanner(const RandomAccessFile* file, Lsn base)
    : file_(file),
      base_(base),
      pos_(format::kSegmentHeaderSize),
      frame_offset_(format::kSegmentHeaderSize) {}

Result<bool> FrameScanner::Ensure(uint64_t pos, size_t n) {
  if (pos >= window_start_ && pos + n <= window_start_ + window_.size()) return true;
  // Refill from `pos`, reading up to a chunk so that small frames cost one
  // read per chunk rather than one per frame, but never past the end of the
  // file (a small segment must not cost a chunk-sized buffer).
  auto size = file_->Size();
  if (!size.ok()) return size.status();
  const uint64_t left = *size > pos ? *size - pos : 0;
  const size_t want = std::max<size_t>(n, std::min<uint64_t>(kReadChunk, left));
  QUIPU_RETURN_IF_ERROR(file_->Read(pos, want, &window_));
  window_start_ = pos;
  return window_.size() >= n;
}

Result<FrameScanner::Outcome> FrameScanner::Next(std::string_view* payload) {
  for (;;) {
    bool is_marker = false;
    auto outcome = ReadFrame(payload, &is_marker);
    if (!outcome.ok() || *outcome != Outcome::kRecord || !is_marker) return outcome;
    // A marker that claims everything before itself covers itself too.
    const uint64_t claim = DecodeFixed64(payload->data());
    marker_claim_ = std::max(marker_claim_, claim == frame_offset_ ? pos_ : claim);
  }
}

Result<FrameScanner::Outcome> FrameScanner::ReadFrame(std::string_view* payload, bool* is_marker) {
  frame_offset_ = pos_;
  zero_header_ = false;
  auto have_header = Ensure(pos_, format::kFrameHeaderSize);
  if (!have_header.ok()) return have_header.status();
  if (!*have_header) {
    // A failed Ensure refilled the window from pos_: what it holds is all
    // there is.
    if (window_.empty()) return Outcome::kEnd;
    zero_header_ = AllZero(window_);
    reason_ = "torn frame: header incomplete at end of file";
    return Outcome::kBad;
  }
  const char* h = window_.data() + (pos_ - window_start_);
  const uint32_t stored_crc = DecodeFixed32(h);
  const uint32_t length_field = DecodeFixed32(h + 4);
  zero_header_ = stored_crc == 0 && length_field == 0;
  *is_marker = (length_field & format::kMarkerFlag) != 0;
  const uint32_t length = length_field & ~format::kMarkerFlag;
  if (*is_marker && length != format::kMarkerPayloadSize) {
    reason_ = "sync marker with length " + std::to_string(length);
    return Outcome::kBad;
  }
  const uint64_t frame_size = format::kFrameHeaderSize + uint64_t{length};
  // Ask the file's size before reading a frame the window lacks, so that a
  // damaged length never becomes a multi-gigabyte allocation.
  if (pos_ + frame_size > window_start_ + window_.size()) {
    auto size = file_->Size();
    if (!size.ok()) return size.status();
    if (pos_ + frame_size > *size) {
      reason_ = "torn frame: length " + std::to_string(length) + " runs past end of file";
      return Outcome::kBad;
    }
  }
  auto have_frame = Ensure(pos_, frame_size);
  if (!have_frame.ok()) return have_frame.status();
  if (!*have_frame) {
    reason_ = "torn frame: file shrank while being read";
    return Outcome::kBad;
  }
  const char* body = window_.data() + (pos_ - window_start_) + format::kFrameHeaderSize;
  std::string_view frame_payload(body, length);
  if (format::FrameCrc(length_field, frame_payload, base_) != stored_crc) {
    reason_ = "frame checksum mismatch";
    return Outcome::kBad;
  }
  *payload = frame_payload;
  pos_ += frame_size;
  return Outcome::kRecord;
}

Result<bool> DurableDataFollows(const RandomAccessFile* file, Lsn base, uint64_t after) {
  auto size = file->Size();
  if (!size.ok()) return size.status();
  // Try every offset: damage can shift frame boundaries arbitrarily. Only
  // marker-shaped candidates cost a CRC, so this is one cheap pass, read in
  // chunks that overlap by one marker so none is missed at a boundary.
  const uint32_t marker_field = format::kMarkerFlag | format::kMarkerPayloadSize;
  std::string chunk;
  for (uint64_t start = after + 1; start + format::kMarkerFrameSize <= *size; start += kReadChunk) {
    QUIPU_RETURN_IF_ERROR(file->Read(start, kReadChunk + format::kMarkerFrameSize - 1, &chunk));
    for (size_t i = 0; i < kReadChunk && i + format::kMarkerFrameSize <= chunk.size(); ++i) {
      if (DecodeFixed32(chunk.data() + i + 4) != marker_field) continue;
      std::string_view claim(chunk.data() + i + format::kFrameHeaderSize,
                             format::kMarkerPayloadSize);
      if (format::FrameCrc(marker_field, claim, base) != DecodeFixed32(chunk.data() + i)) continue;
      if (DecodeFixed64(claim.data()) > after) return true;
    }
  }
  return false;
}

std::string DamageMessage(const std::string& file, uint64_t offset, const std::string& reason) {
  return file + " at offset " + std::to_string(offset) + ": " + reason;
}

Result<bool> RangeIsAllZero(const RandomAccessFile* file, uint64_t from, uint64_t to) {
  std::string chunk;
  for (uint64_t pos = from; pos < to; pos += kReadChunk) {
    QUIPU_RETURN_IF_ERROR(file->Read(pos, std::min<uint64_t>(kReadChunk, to - pos), &chunk));
    if (!AllZero(chunk)) return false;
  }
  return true;
}

Result<uint8_t> ReadStoredKind(Env* env, const std::string& dir,
                               const std::vector<SegmentRef>& segments) {
  for (auto it = segments.rbegin(); it != segments.rend(); ++it) {
    auto file = env->NewRandomAccessFile(JoinPath(dir, it->name));
    if (!file.ok()) return file.status();
    std::string header;
    QUIPU_RETURN_IF_ERROR((*file)->Read(0, format::kSegmentHeaderSize, &header));
    if (header.size() < format::kSegmentHeaderSize || AllZero(header)) continue;  // unborn
    format::SegmentHeader decoded;
    QUIPU_RETURN_IF_ERROR(format::DecodeSegmentHeader(header, it->name, &decoded));
    return decoded.kind;
  }
  return uint8_t{0};
}

Result<SegmentScan> ScanSegment(Env* env, const std::string& dir, const SegmentRef& ref) {
  auto file = env->NewRandomAccessFile(JoinPath(dir, ref.name));
  if (!file.ok()) return file.status();
  SegmentScan scan;
  auto size = (*file)->Size();
  if (!size.ok()) return size.status();
  scan.file_size = *size;

  std::string header;
  QUIPU_RETURN_IF_ERROR((*file)->Read(0, format::kSegmentHeaderSize, &header));
  // A short file is all in `header`; a full-size one counts as unborn only
  // when every byte of it is zero (its size was extended, nothing written).
  const bool short_prefix =
      header.size() < format::kSegmentHeaderSize && format::IsSegmentHeaderPrefix(header, ref.base);
  if (short_prefix || AllZero(header)) {
    auto zero = RangeIsAllZero(file->get(), 0, scan.file_size);
    if (!zero.ok()) return zero.status();
    if (short_prefix || *zero) {
      scan.unborn = true;
      return scan;
    }
  }
  format::SegmentHeader decoded;
  QUIPU_RETURN_IF_ERROR(format::DecodeSegmentHeader(header, ref.name, &decoded));
  const Lsn base = decoded.base;
  scan.kind = decoded.kind;
  if (base != ref.base) {
    return Status::Corruption(ref.name + ": header says base LSN " + std::to_string(base) +
                              " but the file name says " + std::to_string(ref.base));
  }

  FrameScanner scanner(file->get(), base);
  std::string_view payload;
  for (;;) {
    auto outcome = scanner.Next(&payload);
    if (!outcome.ok()) return outcome.status();
    if (*outcome == FrameScanner::Outcome::kRecord) {
      ++scan.records;
      continue;
    }
    scan.valid_end = scanner.valid_end();
    scan.marker_claim = scanner.marker_claim();
    if (*outcome == FrameScanner::Outcome::kBad) {
      auto zeros = RangeIsAllZero(file->get(), scanner.offset(), scan.file_size);
      if (!zeros.ok()) return zeros.status();
      if (*zeros) {
        // Zeros written ahead of the appends, or never written back: no
        // record ends here, none follows.
        scan.zero_tail = true;
        return scan;
      }
      scan.damaged = true;
      scan.bad_offset = scanner.offset();
      scan.bad_reason = scanner.reason();
      auto durable = DurableDataFollows(file->get(), base, scan.bad_offset);
      if (!durable.ok()) return durable.status();
      scan.durable_damage = *durable;
    }
    return scan;
  }
}

}  // namespace quipu
