// cli/acks.h — the background threads behind the "durable <n>" acks of
// `quipu ingest` and `quipu emit`.
//
//   DurableWatcher  waits on a log's durable watermark and hands every advance
//                   to a callback, which prints the ack.
//   GroupSyncer     under --durability group[:MS] the verbs append without
//                   waiting and this thread calls Sync() whenever appends are
//                   pending, so one fdatasync runs while the next group of
//                   input lines is appended (pipelined group commit).
#ifndef QUIPU_CLI_ACKS_H_
#define QUIPU_CLI_ACKS_H_

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <stop_token>
#include <thread>

#include "quipu/log.h"
#include "quipu/status.h"

namespace quipu::cli {

class DurableWatcher {
 public:
  // Starts the thread. `on_durable` is called from it with each new
  // watermark, in increasing order; an error it returns stops the thread.
  DurableWatcher(Log* log, std::function<Status(Lsn)> on_durable);

  // Stops the thread (within one wait) and returns the error that ended it
  // early, if any.
  Status Stop();

 private:
  void Loop(std::stop_token stop);

  Log* log_;
  std::function<Status(Lsn)> on_durable_;
  // The watermark when the watcher was made. Read here and not by the thread:
  // a thread that starts late would take records made durable meanwhile as
  // already reported and never report them.
  Lsn reported_;
  Status error_;         // written by the thread, read after join
  std::jthread thread_;  // last: starts once the members above exist
};

class GroupSyncer {
 public:
  // Starts the thread; `gather` is slept before each Sync() to let more
  // appends join the group (group:MS).
  GroupSyncer(Log* log, std::chrono::microseconds gather);

  // Tells the syncer that appends are pending.
  void Poke();
  // True once a Sync() failed; the caller should stop appending.
  bool failed();
  // Stops the thread; the caller makes the final sync. Returns the sync error, if any.
  Status Stop();

 private:
  void Loop(std::stop_token stop);

  Log* log_;
  std::chrono::microseconds gather_;
  std::mutex mu_;
  std::condition_variable_any cv_;
  bool pending_ = false;  // guarded by mu_
  Status error_;          // guarded by mu_
  std::jthread thread_;   // last: starts once the members above exist
};

}  // namespace quipu::cli

#endif  // QUIPU_CLI_ACKS_H_
