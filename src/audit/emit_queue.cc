#include "audit/emit_queue.h"

#include <algorithm>

namespace quipu::audit {

bool EmitQueue::Join(EmitSlot* slot) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    queue_.push_back(slot);
    if (gathering_ && queue_.size() >= gather_to_) arrived_.notify_one();
    if (queue_.size() == 1) return true;
  }
  // The word moves exactly once, so a wake before this sleep is not missed:
  // the futex returns at once when the word no longer reads 0.
  while (slot->word_.Load() == 0) slot->word_.WaitWhileEquals(0);
  return slot->leads_;
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
  if (next != nullptr) Wake(next, /*leads=*/true);
}

void EmitQueue::Finish(EmitSlot* slot) { Wake(slot, /*leads=*/false); }

void EmitQueue::Wake(EmitSlot* slot, bool leads) {
  slot->leads_ = leads;
  // After this the owner may return and its slot be gone.
  slot->word_.BumpAndWakeAll();
}

}  // namespace quipu::audit
