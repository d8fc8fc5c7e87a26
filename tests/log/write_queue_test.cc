// The write queue on its own: every writer hears once, groups partition the
// writers in join order, and a leader gathers until its group is whole or
// its time is up.
#include "log/write_queue.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

namespace quipu {
namespace {

using std::chrono::milliseconds;
using Writer = WriteQueue::Writer;

// Leads one group: numbers its members in order (the LSNs of a log).
void LeadNumbering(WriteQueue* queue, Writer* leader, Lsn* next, std::vector<size_t>* sizes) {
  std::vector<Writer*> group;
  queue->TakeGroup(leader, 0, std::chrono::nanoseconds::zero(), &group);
  EXPECT_EQ(group.front(), leader);
  std::this_thread::sleep_for(std::chrono::microseconds(50));  // others join meanwhile
  for (Writer* w : group) w->lsn = (*next)++;
  sizes->push_back(group.size());
  queue->Finish(group);
}

TEST(WriteQueueTest, EveryWriterHearsOnceAndGroupsTakeWritersInJoinOrder) {
  WriteQueue queue;
  Lsn next = 1;               // leaders only: one leads at a time
  std::vector<size_t> sizes;  // likewise
  constexpr int kThreads = 8;
  constexpr int kEach = 500;
  std::vector<std::vector<Lsn>> heard(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kEach; ++i) {
        Writer self;
        if (queue.Join(&self)) LeadNumbering(&queue, &self, &next, &sizes);
        heard[t].push_back(self.lsn);
      }
    });
  }
  for (auto& th : threads) th.join();
  std::vector<Lsn> all;
  for (const auto& mine : heard) {
    // A writer's own records keep its order.
    EXPECT_TRUE(std::is_sorted(mine.begin(), mine.end()));
    all.insert(all.end(), mine.begin(), mine.end());
  }
  std::sort(all.begin(), all.end());
  ASSERT_EQ(all.size(), static_cast<size_t>(kThreads * kEach));
  for (size_t i = 0; i < all.size(); ++i) ASSERT_EQ(all[i], i + 1) << "each LSN heard once";
  EXPECT_GT(*std::max_element(sizes.begin(), sizes.end()), 1u) << "writers were grouped";
  EXPECT_EQ(queue.Listed(), 0);
}

TEST(WriteQueueTest, ALeaderGathersUntilTheExpectedWritersHaveJoined) {
  WriteQueue queue;
  Writer leader;
  ASSERT_TRUE(queue.Join(&leader));
  std::vector<std::thread> late;
  std::vector<Writer> writers(2);
  for (Writer& w : writers) {
    late.emplace_back([&queue, &w] {
      std::this_thread::sleep_for(milliseconds(20));
      EXPECT_FALSE(queue.Join(&w));
      EXPECT_FALSE(w.lead);
    });
  }
  const auto start = std::chrono::steady_clock::now();
  std::vector<Writer*> group;
  queue.TakeGroup(&leader, 3, std::chrono::seconds(20), &group);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(10))
      << "the group was whole long before the cap";
  ASSERT_EQ(group.size(), 3u);
  EXPECT_EQ(group[0], &leader);
  queue.Finish(group);
  for (auto& th : late) th.join();
}

TEST(WriteQueueTest, GatheringEndsAtItsCapWithWhoeverCame) {
  WriteQueue queue;
  Writer leader;
  ASSERT_TRUE(queue.Join(&leader));
  const auto start = std::chrono::steady_clock::now();
  std::vector<Writer*> group;
  queue.TakeGroup(&leader, 4, milliseconds(30), &group);
  EXPECT_GE(std::chrono::steady_clock::now() - start, milliseconds(29));
  ASSERT_EQ(group.size(), 1u);
  queue.Finish(group);
}

TEST(WriteQueueTest, AWriterJoiningDuringTheGroupLeadsTheNextOne) {
  WriteQueue queue;
  Writer first;
  ASSERT_TRUE(queue.Join(&first));
  std::vector<Writer*> group;
  queue.TakeGroup(&first, 0, std::chrono::nanoseconds::zero(), &group);
  Writer second;
  std::atomic<bool> second_leads{false};
  std::thread joiner([&] { second_leads = queue.Join(&second); });
  while (queue.Listed() == 0) std::this_thread::yield();
  queue.Finish(group);  // hands the lead on
  joiner.join();
  EXPECT_TRUE(second_leads.load());
  group.clear();
  queue.TakeGroup(&second, 0, std::chrono::nanoseconds::zero(), &group);
  EXPECT_EQ(group, std::vector<Writer*>{&second});
  queue.Finish(group);
  Writer third;
  EXPECT_TRUE(queue.Join(&third)) << "the list emptied: the next writer leads at once";
  group.clear();
  queue.TakeGroup(&third, 0, std::chrono::nanoseconds::zero(), &group);
  queue.Finish(group);
}

}  // namespace
}  // namespace quipu
