// log/engine.h — the log without its Merkle tree.
//
// Log::Open (integrity/tree_keeping_log.cc) opens this engine and the tree
// that follows it, and hands out both as one Log. The bare engine is for
// code below the integrity layer and for tests that measure or drill the
// engine alone; its tree() is nullptr. Everything else opens logs through
// Log::Open, so no writer appends records its tree does not follow.
#ifndef QUIPU_LOG_ENGINE_H_
#define QUIPU_LOG_ENGINE_H_

#include <functional>
#include <memory>
#include <string>

#include "quipu/log.h"
#include "quipu/options.h"

namespace quipu {

// Runs, under the log's lock, before LogOptions::discard_after cuts
// anything, with the LSN the log will end at: the tree lowers its synced
// claim there first (a crash between the two then leaves a spine that
// claims no record the log lacks). An error stops the cut and the Open.
using BeforeDiscard = std::function<Status(Lsn keep)>;

// As Log::Open, without the tree (LogOptions::tree is ignored).
Result<std::unique_ptr<Log>> OpenLogEngine(const std::string& dir, const LogOptions& options,
                                           BeforeDiscard before_discard = {});

}  // namespace quipu

#endif  // QUIPU_LOG_ENGINE_H_
