#include "quipu/options.h"

#include <charconv>

#include "log/format.h"
#include "util/quote.h"

namespace quipu {

namespace {

bool ParseUint(std::string_view text, uint64_t* out) {
  if (text.empty()) return false;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), *out);
  return ec == std::errc() && end == text.data() + text.size();
}

Status BadSpec(std::string_view spec) {
  return Status::InvalidArgument("bad durability " + QuoteInput(spec) +
                                 ": expected always, every:N, every:N,MS, group, group:MS or os");
}

}  // namespace

std::string_view LogKindName(LogKind kind) {
  switch (kind) {
    case LogKind::kPlain:
      return "plain log";
    case LogKind::kAuditStore:
      return "audit store";
  }
  return "unknown kind of log";
}

Result<DurabilityPolicy> DurabilityPolicy::Parse(std::string_view spec) {
  using std::chrono::milliseconds;
  if (spec == "always") return Always();
  if (spec == "os") return OsManaged();
  if (spec == "group") return GroupCommit();
  uint64_t n = 0;
  uint64_t ms = 0;
  if (spec.starts_with("group:")) {
    if (!ParseUint(spec.substr(6), &ms)) return BadSpec(spec);
    return GroupCommit(milliseconds(ms));
  }
  if (spec.starts_with("every:")) {
    std::string_view rest = spec.substr(6);
    const size_t comma = rest.find(',');
    if (!ParseUint(rest.substr(0, comma), &n) || n == 0 || n > UINT32_MAX) return BadSpec(spec);
    if (comma == std::string_view::npos) return EveryN(static_cast<uint32_t>(n));
    if (!ParseUint(rest.substr(comma + 1), &ms) || ms == 0) return BadSpec(spec);
    return EveryNOrInterval(static_cast<uint32_t>(n), milliseconds(ms));
  }
  return BadSpec(spec);
}

std::string DurabilityPolicy::ToString() const {
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(interval_).count();
  switch (kind_) {
    case Kind::kAlways:
      return "always";
    case Kind::kEveryN:
      return "every:" + std::to_string(n_);
    case Kind::kEveryNOrInterval:
      return "every:" + std::to_string(n_) + "," + std::to_string(ms);
    case Kind::kGroupCommit:
      return ms > 0 ? "group:" + std::to_string(ms) : "group";
    case Kind::kOsManaged:
      return "os";
  }
  return "?";
}

Status DurabilityPolicy::Validate() const {
  if ((kind_ == Kind::kEveryN || kind_ == Kind::kEveryNOrInterval) && n_ == 0) {
    return Status::InvalidArgument("durability every:N needs N >= 1");
  }
  if (interval_.count() < 0) return Status::InvalidArgument("durability interval is negative");
  if (kind_ == Kind::kEveryNOrInterval && interval_.count() == 0) {
    return Status::InvalidArgument("durability every:N,MS needs an interval > 0");
  }
  return Status::OK();
}

Status LogOptions::Validate() const {
  QUIPU_RETURN_IF_ERROR(durability.Validate());
  if (kind != LogKind::kPlain && kind != LogKind::kAuditStore) {
    return Status::InvalidArgument("unknown log kind " + std::to_string(static_cast<int>(kind)));
  }
  if (buffer_size == 0) return Status::InvalidArgument("buffer_size must be > 0");
  if (max_record_size > format::kMaxRecordSizeLimit) {
    return Status::InvalidArgument("max_record_size is limited to " +
                                   std::to_string(format::kMaxRecordSizeLimit));
  }
  const uint64_t smallest_segment = format::kSegmentHeaderSize + format::kMarkerFrameSize +
                                    format::kFrameHeaderSize + uint64_t{max_record_size};
  if (segment_size < smallest_segment) {
    return Status::InvalidArgument("segment_size " + std::to_string(segment_size) +
                                   " cannot hold a record of max_record_size " +
                                   std::to_string(max_record_size) + " (needs at least " +
                                   std::to_string(smallest_segment) + ")");
  }
  return Status::OK();
}

}  // namespace quipu
