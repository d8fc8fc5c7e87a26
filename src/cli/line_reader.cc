#include "cli/line_reader.h"

#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

namespace quipu::cli {

LineReader::LineReader(int fd, size_t chunk_size) : fd_(fd), buf_(chunk_size) {}

Result<bool> LineReader::Fill() {
  // Keep the unfinished line, moved to the front so a full chunk fits behind it.
  size_t kept = end_ - begin_;
  std::memmove(buf_.data(), buf_.data() + begin_, kept);
  scanned_ -= begin_;
  begin_ = 0;
  end_ = kept;
  // A line longer than the buffer grows it; Append will judge its size.
  if (buf_.size() - end_ < buf_.size() / 2) buf_.resize(buf_.size() * 2);

  for (;;) {
    ssize_t n = ::read(fd_, buf_.data() + end_, buf_.size() - end_);
    if (n > 0) {
      end_ += static_cast<size_t>(n);
      return true;
    }
    if (n == 0) return false;
    if (errno != EINTR) {
      int err = errno;
      return Status::IOError(std::string("read from stdin: ") + std::strerror(err), err);
    }
  }
}

bool LineReader::NextLine(std::string_view* line) {
  const char* base = buf_.data();
  const void* nl = std::memchr(base + scanned_, '\n', end_ - scanned_);
  if (nl == nullptr) {
    scanned_ = end_;
    return false;
  }
  size_t stop = static_cast<const char*>(nl) - base;
  *line = std::string_view(base + begin_, stop - begin_);
  begin_ = scanned_ = stop + 1;
  return true;
}

bool LineReader::LastLine(std::string_view* line) {
  if (begin_ == end_) return false;
  *line = std::string_view(buf_.data() + begin_, end_ - begin_);
  begin_ = scanned_ = end_;
  return true;
}

}  // namespace quipu::cli
