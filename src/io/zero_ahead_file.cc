// io/zero_ahead_file.cc — zeros written ahead of a file's data.
#include "io/zero_ahead_file.h"

#include <algorithm>
#include <string>

namespace quipu {

namespace {

// Zeros are written from one shared page-aligned buffer, in pieces.
constexpr size_t kZeroPiece = 256 << 10;
const std::string& ZeroPiece() {
  static const std::string* zeros = new std::string(kZeroPiece, '\0');
  return *zeros;
}

}  // namespace

ZeroAheadFile::ZeroAheadFile(std::unique_ptr<WritableFile> file, uint64_t chunk, uint64_t limit,
                             uint64_t max_sync_span)
    : file_(std::move(file)),
      chunk_(std::max<uint64_t>(chunk, 1)),
      limit_(limit),
      max_sync_span_(max_sync_span),
      data_end_(file_->Size()),
      synced_end_(file_->Size()),
      filled_(file_->Size()) {}

Status ZeroAheadFile::Sync() {
  const uint64_t end = Size();
  QUIPU_RETURN_IF_ERROR(file_->Sync());
  last_sync_span_.store(end > synced_end_ ? end - synced_end_ : 0, std::memory_order_relaxed);
  synced_end_ = std::max(synced_end_, end);
  return Status::OK();
}

bool ZeroAheadFile::GrowTo(uint64_t end) {
  // Whole chunks past the data, within the limit; `end` itself always.
  uint64_t target = std::min(filled_ + (end - filled_ + chunk_ - 1) / chunk_ * chunk_, limit_);
  target = std::max(target, end);
  for (uint64_t at = filled_; at < target;) {
    const uint64_t n = std::min<uint64_t>(kZeroPiece, target - at);
    Status s = file_->WriteAt(at, std::string_view(ZeroPiece()).substr(0, n));
    if (!s.ok()) {
      // Leave the file as it was: a plain append follows and meets the
      // same full disk with the caller's data.
      (void)file_->Truncate(filled_);
      finished_ = true;
      return false;
    }
    at += n;
  }
  filled_ = target;
  return true;
}

Status ZeroAheadFile::Append(std::string_view data) {
  const uint64_t at = Size();
  const uint64_t end = at + data.size();
  if (end > filled_ && !finished_ &&
      last_sync_span_.load(std::memory_order_relaxed) <= max_sync_span_) {
    GrowTo(end);
  }
  return WriteAt(at, data);
}

Status ZeroAheadFile::WriteAt(uint64_t offset, std::string_view data) {
  Status s = file_->WriteAt(offset, data);
  // A failed write past the zeros may have grown the file in part; the data
  // end stays where it was (the caller truncates back to it).
  filled_ = std::max(filled_, file_->Size());
  if (s.ok() && offset + data.size() > Size()) {
    data_end_.store(offset + data.size(), std::memory_order_release);
  }
  return s;
}

Status ZeroAheadFile::Truncate(uint64_t size) {
  QUIPU_RETURN_IF_ERROR(file_->Truncate(size));
  filled_ = size;
  data_end_.store(size, std::memory_order_release);
  // Room may have come back since a grow failed (a truncate follows a
  // full disk's rollback): try zeros again.
  finished_ = false;
  return Status::OK();
}

Status ZeroAheadFile::Finish() {
  finished_ = true;
  if (filled_ == Size()) return Status::OK();
  QUIPU_RETURN_IF_ERROR(file_->Truncate(Size()));
  filled_ = Size();
  return Status::OK();
}

Status FinishZeros(WritableFile* file) {
  auto* zeros = dynamic_cast<ZeroAheadFile*>(file);
  return zeros != nullptr ? zeros->Finish() : Status::OK();
}

}  // namespace quipu
