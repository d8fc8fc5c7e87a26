#include "cli/line_reader.h"

#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

namespace quipu::cli {

LineReader::LineReader(int fd, size_t max_line, size_t chunk_size)
    : fd_(fd), max_line_(max_line), buf_(chunk_size) {}

Result<bool> LineReader::Fill() {
  // Keep the unfinished line, moved to the front so a full chunk fits behind it.
  size_t kept = end_ - begin_;
  // ForEachLine has refused a longer one; growing for it would let the input
  // decide how much memory is used.
  if (kept > max_line_) return TooLong();
  std::memmove(buf_.data(), buf_.data() + begin_, kept);
  scanned_ -= begin_;
  begin_ = 0;
  end_ = kept;
  // A line longer than half the buffer grows it, up to about twice the limit.
  if (buf_.size() - end_ < buf_.size() / 2) buf_.resize(buf_.size() * 2);

  for (;;) {
    ssize_t n = ::read(fd_, buf_.data() + end_, buf_.size() - end_);
    if (n > 0) {
      end_ += static_cast<size_t>(n);
      return true;
    }
    if (n == 0) {
      eof_ = true;
      return false;
    }
    if (errno != EINTR) {
      int err = errno;
      return Status::IOError(std::string("read from stdin: ") + std::strerror(err), err);
    }
  }
}

Result<bool> LineReader::Next(std::string_view* line) {
  const char* base = buf_.data();
  const void* nl = std::memchr(base + scanned_, '\n', end_ - scanned_);
  size_t stop = nl != nullptr ? static_cast<const char*>(nl) - base : end_;
  if (stop - begin_ > max_line_) return TooLong();
  if (nl == nullptr) {
    scanned_ = end_;
    // Only at EOF is an unfinished line the last one.
    if (!eof_ || begin_ == end_) return false;
  }
  *line = std::string_view(base + begin_, stop - begin_);
  begin_ = scanned_ = nl != nullptr ? stop + 1 : end_;
  line_number_++;
  return true;
}

Status LineReader::TooLong() const {
  return Status::InvalidArgument("line " + std::to_string(line_number_ + 1) + ": longer than " +
                                 std::to_string(max_line_) + " bytes");
}

}  // namespace quipu::cli
