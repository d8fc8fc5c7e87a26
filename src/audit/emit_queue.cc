#include "audit/emit_queue.h"

#include <algorithm>

namespace quipu::audit {

bool EmitQueue::Join(EmitSlot* slot) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    queue_.push_back(slot);
    slot->group_ = group_;
    // Bit 31 is the group-wide one; slots 31 apart share a bit, and a wake-up
    // meant for one of them returns the other to look again.
    slot->bit_ = 1u << (group_members_++ % 31);
    if (gathering_ && queue_.size() >= gather_to_) arrived_.notify_one();
    if (queue_.size() == 1) return true;
  }
  // The state moves before the word does, so a wake-up between the look at
  // the state and the sleep is not missed: the futex returns at once when
  // the word no longer reads what was seen.
  WaitWord& word = WordOf(slot);
  for (;;) {
    const uint32_t seen = word.Load();
    const uint32_t state = slot->state_.load(std::memory_order_acquire);
    if (state != EmitSlot::kQueued) return state == EmitSlot::kLeads;
    word.WaitWhileEqualsMasked(seen, slot->bit_ | kEveryone);
  }
}

std::vector<EmitSlot*> EmitQueue::Batch() {
  std::unique_lock<std::mutex> lock(mu_);
  if (gather_to_ > 0) {
    gathering_ = true;
    while (queue_.size() < gather_to_ && std::chrono::steady_clock::now() < gather_until_) {
      arrived_.wait_until(lock, gather_until_);
    }
    gathering_ = false;
    gather_to_ = 0;
  }
  const size_t n = std::min(queue_.size(), kMaxBatch);
  ++group_;
  group_members_ = 0;
  return std::vector<EmitSlot*>(queue_.begin(), queue_.begin() + static_cast<ptrdiff_t>(n));
}

void EmitQueue::PassLead(size_t n, size_t returning, std::chrono::steady_clock::duration patience) {
  EmitSlot* next = nullptr;
  {
    std::lock_guard<std::mutex> lock(mu_);
    queue_.erase(queue_.begin(), queue_.begin() + static_cast<ptrdiff_t>(n));
    if (returning > 0 && patience.count() > 0) {
      gather_to_ = std::min(queue_.size() + returning, kMaxBatch);
      gather_until_ = std::chrono::steady_clock::now() + patience;
    }
    if (!queue_.empty()) next = queue_.front();
  }
  // Outside mu_: nothing can take `next` off the queue but its own leading.
  if (next == nullptr) return;
  WaitWord& word = WordOf(next);
  const uint32_t bit = next->bit_;
  next->state_.store(EmitSlot::kLeads, std::memory_order_release);
  word.BumpAndWakeMatching(bit);
}

void EmitQueue::Finish(const std::vector<EmitSlot*>& slots) {
  // The groups are read before the states move: a finished owner may return
  // at once, and its slot be gone.
  uint32_t groups = 0;  // bit g: words_[g] has an owner to wake
  for (EmitSlot* slot : slots) {
    groups |= 1u << (slot->group_ % kGroupWords);
    slot->state_.store(EmitSlot::kFinished, std::memory_order_release);
  }
  for (uint32_t g = 0; g < kGroupWords; ++g) {
    if ((groups & (1u << g)) != 0) words_[g].BumpAndWakeMatching(kEveryone);
  }
}

}  // namespace quipu::audit
