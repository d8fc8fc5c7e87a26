// The Emit queue on its own: one leader at a time, every slot answered once,
// by its own leader, whatever the batch sizes and wake-ups.
#include "audit/emit_queue.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <random>
#include <thread>
#include <vector>

#include "quipu/audit_types.h"

namespace quipu::audit {
namespace {

// More writers than the 31 bits of a group's mask, so bits are shared, and
// enough rounds that the four group words wrap many times over.
TEST(EmitQueueTest, ConcurrentJoinersEachGetTheAnswerTheirLeaderSet) {
  constexpr int kThreads = 48;
  constexpr int kPerThread = 400;
  EmitQueue queue;
  std::atomic<int> leading{0};
  std::atomic<int> batches{0};
  std::atomic<int> answered_by_others{0};
  const Event event;
  const char* given = std::getenv("QUIPU_SEED");
  const uint32_t seed = given != nullptr ? static_cast<uint32_t>(std::strtoul(given, nullptr, 10))
                                         : std::random_device{}();
  std::printf("seed %u (QUIPU_SEED=%u repeats the leaders' choices)\n", seed, seed);

  std::atomic<bool> go{false};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      std::mt19937 rng(seed + static_cast<uint32_t>(t));
      while (!go.load()) std::this_thread::yield();
      for (int i = 0; i < kPerThread; ++i) {
        EmitSlot slot(event, Durability::kPolicy);
        const uint64_t mine = static_cast<uint64_t>(t) << 32 | static_cast<uint32_t>(i);
        slot.wait_for = mine;
        if (!queue.Join(&slot)) {
          // A leader answered, with this slot's own id, before the wake-up.
          ASSERT_TRUE(slot.result.ok());
          ASSERT_EQ(slot.result->log_id, mine);
          answered_by_others.fetch_add(1, std::memory_order_relaxed);
          continue;
        }
        ASSERT_EQ(leading.fetch_add(1), 0) << "two leaders at once";
        // A leader that takes a while lets the others queue up: batches of
        // more than 31 followers, which share bits of the wake-up mask.
        if (rng() % 2 == 0) std::this_thread::sleep_for(std::chrono::microseconds(200));
        const std::vector<EmitSlot*> batch = queue.Batch();
        ASSERT_FALSE(batch.empty());
        ASSERT_EQ(batch[0], &slot) << "the leader's own slot comes first";
        // Each writer's answer is the id it queued with (carried in
        // wait_for, which the leader only reads here).
        for (EmitSlot* s : batch) s->result = EmitResult{s->wait_for, 0, 0, false};
        std::vector<EmitSlot*> followers(batch.begin() + 1, batch.end());
        batches.fetch_add(1);
        ASSERT_EQ(leading.fetch_sub(1), 1);
        // Sometimes the head passes before its followers have their answers
        // (the durable case), sometimes after, sometimes with patience.
        switch (rng() % 3) {
          case 0:
            queue.PassLead(batch.size());
            if (!followers.empty()) queue.Finish(followers);
            break;
          case 1:
            if (!followers.empty()) queue.Finish(followers);
            queue.PassLead(batch.size());
            break;
          default:
            queue.PassLead(batch.size(), followers.size() + 1, std::chrono::microseconds(200));
            if (!followers.empty()) queue.Finish(followers);
            break;
        }
      }
    });
  }
  go.store(true);
  for (auto& th : threads) th.join();
  std::printf("%d events in %d batches\n", kThreads * kPerThread, batches.load());
  EXPECT_GT(answered_by_others.load(), 0);
  EXPECT_EQ(batches.load() + answered_by_others.load(), kThreads * kPerThread);
}

}  // namespace
}  // namespace quipu::audit
