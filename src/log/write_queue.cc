// log/write_queue.cc — see write_queue.h.
#include "log/write_queue.h"

#include <algorithm>

namespace quipu {

bool WriteQueue::Join(Writer* w) {
  Writer* head = newest_.load(std::memory_order_relaxed);
  do {
    w->older = head;
  } while (!newest_.compare_exchange_weak(head, w, std::memory_order_acq_rel,
                                          std::memory_order_relaxed));
  // Sequentially consistent with the leader's store of the target and its
  // look at listed_: one of the two sees the other, so a gathering leader
  // is never left waiting for a writer that already came.
  const int listed = listed_.fetch_add(1) + 1;
  const int target = gather_target_.load();
  if (target > 0 && listed >= target) arrivals_.BumpAndWakeAll();
  if (head == nullptr) return true;
  while (w->done.Load() == 0) w->done.WaitWhileEquals(0);
  return w->lead;
}

void WriteQueue::TakeGroup(Writer* leader, int expected, std::chrono::nanoseconds cap,
                           std::vector<Writer*>* group) {
  if (expected > 1 && cap.count() > 0) {
    const auto until = std::chrono::steady_clock::now() + cap;
    gather_target_.store(expected);
    for (;;) {
      const uint32_t seen = arrivals_.Load();
      if (listed_.load() >= expected) break;
      const auto left = until - std::chrono::steady_clock::now();
      if (left <= std::chrono::nanoseconds::zero()) break;
      arrivals_.WaitWhileEqualsFor(seen, left);
    }
    gather_target_.store(0);
  }
  Writer* const last = newest_.load(std::memory_order_acquire);
  group->clear();
  for (Writer* w = last; w != leader; w = w->older) group->push_back(w);
  group->push_back(leader);
  std::reverse(group->begin(), group->end());
  listed_.fetch_sub(static_cast<int>(group->size()));
}

void WriteQueue::Finish(const std::vector<Writer*>& group) {
  Writer* const last = group.back();
  Writer* newest = last;
  // While every member still waits: a member woken first could join again
  // at the same address as `last` and be cut off the list by this exchange.
  if (!newest_.compare_exchange_strong(newest, nullptr, std::memory_order_acq_rel,
                                       std::memory_order_acquire)) {
    // Writers joined after the group was taken: the oldest of them leads
    // next. Only they are walked (they wait, so they are alive); `last` is
    // compared, never read.
    Writer* next = newest;
    while (next->older != last) next = next->older;
    // The lead first, so the next group gathers while these members wake.
    next->lead = true;
    next->done.BumpAndWakeAll();
  }
  for (size_t i = 1; i < group.size(); ++i) group[i]->done.BumpAndWakeAll();
}

}  // namespace quipu
