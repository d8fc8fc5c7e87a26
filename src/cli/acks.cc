#include "cli/acks.h"

#include <utility>

namespace quipu::cli {

DurableWatcher::DurableWatcher(Log* log, std::function<Status(Lsn)> on_durable)
    : log_(log),
      on_durable_(std::move(on_durable)),
      reported_(log->DurableLsn()),
      thread_([this](std::stop_token stop) { Loop(stop); }) {}

Status DurableWatcher::Stop() {
  thread_.request_stop();
  thread_.join();
  return error_;
}

void DurableWatcher::Loop(std::stop_token stop) {
  Lsn seen = reported_;
  while (!stop.stop_requested()) {
    Result<Lsn> now = log_->AwaitDurableAbove(seen, std::chrono::milliseconds(100));
    if (!now.ok()) {
      error_ = now.status();
      return;
    }
    if (*now <= seen) continue;
    seen = *now;
    Status s = on_durable_(seen);
    if (!s.ok()) {
      error_ = s;
      return;
    }
  }
}

GroupSyncer::GroupSyncer(Log* log, std::chrono::microseconds gather)
    : log_(log), gather_(gather), thread_([this](std::stop_token stop) { Loop(stop); }) {}

void GroupSyncer::Poke() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    pending_ = true;
  }
  cv_.notify_one();
}

bool GroupSyncer::failed() {
  std::lock_guard<std::mutex> lock(mu_);
  return !error_.ok();
}

Status GroupSyncer::Stop() {
  thread_.request_stop();
  thread_.join();
  return error_;
}

void GroupSyncer::Loop(std::stop_token stop) {
  for (;;) {
    {
      std::unique_lock<std::mutex> lock(mu_);
      if (!cv_.wait(lock, stop, [this] { return pending_; })) return;
      // Appends after this point set pending_ again; the Sync below covers
      // at least everything appended before it.
      pending_ = false;
    }
    if (gather_.count() > 0) std::this_thread::sleep_for(gather_);
    Status s = log_->Sync();
    if (!s.ok()) {
      std::lock_guard<std::mutex> lock(mu_);
      error_ = s;
      return;
    }
  }
}

}  // namespace quipu::cli
