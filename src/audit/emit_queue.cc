#include "audit/emit_queue.h"

#include <algorithm>

namespace quipu::audit {

bool EmitQueue::Join(EmitSlot* slot) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    queue_.push_back(slot);
    if (queue_.size() == 1) return true;
  }
  // The word moves exactly once, so a wake before this sleep is not missed:
  // the futex returns at once when the word no longer reads 0.
  while (slot->word_.Load() == 0) slot->word_.WaitWhileEquals(0);
  return slot->leads_;
}

std::vector<EmitSlot*> EmitQueue::Batch() {
  std::lock_guard<std::mutex> lock(mu_);
  const size_t n = std::min(queue_.size(), kMaxBatch);
  return std::vector<EmitSlot*>(queue_.begin(), queue_.begin() + static_cast<ptrdiff_t>(n));
}

void EmitQueue::PassLead(size_t n) {
  EmitSlot* next = nullptr;
  {
    std::lock_guard<std::mutex> lock(mu_);
    queue_.erase(queue_.begin(), queue_.begin() + static_cast<ptrdiff_t>(n));
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
