// io/rocksdb_info_log.cc — the LOG lines; see rocksdb_info_log.h.
#include "io/rocksdb_info_log.h"

#include <sys/time.h>

#include <cstdarg>
#include <cstdio>
#include <ctime>
#include <mutex>
#include <string>
#include <utility>

namespace quipu {
namespace {

// "2024/05/01-12:00:00.123456 <thread id in hex> ", local time as RocksDB's.
std::string LinePrefix() {
  struct timeval now;
  ::gettimeofday(&now, nullptr);
  struct tm t;
  ::localtime_r(&now.tv_sec, &t);
  char buf[96];
  std::snprintf(buf, sizeof buf, "%04d/%02d/%02d-%02d:%02d:%02d.%06ld %llx ", t.tm_year + 1900,
                t.tm_mon + 1, t.tm_mday, t.tm_hour, t.tm_min, t.tm_sec,
                static_cast<long>(now.tv_usec),
                static_cast<unsigned long long>(rocksdb::Env::Default()->GetThreadID()));
  return buf;
}

class InfoLog final : public rocksdb::Logger {
 public:
  explicit InfoLog(std::unique_ptr<WritableFile> file) : file_(std::move(file)) {}

  using rocksdb::Logger::Logv;  // the level-filtering overload calls this one
  void Logv(const char* format, va_list ap) override {
    std::string line = LinePrefix();
    va_list copy;
    va_copy(copy, ap);
    const int n = std::vsnprintf(nullptr, 0, format, copy);
    va_end(copy);
    if (n > 0) {
      const size_t at = line.size();
      line.resize(at + static_cast<size_t>(n) + 1);  // + the NUL vsnprintf writes
      std::vsnprintf(line.data() + at, static_cast<size_t>(n) + 1, format, ap);
      line.pop_back();
    }
    if (line.empty() || line.back() != '\n') line.push_back('\n');
    std::lock_guard<std::mutex> lock(mu_);
    if (failed_ || file_closed_) return;
    failed_ = !file_->Append(line).ok();
  }

  size_t GetLogFileSize() const override { return file_->Size(); }  // for size-based rolling

 protected:
  // OK whatever happens: a lost LOG is not the database's error.
  rocksdb::Status CloseImpl() override {
    std::lock_guard<std::mutex> lock(mu_);
    file_closed_ = true;
    (void)file_->Close();
    return rocksdb::Status::OK();
  }

 private:
  std::mutex mu_;  // one line at a time; guards the flags and the file
  bool failed_ = false;
  bool file_closed_ = false;
  const std::unique_ptr<WritableFile> file_;
};

}  // namespace

std::shared_ptr<rocksdb::Logger> NewRocksInfoLog(std::unique_ptr<WritableFile> file) {
  return std::make_shared<InfoLog>(std::move(file));
}

}  // namespace quipu
