#include <algorithm>

#include "log/format.h"
#include "log/reader_impl.h"

namespace quipu {

namespace {

class LogReaderImpl final : public LogReader {
 public:
  LogReaderImpl(Env* env, std::string dir, std::unique_ptr<ReadSource> source, Lsn from)
      : env_(env),
        dir_(std::move(dir)),
        source_(std::move(source)),
        want_(std::max<Lsn>(from, 1)) {}

  Result<bool> Next() override;
  Lsn lsn() const override { return lsn_; }
  std::string_view payload() const override { return payload_; }
  const std::string& segment() const override { return name_; }
  uint64_t offset() const override { return offset_; }

 private:
  // Learns how far the log may be read now. In a live log, what the scanner
  // read ahead past the old end is dropped: it may have been a write still
  // in flight, or one a full disk made the writer cut and redo differently.
  Status Refresh() {
    if (scanner_ != nullptr && source_->live()) scanner_->ForgetReadAhead();
    QUIPU_RETURN_IF_ERROR(source_->View(&segments_, &readable_));
    // A purge (log/purge.h) may have removed segments before the current
    // one, or the current one too (its open file still reads): find it
    // again by its base.
    if (scanner_ != nullptr) {
      auto current = std::find_if(segments_.begin(), segments_.end(),
                                  [&](const SegmentRef& s) { return s.base == scanner_->base(); });
      index_ = current == segments_.end() ? kPurged : current - segments_.begin();
    }
    return Status::OK();
  }
  // index_ of a segment a purge removed while this reader was in it.
  static constexpr size_t kPurged = static_cast<size_t>(-1);
  // Opens the segment that holds want_ (or the first one, if want_ is 1 and
  // a purge removed it). False if there is no such segment yet.
  Result<bool> OpenSegmentFor(Lsn lsn);
  Result<bool> OpenSegmentAt(size_t index);
  // At the end of the current segment: moves to the next one, if any.
  Result<bool> Advance();
  Result<bool> OnBadFrame();
  // After kBad: whether the scanner stands before the zeros a writer wrote
  // ahead of its appends (nothing but zeros to the end of the file), which
  // end the segment's frames as the end of the file would.
  Result<bool> AtEndOfWrittenFrames();

