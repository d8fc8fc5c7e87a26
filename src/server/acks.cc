#include "server/acks.h"

#include <boost/asio/associated_executor.hpp>
#include <boost/asio/post.hpp>
#include <chrono>
#include <utility>
#include <vector>

namespace quipu::server {

namespace {

// Waits until `target` is durable in `store` (or the wait fails): causing
// the sync when `syncs`, else watching the policy's own.
Status MakeDurable(AuditStore* store, bool syncs, Lsn target) {
  if (syncs) return store->WaitDurable(target);
  Log* log = store->log();
  Lsn seen = log->DurableLsn();
  while (seen < target) {
    Result<Lsn> moved = log->AwaitDurableAbove(seen, std::chrono::milliseconds(100));
    if (!moved.ok()) return moved.status();
    seen = *moved;
  }
  return Status::OK();
}

}  // namespace

DurableAcks::DurableAcks(AuditStore* store, bool syncs)
    : DurableAcks([store, syncs](Lsn target) { return MakeDurable(store, syncs, target); },
                  [store] { return store->DurableLsn(); }) {}

DurableAcks::DurableAcks(std::function<Status(Lsn)> reach, std::function<Lsn()> watermark)
    : reach_(std::move(reach)), watermark_(std::move(watermark)), acker_([this] { Run(); }) {}

DurableAcks::~DurableAcks() { Stop(); }

void DurableAcks::Complete(Waiter waiter, Status status) {
  auto executor = waiter.executor;
  boost::asio::post(executor,
                    [handler = std::move(waiter.handler), status = std::move(status)]() mutable {
                      std::move(handler)(std::move(status));
                    });
}

void DurableAcks::Add(Lsn lsn, Waiter waiter) {
  std::unique_lock<std::mutex> lock(mu_);
  if (stopping_ || !failed_.ok()) {
    Status s = failed_.ok() ? Status::FailedPrecondition("server is stopping") : failed_;
    lock.unlock();
    Complete(std::move(waiter), std::move(s));
    return;
  }
  waiters_.emplace(lsn, std::move(waiter));
  pending_.fetch_add(1, std::memory_order_relaxed);
  wake_.notify_one();
}

void DurableAcks::Run() {
  std::unique_lock<std::mutex> lock(mu_);
  while (true) {
    wake_.wait(lock, [this] { return stopping_ || !waiters_.empty(); });
    if (waiters_.empty()) return;  // stopping, and everything answered
    const Lsn target = waiters_.rbegin()->first;
    lock.unlock();
    Status s = reach_(target);
    const Lsn durable = watermark_();
    lock.lock();
    std::vector<std::pair<Waiter, Status>> done;
    if (!s.ok()) {
      failed_ = s;
      for (auto& [lsn, waiter] : waiters_) done.emplace_back(std::move(waiter), s);
      waiters_.clear();
    } else {
      auto end = waiters_.upper_bound(durable);
      for (auto it = waiters_.begin(); it != end; ++it) {
        done.emplace_back(std::move(it->second), Status::OK());
      }
      waiters_.erase(waiters_.begin(), end);
    }
    pending_.fetch_sub(done.size(), std::memory_order_relaxed);
    lock.unlock();
    for (auto& [waiter, status] : done) Complete(std::move(waiter), std::move(status));
    lock.lock();
  }
}

void DurableAcks::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  wake_.notify_one();
  if (acker_.joinable()) acker_.join();
}

}  // namespace quipu::server
