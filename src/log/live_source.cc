// log/live_source.cc — how an in-process reader sees the log being written.
#include <memory>
#include <mutex>

#include "log/log_impl.h"
#include "log/reader_impl.h"

namespace quipu {

namespace {

// Serves the writer's own view to in-process readers, for as long as the
// log is open: a reader may outlive its Log, and then fails instead of
// touching freed memory.
class LiveSource : public ReadSource {
 public:
  explicit LiveSource(std::shared_ptr<LogImpl::ReaderLink> link) : link_(std::move(link)) {}
  Status View(std::vector<SegmentRef>* segments, Lsn* readable) override {
    std::lock_guard<std::mutex> guard(link_->mu);
    if (link_->log == nullptr) return Closed();
    link_->log->ReadableView(segments, readable);
    return Status::OK();
  }
  bool live() const override { return true; }
  Status Usable() const override {
    std::lock_guard<std::mutex> guard(link_->mu);
    return link_->log == nullptr ? Closed() : Status::OK();
  }

 private:
  static Status Closed() {
    return Status::FailedPrecondition("the log this reader follows was closed");
  }
  std::shared_ptr<LogImpl::ReaderLink> link_;
};

}  // namespace

std::unique_ptr<ReadSource> NewLiveSource(std::shared_ptr<LogImpl::ReaderLink> link) {
  return std::make_unique<LiveSource>(std::move(link));
}

}  // namespace quipu