  Env* env_;
  const std::string dir_;
  std::unique_ptr<ReadSource> source_;
  Lsn want_;  // the next LSN to return
  std::vector<SegmentRef> segments_;
  Lsn readable_ = 0;
  size_t index_ = 0;
  std::unique_ptr<RandomAccessFile> file_;
  std::unique_ptr<FrameScanner> scanner_;
  Lsn scan_lsn_ = 0;  // LSN of the frame the scanner yields next
  Lsn lsn_ = 0;
  std::string_view payload_;
  uint64_t offset_ = 0;
  std::string name_;
};

Result<bool> LogReaderImpl::Next() {
  QUIPU_RETURN_IF_ERROR(source_->Usable());
  for (;;) {
    if (want_ > readable_) {
      QUIPU_RETURN_IF_ERROR(Refresh());
      if (want_ > readable_) return false;
    }
    if (scanner_ == nullptr) {
      auto opened = OpenSegmentFor(want_);
      if (!opened.ok() || !*opened) return opened;
    }
    std::string_view payload;
    auto outcome = scanner_->Next(&payload);
    if (!outcome.ok()) return outcome.status();
    switch (*outcome) {
      case FrameScanner::Outcome::kRecord: {
        const Lsn lsn = scan_lsn_++;
        if (lsn < want_) continue;
        lsn_ = lsn;
        payload_ = payload;
        offset_ = scanner_->offset();
        want_ = lsn + 1;
        return true;
      }
      case FrameScanner::Outcome::kEnd: {
        auto advanced = Advance();
        if (!advanced.ok() || !*advanced) return advanced;
        continue;
      }
      case FrameScanner::Outcome::kBad: {
        auto end = AtEndOfWrittenFrames();
        if (!end.ok()) return end.status();
        if (!*end) return OnBadFrame();
        auto advanced = Advance();
        if (!advanced.ok() || !*advanced) return advanced;
        continue;
      }
    }
  }
}

Result<bool> LogReaderImpl::OpenSegmentFor(Lsn lsn) {
  if (segments_.empty()) QUIPU_RETURN_IF_ERROR(Refresh());
  if (segments_.empty()) return false;
  // A purge removed the start of the log (log/purge.h): "from the first
  // record" starts where it now begins; any other purged LSN is gone.
  const Lsn first = segments_.front().base;
  if (lsn < first && lsn > 1) {
    return Status::NotFound("LSN " + std::to_string(lsn) + " was purged: " + dir_ +
                            " starts at LSN " + std::to_string(first));
  }
  auto after = std::upper_bound(segments_.begin(), segments_.end(), lsn,
                                [](Lsn value, const SegmentRef& s) { return value < s.base; });
  const size_t index = after == segments_.begin() ? 0 : (after - segments_.begin()) - 1;
  return OpenSegmentAt(index);
}

Result<bool> LogReaderImpl::OpenSegmentAt(size_t index) {
  SegmentRef ref = segments_[index];
  auto file = env_->NewRandomAccessFile(JoinPath(dir_, ref.name));
  Lsn pending_base;
  if (!file.ok() && format::ParsePendingSegmentFileName(ref.name, &pending_base)) {
    // The writer linked the pending segment in under its segment name since
    // the view was taken (log/rotation.cc).
    ref.name = format::SegmentFileName(pending_base);
    file = env_->NewRandomAccessFile(JoinPath(dir_, ref.name));
  }
  if (!file.ok()) return file.status();
  std::string header;
  QUIPU_RETURN_IF_ERROR((*file)->Read(0, format::kSegmentHeaderSize, &header));
  const bool newest = index + 1 == segments_.size();
  if (header.size() < format::kSegmentHeaderSize && newest && !source_->live()) {
    return false;  // a segment still being created holds no records yet
  }
  format::SegmentHeader decoded;
  QUIPU_RETURN_IF_ERROR(format::DecodeSegmentHeader(header, ref.name, &decoded));
  const Lsn base = decoded.base;
  if (base != ref.base) {
    return Status::Corruption(ref.name + ": header says base LSN " + std::to_string(base) +
                              " but the file name says " + std::to_string(ref.base));
  }
  index_ = index;
  name_ = ref.name;
  file_ = std::move(*file);
  scanner_ = std::make_unique<FrameScanner>(file_.get(), base);
  scan_lsn_ = base;
  if (want_ < base) want_ = base;
  return true;
}

Result<bool> LogReaderImpl::Advance() {
  if (index_ == kPurged || index_ + 1 >= segments_.size()) {
    QUIPU_RETURN_IF_ERROR(Refresh());
    if (index_ == kPurged) {
      if (!segments_.empty() && segments_.front().base == scan_lsn_) return OpenSegmentAt(0);
      return Status::NotFound("LSN " + std::to_string(scan_lsn_) + " was purged from " + dir_ +
                              " while it was being read");
    }
    if (index_ + 1 >= segments_.size()) return false;  // caught up
  }
  const SegmentRef& next = segments_[index_ + 1];
  Lsn pending_base;
  if (next.base != scan_lsn_ && !source_->live() &&
      format::ParsePendingSegmentFileName(next.name, &pending_base)) {
    return false;  // records are missing before an unlinked segment: the log ends here
  }
  if (next.base != scan_lsn_) {
    return Status::Corruption(DamageMessage(name_, scanner_->valid_end(),
                                            "segment ends before LSN " + std::to_string(scan_lsn_) +
                                                " but the next segment starts at LSN " +
                                                std::to_string(next.base)));
  }
  return OpenSegmentAt(index_ + 1);
}

Result<bool> LogReaderImpl::AtEndOfWrittenFrames() {
  if (!scanner_->zero_header()) return false;
  auto size = file_->Size();
  if (!size.ok()) return size.status();
  return RangeIsAllZero(file_.get(), scanner_->offset(), *size);
}

Result<bool> LogReaderImpl::OnBadFrame() {
  // A segment followed only by a pending one is still the newest on disk.
  Lsn pending_base;
  const bool newest = index_ + 1 == segments_.size() ||
                      (index_ + 2 == segments_.size() &&
                       format::ParsePendingSegmentFileName(segments_.back().name, &pending_base));
  if (newest && !source_->live()) {
    auto durable = DurableDataFollows(file_.get(), scanner_->base(), scanner_->offset());
    if (!durable.ok()) return durable.status();
    if (!*durable) return false;  // a torn tail: the log ends here
  }
  return Status::Corruption(DamageMessage(name_, scanner_->offset(), scanner_->reason()));
}

// Reads a directory as it is on disk.
class DirectorySource final : public ReadSource {
 public:
  DirectorySource(Env* env, std::string dir) : env_(env), dir_(std::move(dir)) {}
  Status View(std::vector<SegmentRef>* segments, Lsn* readable) override {
    auto listed = ListLogSegments(env_, dir_);
    if (!listed.ok()) return listed.status();
    auto pending = FindPendingSegment(env_, dir_, *listed);
    if (!pending.ok()) return pending.status();
    if (pending->has_value()) listed->push_back(**pending);
    *segments = std::move(*listed);
    *readable = UINT64_MAX;
    return Status::OK();
  }
  bool live() const override { return false; }

 private:
  Env* env_;
  const std::string dir_;
};

}  // namespace

std::unique_ptr<LogReader> NewLogReader(Env* env, std::string dir,
                                        std::unique_ptr<ReadSource> source, Lsn from) {
  return std::make_unique<LogReaderImpl>(env, std::move(dir), std::move(source), from);
}

Result<std::unique_ptr<LogReader>> OpenLogReader(const std::string& dir, Lsn from, Env* env) {
  if (env == nullptr) env = Env::Default();
  // Fails early on a directory that is not a log (or has lost its start).
  auto segments = ListLogSegments(env, dir);
  if (!segments.ok()) return segments.status();
  return NewLogReader(env, dir, std::make_unique<DirectorySource>(env, dir), from);
}

}  // namespace quipu
