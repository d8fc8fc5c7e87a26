// quipu/reader.h — reading a log in LSN order.
//
// A LogReader yields records one at a time from a starting LSN, crossing
// segment boundaries. Two kinds exist:
//   - Log::NewReader: inside the process that writes the log. It sees records
//     up to what the writer has flushed to the OS, and later flushes as they
//     happen; Next() returns false when it has caught up.
//   - OpenLogReader: on a directory, without the writer lock and without
//     changing any file (safe while another process writes). A torn or
//     unfinished frame at the end of the newest segment ends the iteration.
// Other damage (in a sealed segment, or in bytes a later sync marker says were
// durable; see docs/format.md) is an error naming the file and offset, never
// skipped.
//
// Lifetime: a reader owns what it reads (its Env must outlive it). One from
// Log::NewReader may outlive its Log: once that log is closed or destroyed,
// Next() returns FailedPrecondition.
//
// Thread safety: one reader per thread; readers are independent of each other
// and of the writer.
#ifndef QUIPU_READER_H_
#define QUIPU_READER_H_

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "quipu/status.h"

namespace quipu {

class Env;

// Log sequence number: records are numbered 1, 2, 3, ... with no gaps.
using Lsn = uint64_t;

class LogReader {
 public:
  virtual ~LogReader() = default;

  // Moves to the next record: true if there is one, false at the end of what
  // is readable now, or the error that stopped it (kCorruption with file and
  // offset, kIOError).
  virtual Result<bool> Next() = 0;

  // The current record; valid after Next() returned true, until the next call.
  virtual Lsn lsn() const = 0;
  virtual std::string_view payload() const = 0;
  // File name (not path) of the segment holding the current record.
  virtual const std::string& segment() const = 0;
  // Byte offset of the current record's frame in segment(), for messages
  // that point a human at it.
  virtual uint64_t offset() const = 0;
};

// Reader over the log in `dir` from LSN `from` (values below the first LSN
// start at the first record). `env` nullptr means Env::Default().
Result<std::unique_ptr<LogReader>> OpenLogReader(const std::string& dir, Lsn from,
                                                 Env* env = nullptr);

}  // namespace quipu

#endif  // QUIPU_READER_H_
