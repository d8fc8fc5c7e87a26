// cli/line_reader.h — newline-delimited records from a file descriptor, fast.
//
// `quipu ingest` must keep up with a million lines per second, so input is
// read with read(2) in large chunks and split with memchr, handing out views
// into the buffer instead of copying each line.
#ifndef QUIPU_CLI_LINE_READER_H_
#define QUIPU_CLI_LINE_READER_H_

#include <cstddef>
#include <string_view>
#include <vector>

#include "quipu/status.h"

namespace quipu::cli {

// Usage:
//   for (;;) {
//     Result<bool> more = in.Fill();          // blocks until input or EOF
//     while (in.NextLine(&line)) Use(line);
//     if (!*more) { if (in.LastLine(&line)) Use(line); break; }
//   }
// Not thread safe.
class LineReader {
 public:
  explicit LineReader(int fd, size_t chunk_size = 1 << 20);

  // Reads what the input has now (at least one byte, or EOF). Returns false at
  // EOF. Views from NextLine are invalidated.
  Result<bool> Fill();
  // The next complete line in the buffer, without its '\n'. False when only an
  // unfinished line (or nothing) is left; Fill to get more.
  bool NextLine(std::string_view* line);
  // After Fill returned false: the final line that had no '\n', if any bytes
  // of it exist.
  bool LastLine(std::string_view* line);

 private:
  int fd_;
  std::vector<char> buf_;
  size_t begin_ = 0;    // start of the first line not yet handed out
  size_t scanned_ = 0;  // bytes before this index are known to hold no '\n' past begin_
  size_t end_ = 0;      // end of valid data
};

}  // namespace quipu::cli

#endif  // QUIPU_CLI_LINE_READER_H_
