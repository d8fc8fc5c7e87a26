// log/write_queue.h — blocking appenders that join one group, led by one of them.
//
// Under Always and GroupCommit every Append waits for an fdatasync. With K
// writers, appending one record each under the log mutex made the writers
// one sync released all queue up on that mutex again at once; on two cores
// a holder preempted inside its few microseconds stalled the rest, and each
// such stall cost a sleep and a wake-up more per record. Here a writer joins
// a lock-free list instead (one compare-and-swap) and sleeps on its own word.
// The first writer to find the list empty is the leader: it takes every
// writer listed so far, appends all their records under one hold of the
// mutex, syncs once, hands the lead to the oldest writer that joined
// meanwhile, and then tells each writer of its group its result. (LevelDB's
// and RocksDB's write paths have this shape.)
//
// Gathering: the writers one sync released come back within microseconds.
// A leader that formed its group at once would sync a few of them and leave
// the rest to the next sync, so the group waits, at most a quarter of the
// last sync's time, until as many writers have joined as were in the last
// group (it ends as soon as they have).
//
// Lifetimes: a Writer lives on its appender's stack until its word moves;
// the leader reads nothing of a group member after moving that member's word.
#ifndef QUIPU_LOG_WRITE_QUEUE_H_
#define QUIPU_LOG_WRITE_QUEUE_H_

#include <atomic>
#include <chrono>
#include <cstdint>
#include <string_view>
#include <vector>

#include "quipu/log.h"
#include "quipu/status.h"
#include "util/wait_word.h"

namespace quipu {

class WriteQueue {
 public:
  struct Writer {
    std::string_view payload;
    uint32_t partial_crc = 0;
    // Set by the leader before it moves `done`:
    Status status;
    Lsn lsn = 0;
    bool lead = false;  // not done: this writer leads the next group
    // The leader's bookkeeping while it appends the group:
    size_t epoch = 0;
    bool appended = false;

    Writer* older = nullptr;  // the writer that joined before this one
    WaitWord done;            // moves once: result set, or the lead handed over
  };

  // Adds `w` to the list. Returns true when `w` leads: at once if the list
  // was empty, or once the lead is handed to it. Returns false once the
  // leader of its group has set its result.
  bool Join(Writer* w);

  // As leader: waits (without locks) until `expected` writers are listed,
  // for at most `cap`; then takes every writer listed, oldest first, into
  // `group` (the leader first).
  void TakeGroup(Writer* leader, int expected, std::chrono::nanoseconds cap,
                 std::vector<Writer*>* group);

  // As leader, once the group is appended and synced: hands the lead to the
  // oldest writer that joined after the group (if any), then sets every
  // other member's word. Each member's result must be set before.
  void Finish(const std::vector<Writer*>& group);

  // Writers joined and not yet taken into a group.
  int Listed() const { return listed_.load(std::memory_order_relaxed); }

 private:
  std::atomic<Writer*> newest_{nullptr};
  std::atomic<int> listed_{0};         // writers joined and not yet taken
  std::atomic<int> gather_target_{0};  // > 0 while a leader gathers
  WaitWord arrivals_;                  // moved when the gathering target is reached
};

}  // namespace quipu

#endif  // QUIPU_LOG_WRITE_QUEUE_H_
