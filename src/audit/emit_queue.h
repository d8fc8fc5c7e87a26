// audit/emit_queue.h — concurrent Emits take turns as batches.
//
// Each Emit joins a FIFO queue. The one at the head leads: it writes every
// event queued so far (its own first) in one hold of the store's writer
// mutex, hands the head to whoever queued behind the batch, and only then
// waits for the batch's durability — so the next leader builds and appends
// A leader whose events must be durable keeps the head until they are: the
// next batch then holds everyone who queued during the fdatasync. The writers
// that sync releases come back within microseconds, so the next leader waits
// for them before taking its batch (a quarter of the last wait at most, and
// no longer than it takes them to arrive): otherwise K writers split into
// two groups that take turns, K / 2 events per fdatasync.
//
// Followers sleep by group: the slots queued between two Batch calls share a
// futex word, each with its own bit in the wait mask. The leader that has the
// answers for a batch wakes its whole group with one call, and the next head
// alone with its bit. (A futex call per follower made the leader spend
// longer waking a sync's writers than the sync itself took: with more
// threads than cores, each woken writer ran before the next wake.)
//
// Without the queue every Emit took the writer mutex on its own: with dozens
// of writers on two cores, a lock hand-off (futex wait, wake, context switch)
// per event cost more CPU than writing the event (docs/performance.md).
#ifndef QUIPU_AUDIT_EMIT_QUEUE_H_
#define QUIPU_AUDIT_EMIT_QUEUE_H_

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <mutex>
#include <optional>
#include <vector>

#include "audit/record.h"
#include "quipu/audit.h"
#include "util/wait_word.h"

namespace quipu::audit {

// One Emit's place in the queue. It lives on the emitting thread's stack:
// once a leader has marked it finished, nobody else touches it.
struct EmitSlot {
  EmitSlot(const Event& e, Durability d) : event(&e), durability(d) {}

  const Event* event;
  Durability durability;
  std::optional<IdempotencyRecord> idempotency;  // hashed before joining
  // Set by the leader that writes the event.
  Result<EmitResult> result = Status::FailedPrecondition("event not written");
  Lsn wait_for = 0;  // the LSN that must be durable before the result holds (0: none)

 private:
  friend class EmitQueue;
  enum State : uint32_t { kQueued, kLeads, kFinished };
  std::atomic<uint32_t> state_{kQueued};  // moves once, then the group word moves
  uint32_t group_ = 0;                    // set by Join
  uint32_t bit_ = 0;                      // its bit in the group's wait mask
};

class EmitQueue {
 public:
  static constexpr size_t kMaxBatch = 1024;

  // Queues `slot` and returns once its owner leads (true) or a leader has
  // finished it (false: slot->result holds the answer).
  bool Join(EmitSlot* slot);

  // As leader: the slots to write now, the leader's own first, at most
  // kMaxBatch. They stay queued until PassLead. If the last PassLead said
  // writers are returning, waits (bounded) for them to queue first.
  std::vector<EmitSlot*> Batch();

  // Takes the batch (`n` slots) off the queue and wakes the next head, if
  // any, as the next leader. `returning` writers (those a sync just released)
  // will queue again soon; the next Batch waits up to `patience` for them.
  void PassLead(size_t n, size_t returning = 0, std::chrono::steady_clock::duration patience = {});

  // Wakes the owners of slots whose results are final (not the leader's
  // own), one futex call per group among them.
  void Finish(const std::vector<EmitSlot*>& slots);

 private:
  // Four words, so a group's wake-up reaches only the groups three Batch
  // calls away, a spurious return at worst (the sleeper looks again).
  static constexpr uint32_t kGroupWords = 4;
  static constexpr uint32_t kEveryone = 1u << 31;  // a group-wide wake-up

  WaitWord& WordOf(const EmitSlot* slot) { return words_[slot->group_ % kGroupWords]; }

  std::mutex mu_;
  std::condition_variable arrived_;  // a slot was queued while a leader gathers
  WaitWord words_[kGroupWords];      // followers sleep on their group's word
  // --- guarded by mu_ ---
  std::deque<EmitSlot*> queue_;
  uint32_t group_ = 0;          // the group Join puts a slot in; Batch starts the next
  uint32_t group_members_ = 0;  // slots in group_ so far
  size_t gather_to_ = 0;        // queue length the next Batch waits for (0: none)
  std::chrono::steady_clock::time_point gather_until_;
  bool gathering_ = false;
};

}  // namespace quipu::audit

#endif  // QUIPU_AUDIT_EMIT_QUEUE_H_
