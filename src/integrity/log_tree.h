// integrity/log_tree.h — opening the tree of a log, for Log::Open and tests.
//
// The public LogTree (quipu/tree.h) has no Open and no Close: a Log opens
// and closes its own tree, so no two trees ever follow one log and none can
// be closed under it. This header is the door for the code that does that
// (integrity/tree_keeping_log.cc) and for tests of the tree over a bare log
// engine (log/engine.h).
#ifndef QUIPU_INTEGRITY_LOG_TREE_H_
#define QUIPU_INTEGRITY_LOG_TREE_H_

#include <functional>
#include <memory>
#include <string>

#include "quipu/env.h"
#include "quipu/log.h"
#include "quipu/tree.h"

namespace quipu {

class OwnedLogTree : public LogTree {
 public:
  // Stops the follower, syncs the spine up to the log's DurableLsn() and
  // releases the files. Leaves the follower has not reached are hashed by
  // the next open. Returns the first error; later calls FailedPrecondition.
  virtual Status Close() = 0;
  // Hashes the records up to the log's DurableLsn(), syncs the spine over
  // them and returns how many leaves it now vouches for: what a purge needs
  // before the segments of those records go.
  virtual Result<uint64_t> SyncThroughDurable() = 0;
};

// Opens (creating if missing) the spine of `log`, whose directory is `dir`,
// with files through `env`; checks it against the recovered log and starts
// the follower. Open it right after the log, before appending.
// `on_fatal` (may be empty) hears, once, the error that stops the tree from
// following the log (a failed spine fdatasync, a record it cannot read): the
// owner poisons the log with it. It runs on the thread that hit the error.
Result<std::unique_ptr<OwnedLogTree>> OpenLogTree(Log* log, const std::string& dir, Env* env,
                                                  const TreeOptions& options,
                                                  std::function<void(const Status&)> on_fatal);

}  // namespace quipu

#endif  // QUIPU_INTEGRITY_LOG_TREE_H_
