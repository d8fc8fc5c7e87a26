// DurableAcks (server/acks.h): waiters parked on many strands are answered
// only once their records are durable, share fdatasyncs, and all learn of a
// failed sync; none is answered on the acker's own thread.
#include "server/acks.h"

#include <gtest/gtest.h>

#include <atomic>
#include <boost/asio/bind_executor.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <thread>
#include <vector>

#include "io/fault_env.h"
#include "quipu/audit.h"
#include "test_dir.h"

namespace quipu::server {
namespace {

namespace asio = boost::asio;

class AcksTest : public ::testing::Test {
 protected:
  AcksTest() : fault_(Env::Default()) {}

  std::unique_ptr<AuditStore> OpenStore() {
    AuditOptions options;
    options.log.env = &fault_;
    options.log.durability = DurabilityPolicy::GroupCommit();
    auto store = AuditStore::Open(dir_.log(), options);
    EXPECT_TRUE(store.ok()) << store.status().ToString();
    return std::move(*store);
  }

  static Event AnEvent(int i) {
    Event event;
    event.actor = {"default_actor", "a" + std::to_string(i % 7), {}};
    event.method = "m" + std::to_string(i);
    return event;
  }

  // Runs `n` writers, each on its own strand of a 2-thread io_context: emit
  // without waiting, then wait for the ack. Returns how many were answered
  // OK with their record durable, and counts the others in `*failed`.
  // `io` must outlive `acks`: the acker thread may still hold a waiter's
  // executor for a moment after its answer ran.
  int RunWriters(asio::io_context& io, AuditStore* store, DurableAcks* acks, int n, int* failed) {
    std::atomic<int> ok{0}, bad{0};
    for (int i = 0; i < n; ++i) {
      asio::co_spawn(
          asio::make_strand(io),
          [&, i]() -> asio::awaitable<void> {
            auto emitted = store->Emit(AnEvent(i), Durability::kBuffered);
            if (!emitted.ok()) {
              bad++;
              co_return;
            }
            Status s = co_await acks->AsyncWait(emitted->lsn, asio::use_awaitable);
            if (s.ok() && store->DurableLsn() >= emitted->lsn) {
              ok++;
            } else {
              bad++;
            }
          },
          asio::detached);
    }
    std::thread second([&io] { io.run(); });
    io.run();
    second.join();
    *failed = bad.load();
    return ok.load();
  }

  testing::TestDir dir_;
  FaultEnv fault_;
};

TEST_F(AcksTest, ConcurrentWaitersAreAnsweredWhenDurableAndShareSyncs) {
  auto store = OpenStore();
  fault_.ResetCounters();
  int failed = 0;
  asio::io_context io(2);
  {
    DurableAcks acks(store.get(), /*syncs=*/true);
    EXPECT_EQ(RunWriters(io, store.get(), &acks, 400, &failed), 400);
    EXPECT_EQ(acks.Pending(), 0u);
  }
  EXPECT_EQ(failed, 0);
  // One fdatasync answers every waiter that arrived before it began.
  EXPECT_LT(fault_.SyncCount(), 400u);
  EXPECT_TRUE(store->Close().ok());
}

TEST_F(AcksTest, ConcurrentWaitersAllLearnOfAFailedSync) {
  auto store = OpenStore();
  fault_.FailSyncs(1000);
  int failed = 0;
  asio::io_context io(2);
  asio::io_context late_io;
  {
    DurableAcks acks(store.get(), /*syncs=*/true);
    EXPECT_EQ(RunWriters(io, store.get(), &acks, 50, &failed), 0);
    // A waiter that comes after the failure is answered at once with it.
    Status late;
    asio::co_spawn(
        late_io,
        [&]() -> asio::awaitable<void> { late = co_await acks.AsyncWait(1, asio::use_awaitable); },
        asio::detached);
    late_io.run();
    EXPECT_FALSE(late.ok());
  }
  EXPECT_EQ(failed, 50);
  EXPECT_EQ(fault_.RetriedFailedSyncs(), 0u);
  (void)store->Close();
}

TEST_F(AcksTest, StopMakesPendingRecordsDurableBeforeAnswering) {
  auto store = OpenStore();
  asio::io_context io;
  std::vector<Status> answers;
  auto acks = std::make_unique<DurableAcks>(store.get(), /*syncs=*/true);
  Lsn last = 0;
  for (int i = 0; i < 20; ++i) {
    auto emitted = store->Emit(AnEvent(i), Durability::kBuffered);
    ASSERT_TRUE(emitted.ok());
    last = emitted->lsn;
    // Answers are posted to io's executor, so they run below, on this thread.
    acks->AsyncWait(emitted->lsn, asio::bind_executor(io.get_executor(), [&answers](Status s) {
                      answers.push_back(s);
                    }));
  }
  acks->Stop();
  EXPECT_GE(store->DurableLsn(), last);
  EXPECT_TRUE(answers.empty());
  io.run();
  EXPECT_EQ(answers.size(), 20u);
  for (const Status& s : answers) EXPECT_TRUE(s.ok()) << s.ToString();
  EXPECT_TRUE(store->Close().ok());
}

}  // namespace
}  // namespace quipu::server
