// cli/line_reader.h — newline-delimited records from a file descriptor, fast.
//
// `quipu ingest` must keep up with a million lines per second, so input is
// read with read(2) in large chunks and split with memchr, handing out views
// into the buffer instead of copying each line.
//
// Memory stays bounded whatever the input: a line is refused as soon as more
// of it than the limit is buffered, rather than after all of it was read (a
// line of 300 MB must not take 300 MB).
#ifndef QUIPU_CLI_LINE_READER_H_
#define QUIPU_CLI_LINE_READER_H_

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "quipu/status.h"

namespace quipu::cli {

// Usage:
//   for (;;) {
//     Result<bool> more = in.Fill();          // blocks until input or EOF
//     if (!more.ok()) return more.status();
//     QUIPU_RETURN_IF_ERROR(in.ForEachLine(Use));
//     if (!*more) break;
//   }
// Not thread safe.
class LineReader {
 public:
  // Lines may hold up to `max_line` bytes, not counting the '\n'.
  LineReader(int fd, size_t max_line, size_t chunk_size = 1 << 20);

  // Reads what the input has now (at least one byte, or EOF). Returns false at
  // EOF. Views handed out before are invalidated.
  Result<bool> Fill();

  // Calls `fn(std::string_view line) -> Status` with every complete line now
  // in the buffer, without its '\n' (and, once Fill returned false, with the
  // last line if it had no '\n'), stopping at the first error fn returns.
  // A line longer than the limit is InvalidArgument
  // "line N: longer than <max_line> bytes", and so is the unfinished line
  // left in the buffer once it has grown past the limit.
  template <typename Fn>
  Status ForEachLine(Fn&& fn) {
    std::string_view line;
    for (;;) {
      Result<bool> got = Next(&line);
      if (!got.ok()) return got.status();
      if (!*got) return Status::OK();
      QUIPU_RETURN_IF_ERROR(fn(line));
    }
  }

  // The number of the last line handed out: 1 for the first line of input.
  uint64_t line_number() const { return line_number_; }

 private:
  Result<bool> Next(std::string_view* line);
  Status TooLong() const;

  int fd_;
  size_t max_line_;
  std::vector<char> buf_;
  size_t begin_ = 0;    // start of the first line not yet handed out
  size_t scanned_ = 0;  // bytes before this index are known to hold no '\n' past begin_
  size_t end_ = 0;      // end of valid data
  bool eof_ = false;
  uint64_t line_number_ = 0;
};

}  // namespace quipu::cli

#endif  // QUIPU_CLI_LINE_READER_H_
