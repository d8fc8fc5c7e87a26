// server/acks.h — durable acknowledgements without a thread per request.
//
// A request that writes appends its record without waiting (kBuffered) and
// then asks DurableAcks to complete it once the record is durable. One
// thread, the acker, serves every waiting request: it makes durable
// everything appended up to the highest LSN waited for (one fdatasync
// through AuditStore::WaitDurable, joined by the log's group commit) and
// completes every waiter at or below the new watermark. Requests that arrive
// while that sync runs are covered by the next one, so under load one
// fdatasync acknowledges a whole batch of requests.
//
// Policies that sync by themselves (EveryNOrInterval) are only watched: the
// acker waits for the watermark (Log::AwaitDurableAbove) and causes no sync.
//
// The same machinery answers from any watermark: a replicated writer's
// second one is the group's committed head (replication/replica.h).
//
// Failure: when the wait fails (a failed fdatasync poisons the log) every
// pending waiter, and every later one, completes with that error.
//
// Completions run on each waiter's own executor (its connection's strand),
// never on the acker thread. The execution contexts of those executors must
// outlive the DurableAcks (or its Stop()): the acker may hold a waiter's
// executor for a moment after posting its completion.
#ifndef QUIPU_SERVER_ACKS_H_
#define QUIPU_SERVER_ACKS_H_

#include <atomic>
#include <boost/asio/any_completion_handler.hpp>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <thread>

#include "quipu/audit.h"
#include "quipu/status.h"

namespace quipu::server {

class DurableAcks {
 public:
  // `syncs`: cause the syncs (Always, GroupCommit) rather than wait for the
  // policy's own. The store must outlive this object.
  DurableAcks(AuditStore* store, bool syncs);
  // Over another watermark: `reach(target)` returns once `watermark()` has
  // moved towards target, or reached it (or with the error that makes it
  // impossible); waiters at or below the watermark are then answered.
  DurableAcks(std::function<Status(Lsn target)> reach, std::function<Lsn()> watermark);
  ~DurableAcks();  // Stop()s
  DurableAcks(const DurableAcks&) = delete;
  DurableAcks& operator=(const DurableAcks&) = delete;

  // Completes with OK once `lsn` is durable, or with the error that made it
  // impossible. Usable with boost::asio::use_awaitable.
  template <typename Token>
  auto AsyncWait(Lsn lsn, Token&& token) {
    return boost::asio::async_initiate<Token, void(Status)>(
        [this, lsn](auto handler) {
          // Completions go back to the waiter's own executor (its strand).
          auto executor = boost::asio::get_associated_executor(handler);
          Add(lsn, Waiter{std::move(executor), Handler(std::move(handler))});
        },
        token);
  }

  // Requests waiting now.
  size_t Pending() const { return pending_.load(std::memory_order_relaxed); }

  // Completes every waiter (making their records durable first) and stops
  // the acker. Later waits complete at once with FailedPrecondition.
  void Stop();

 private:
  using Handler = boost::asio::any_completion_handler<void(Status)>;
  struct Waiter {
    boost::asio::any_io_executor executor;
    Handler handler;
  };

  void Add(Lsn lsn, Waiter waiter);
  void Run();
  static void Complete(Waiter waiter, Status status);

  const std::function<Status(Lsn)> reach_;
  const std::function<Lsn()> watermark_;
  std::atomic<size_t> pending_{0};
  std::mutex mu_;
  std::condition_variable wake_;
  // --- guarded by mu_ ---
  std::multimap<Lsn, Waiter> waiters_;
  Status failed_;
  bool stopping_ = false;
  // ---
  std::thread acker_;
};

}  // namespace quipu::server

#endif  // QUIPU_SERVER_ACKS_H_
