// log/segment_scan.h — reading frames out of segment files, shared by
// recovery, readers and inspection. Nothing here writes.
#ifndef QUIPU_LOG_SEGMENT_SCAN_H_
#define QUIPU_LOG_SEGMENT_SCAN_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "quipu/env.h"
#include "quipu/reader.h"
#include "quipu/status.h"

namespace quipu {

struct SegmentRef {
  std::string name;  // file name inside the log directory
  Lsn base = 0;
};

// Segment files of `dir` in LSN order. Other files are ignored.
Result<std::vector<SegmentRef>> ListSegments(Env* env, const std::string& dir);

// The segments of an existing log, for code that reads one: NotFound when
// `dir` does not exist or holds no segment ("not a quipu log"), Corruption
// when the first segment does not start at LSN 1 or, after a purge, at the
// purge's first kept LSN (log/purge.h); segments an unfinished purge left
// before that are not listed.
Result<std::vector<SegmentRef>> ListLogSegments(Env* env, const std::string& dir);

// The pending segments in `dir` (format::PendingSegmentFileName), by base.
Result<std::vector<SegmentRef>> ListPendingSegments(Env* env, const std::string& dir);

// The pending segment a writer left in `dir` after `segments` (a rotation
// whose seal did not finish), if any. A writer leaves at most one, after its
// newest segment; anything else is Corruption. Readers of a directory read it
// as the newest segment when it continues the chain, and stop before it when
// records are missing (recovery then drops it).
Result<std::optional<SegmentRef>> FindPendingSegment(Env* env, const std::string& dir,
                                                     const std::vector<SegmentRef>& segments);

inline std::string JoinPath(const std::string& dir, const std::string& name) {
  return dir + "/" + name;
}

// Iterates the records of one open segment file from the end of its header,
// stepping over sync markers (noting the highest offset they claim durable).
// The file may grow while scanned (a live log): reaching its current end is
// kEnd, and a later Next() looks again.
class FrameScanner {
 public:
  enum class Outcome { kRecord, kEnd, kBad };

  FrameScanner(const RandomAccessFile* file, Lsn base);

  // kRecord: *payload is the next record (valid until the next call).
  // kEnd:    no bytes past the last whole frame.
  // kBad:    the bytes at offset() are not a valid frame; reason() says why.
  //          The scanner stays there.
  Result<Outcome> Next(std::string_view* payload);

  // Drops the bytes read ahead, so the next frame is read from the file
  // again. A live reader calls it when the writer has flushed more: bytes
  // read ahead before that may have been a write still in flight, or bytes
  // a full disk made the writer cut and write again differently.
  void ForgetReadAhead() {
    window_.clear();
    window_start_ = 0;
  }

  // Start of the frame just returned, or of the bad bytes.
  uint64_t offset() const { return frame_offset_; }
  // End of the last whole frame read.
  uint64_t valid_end() const { return pos_; }
  const std::string& reason() const { return reason_; }
  // After kBad: whether the bad frame's header (as much of it as the file
  // holds) is zero bytes, as where the frames end in a file with zeros
  // written ahead of them (docs/format.md).
  bool zero_header() const { return zero_header_; }
  Lsn base() const { return base_; }
  // The highest synced_through of the sync markers read so far (0 if none);
  // a marker claiming everything before it counts as claiming itself.
  uint64_t marker_claim() const { return marker_claim_; }

 private:
  // Makes [pos, pos + n) available in window_; false if the file is shorter.
  Result<bool> Ensure(uint64_t pos, size_t n);
  // Reads the frame at pos_: kRecord (a record or a marker; *is_marker says
  // which), kEnd or kBad.
  Result<Outcome> ReadFrame(std::string_view* payload, bool* is_marker);

  const RandomAccessFile* file_;
  Lsn base_;
  uint64_t pos_;
  uint64_t frame_offset_;
  std::string window_;  // bytes of the file starting at window_start_
  uint64_t window_start_ = 0;
  std::string reason_;
  bool zero_header_ = false;
  uint64_t marker_claim_ = 0;
};

// True when bytes [from, to) of `file` are all zero (or the file ends before).
Result<bool> RangeIsAllZero(const RandomAccessFile* file, uint64_t from, uint64_t to);

// True if some offset in (after, end of file) holds a valid sync marker that
// claims bytes past `after` were durable: proof that damage at `after` hit
// durable data and is not a torn (never synced) tail, whatever else follows.
Result<bool> DurableDataFollows(const RandomAccessFile* file, Lsn base, uint64_t after);

// The result of scanning a whole segment.
struct SegmentScan {
  uint64_t file_size = 0;
  uint8_t kind = 0;  // from the header (format::SegmentHeader)
  uint64_t records = 0;
  uint64_t valid_end = 0;  // end of the last whole frame
  bool damaged = false;    // bytes after valid_end that are not frames
  // Bytes after valid_end that are all zero: space written ahead of the
  // appends (docs/format.md), or never written back. Not damage.
  bool zero_tail = false;
  uint64_t bad_offset = 0;
  std::string bad_reason;
  bool durable_damage = false;  // a sync marker after the damage claims it was durable
  uint64_t marker_claim = 0;    // highest synced_through among markers before valid_end
  // The file is shorter than a header, or its header is all zero bytes:
  // the segment was being created when the process or machine stopped.
  bool unborn = false;
};

// The kind (format::SegmentHeader::kind) recorded by the newest segment of
// `segments` whose header was written (a segment still being created is
// skipped); 0 if none was or the log predates kinds. Header errors other
// than an unwritten header are returned.
Result<uint8_t> ReadStoredKind(Env* env, const std::string& dir,
                               const std::vector<SegmentRef>& segments);

// Scans `ref` fully. Header errors (wrong magic, newer version, a base LSN
// that disagrees with the name) are returned as errors.
Result<SegmentScan> ScanSegment(Env* env, const std::string& dir, const SegmentRef& ref);

// "00000000000000000001.qlog at offset 4096: checksum mismatch".
std::string DamageMessage(const std::string& file, uint64_t offset, const std::string& reason);

}  // namespace quipu

#endif  // QUIPU_LOG_SEGMENT_SCAN_H_
