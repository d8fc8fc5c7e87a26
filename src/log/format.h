// log/format.h — the on-disk format of a segment, as constants and codecs.
// docs/format.md is the prose specification; this file must agree with it.
//
//   segment := header frame*
//   header  := magic[8] "QUIPULOG" | version:u32 | flags:u32 | base_lsn:u64 |
//              reserved:u32 | header_crc:u32            (32 bytes)
//   flags   := bits 0..7: the log's kind (LogKind; 0 in segments written
//              before kinds were recorded), other bits 0
//   frame   := frame_crc:u32 | length:u32 | payload[length & 0x7fffffff]
//
// Integers are little-endian. header_crc is the masked CRC-32C of the 28 bytes
// before it. frame_crc is the masked CRC-32C of length:u32 ‖ payload ‖
// base_lsn:u64 — the segment's base LSN is checksummed but not stored in the
// frame, so a frame copied from another segment never validates.
//
// A frame whose length has the top bit (kMarkerFlag) set is a sync marker,
// not a record: its 8-byte payload is synced_through:u64, an offset in this
// segment below which every byte had been fdatasynced before the marker was
// written. Markers let recovery tell an unsynced tail with holes (torn, safe to
// cut) from damage to bytes that were durable (corruption). The n-th record
// frame of a segment (from 0, markers not counted) holds LSN base_lsn + n.
#ifndef QUIPU_LOG_FORMAT_H_
#define QUIPU_LOG_FORMAT_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "quipu/options.h"
#include "quipu/reader.h"
#include "quipu/status.h"

namespace quipu::format {

inline constexpr std::string_view kMagic = "QUIPULOG";
inline constexpr uint32_t kVersion = 1;
inline constexpr size_t kSegmentHeaderSize = 32;
inline constexpr size_t kFrameHeaderSize = 8;
inline constexpr uint32_t kMarkerFlag = 0x80000000u;
inline constexpr size_t kMarkerPayloadSize = 8;
inline constexpr size_t kMarkerFrameSize = kFrameHeaderSize + kMarkerPayloadSize;
// Records are at most this large, so their length never has kMarkerFlag set.
inline constexpr uint32_t kMaxRecordSizeLimit = kMarkerFlag - 1;
inline constexpr std::string_view kSegmentSuffix = ".qlog";
// A segment written before its predecessor's seal completed: renamed to its
// segment name once the predecessor is synced (docs/format.md, "Rotation").
inline constexpr std::string_view kPendingSuffix = ".pending";
inline constexpr std::string_view kLockFileName = "LOCK";
inline constexpr std::string_view kRecoveryJournalName = "RECOVERY";
// Where a purged log starts (log/purge.h), and its temporary while replaced.
inline constexpr std::string_view kPurgedName = "PURGED";
inline constexpr std::string_view kPurgedTempName = "PURGED.tmp";
// Files the integrity layer keeps beside the segments (docs/format.md).
inline constexpr std::string_view kSpineName = "SPINE";
inline constexpr std::string_view kSpineTempName = "SPINE.tmp";
inline constexpr std::string_view kCheckpointsName = "CHECKPOINTS";
// An audit store's derived index (a directory; docs/format.md, "Derived index").
inline constexpr std::string_view kIndexDirName = "index";
// An audit store's access log: a store of its own (src/access/access_log.h).
inline constexpr std::string_view kAccessDirName = "access";

// True for every name quipu itself creates in a log directory: segments,
// pending segments, LOCK, RECOVERY, SPINE (and its temporary), CHECKPOINTS.
bool IsStoreFileName(std::string_view name);

// "00000000000000000001.qlog": the base LSN, 20 digits, so names sort by LSN.
std::string SegmentFileName(Lsn base);
// True and sets *base when `name` is a segment file name.
bool ParseSegmentFileName(std::string_view name, Lsn* base);
// "00000000000000000001.qlog.pending": segment `base` before it is linked in.
std::string PendingSegmentFileName(Lsn base);
bool ParsePendingSegmentFileName(std::string_view name, Lsn* base);

// What a segment header says. kind 0: written before kinds were recorded.
struct SegmentHeader {
  Lsn base = 0;
  uint8_t kind = 0;
};

std::string EncodeSegmentHeader(Lsn base, LogKind kind);
// Checks magic, version and CRC of a 32-byte header; `file` names it in errors.
// A wrong magic or CRC is Corruption; a newer version, or flags this version
// does not define, NotSupported.
Status DecodeSegmentHeader(std::string_view header, const std::string& file, SegmentHeader* out);
// True if `prefix` (shorter than a header) could begin a header of a segment
// with this base: what a crash while the header was being written leaves.
bool IsSegmentHeaderPrefix(std::string_view prefix, Lsn base);

// CRC-32C of length ‖ payload, before the segment's base LSN is mixed in.
// Computable before the writer knows which segment the frame lands in.
uint32_t PartialFrameCrc(std::string_view payload);
// The stored (masked) frame CRC, from the partial one.
uint32_t FinishFrameCrc(uint32_t partial, Lsn segment_base);
// Appends a complete record frame to *dst.
void AppendFrame(std::string* dst, uint32_t stored_crc, std::string_view payload);
// Appends a sync marker claiming bytes [0, synced_through) of the segment
// with base `segment_base` were durable before it was written.
void AppendMarker(std::string* dst, Lsn segment_base, uint64_t synced_through);

// The CRC a frame with this (raw) length field and payload must carry.
uint32_t FrameCrc(uint32_t length_field, std::string_view payload, Lsn segment_base);

}  // namespace quipu::format

#endif  // QUIPU_LOG_FORMAT_H_
