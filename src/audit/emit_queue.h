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
// two groups that take turns, K / 2 events per fdatasync. A follower sleeps
// on its own futex word until its leader sets its result (one wake-up per
// event), or until it becomes the head itself.
//
// Without the queue every Emit took the writer mutex on its own: with dozens
// of writers on two cores, a lock hand-off (futex wait, wake, context switch)
// per event cost more CPU than writing the event (docs/performance.md).
#ifndef QUIPU_AUDIT_EMIT_QUEUE_H_
#define QUIPU_AUDIT_EMIT_QUEUE_H_

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <mutex>
#include <optional>
#include <vector>

#include "audit/record.h"
#include "quipu/audit.h"
#include "util/wait_word.h"

namespace quipu::audit {

// One Emit's place in the queue. It lives on the emitting thread's stack:
// once a leader has woken its owner (Finish), nobody else touches it.
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
  WaitWord word_;       // moves once: the owner leads now, or is finished
  bool leads_ = false;  // written before word_ moves
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

  // Wakes the owner of a slot whose result is final. Not for the leader's own.
  static void Finish(EmitSlot* slot);

 private:
  static void Wake(EmitSlot* slot, bool leads);

  std::mutex mu_;
  std::condition_variable arrived_;  // a slot was queued while a leader gathers
  // --- guarded by mu_ ---
  std::deque<EmitSlot*> queue_;
  size_t gather_to_ = 0;  // queue length the next Batch waits for (0: none)
  std::chrono::steady_clock::time_point gather_until_;
  bool gathering_ = false;
};

}  // namespace quipu::audit

#endif  // QUIPU_AUDIT_EMIT_QUEUE_H_
