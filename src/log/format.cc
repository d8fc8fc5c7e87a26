#include "log/format.h"

#include <cstdio>

#include "util/coding.h"
#include "util/crc32c.h"

namespace quipu::format {

std::string SegmentFileName(Lsn base) {
  char name[32];
  std::snprintf(name, sizeof(name), "%020llu", static_cast<unsigned long long>(base));
  return std::string(name) + std::string(kSegmentSuffix);
}

bool ParseSegmentFileName(std::string_view name, Lsn* base) {
  if (name.size() != 20 + kSegmentSuffix.size() || !name.ends_with(kSegmentSuffix)) return false;
  Lsn value = 0;
  for (size_t i = 0; i < 20; ++i) {
    char c = name[i];
    if (c < '0' || c > '9') return false;
    const Lsn digit = static_cast<Lsn>(c - '0');
    if (value > (UINT64_MAX - digit) / 10) return false;
    value = value * 10 + digit;
  }
  if (value == 0) return false;  // LSNs start at 1
  *base = value;
  return true;
}

std::string PendingSegmentFileName(Lsn base) {
  return SegmentFileName(base) + std::string(kPendingSuffix);
}

bool ParsePendingSegmentFileName(std::string_view name, Lsn* base) {
  if (!name.ends_with(kPendingSuffix)) return false;
  name.remove_suffix(kPendingSuffix.size());
  return ParseSegmentFileName(name, base);
}

bool IsStoreFileName(std::string_view name) {
  Lsn base;
  return ParseSegmentFileName(name, &base) || ParsePendingSegmentFileName(name, &base) ||
         name == kLockFileName || name == kRecoveryJournalName || name == kSpineName ||
         name == kPurgedName || name == kPurgedTempName || name == kSpineTempName ||
         name == kCheckpointsName || name == kIndexDirName || name == kAccessDirName;
}

namespace {
constexpr uint32_t kKindMask = 0xff;
constexpr uint8_t kHighestKind = static_cast<uint8_t>(LogKind::kAuditStore);
}  // namespace

std::string EncodeSegmentHeader(Lsn base, LogKind kind) {
  std::string h(kMagic);
  PutFixed32(&h, kVersion);
  PutFixed32(&h, static_cast<uint32_t>(kind));  // flags
  PutFixed64(&h, base);
  PutFixed32(&h, 0);  // reserved
  PutFixed32(&h, crc32c::Mask(crc32c::Value(h)));
  return h;
}

bool IsSegmentHeaderPrefix(std::string_view prefix, Lsn base) {
  // Every kind's header agrees up to the flags; past them only the kind byte
  // may differ, so compare against the header of each kind.
  for (uint8_t kind = 1; kind <= kHighestKind; ++kind) {
    if (EncodeSegmentHeader(base, static_cast<LogKind>(kind)).starts_with(prefix)) return true;
  }
  return false;
}

Status DecodeSegmentHeader(std::string_view header, const std::string& file, SegmentHeader* out) {
  if (header.size() < kSegmentHeaderSize) {
    return Status::Corruption(file + ": segment header is incomplete (" +
                              std::to_string(header.size()) + " of 32 bytes)");
  }
  if (header.substr(0, kMagic.size()) != kMagic) {
    return Status::Corruption(file + ": not a quipu segment (wrong magic at offset 0)");
  }
  // The version is checked before the CRC: a newer format may lay out the
  // rest of its header differently, and deserves "too new", not "corrupt".
  const uint32_t version = DecodeFixed32(header.data() + 8);
  if (version > kVersion) {
    return Status::NotSupported(file + ": segment format version " + std::to_string(version) +
                                " is newer than this quipu understands (" +
                                std::to_string(kVersion) + ")");
  }
  const uint32_t stored = crc32c::Unmask(DecodeFixed32(header.data() + 28));
  if (crc32c::Value(header.data(), 28) != stored) {
    return Status::Corruption(file + ": segment header checksum mismatch at offset 0");
  }
  if (version == 0) return Status::Corruption(file + ": segment format version 0 is invalid");
  const uint32_t flags = DecodeFixed32(header.data() + 12);
  if ((flags & ~kKindMask) != 0 || (flags & kKindMask) > kHighestKind) {
    return Status::NotSupported(file + ": segment header flags " + std::to_string(flags) +
                                " are not understood by this quipu (a newer writer?)");
  }
  out->kind = static_cast<uint8_t>(flags & kKindMask);
  out->base = DecodeFixed64(header.data() + 16);
  return Status::OK();
}

uint32_t PartialFrameCrc(std::string_view payload) {
  char len[4];
  EncodeFixed32(len, static_cast<uint32_t>(payload.size()));
  return crc32c::Extend(crc32c::Value(len, 4), payload.data(), payload.size());
}

uint32_t FinishFrameCrc(uint32_t partial, Lsn segment_base) {
  char base[8];
  EncodeFixed64(base, segment_base);
  return crc32c::Mask(crc32c::Extend(partial, base, 8));
}

uint32_t FrameCrc(uint32_t length_field, std::string_view payload, Lsn segment_base) {
  char len[4];
  EncodeFixed32(len, length_field);
  return FinishFrameCrc(crc32c::Extend(crc32c::Value(len, 4), payload.data(), payload.size()),
                        segment_base);
}

void AppendMarker(std::string* dst, Lsn segment_base, uint64_t synced_through) {
  char frame[kMarkerFrameSize];
  const uint32_t length_field = kMarkerFlag | static_cast<uint32_t>(kMarkerPayloadSize);
  EncodeFixed64(frame + kFrameHeaderSize, synced_through);
  const std::string_view payload(frame + kFrameHeaderSize, kMarkerPayloadSize);
  EncodeFixed32(frame, FrameCrc(length_field, payload, segment_base));
  EncodeFixed32(frame + 4, length_field);
  dst->append(frame, kMarkerFrameSize);
}

void AppendFrame(std::string* dst, uint32_t stored_crc, std::string_view payload) {
  char header[kFrameHeaderSize];
  EncodeFixed32(header, stored_crc);
  EncodeFixed32(header + 4, static_cast<uint32_t>(payload.size()));
  dst->append(header, kFrameHeaderSize);
  dst->append(payload.data(), payload.size());
}

}  // namespace quipu::format
