// log/engine.h — the log without its Merkle tree.
//
// Log::Open (integrity/tree_keeping_log.cc) opens this engine and the tree
// that follows it, and hands out both as one Log. The bare engine is for
// code below the integrity layer and for tests that measure or drill the
// engine alone; its tree() is nullptr. Everything else opens logs through
// Log::Open, so no writer appends records its tree does not follow.
#ifndef QUIPU_LOG_ENGINE_H_
#define QUIPU_LOG_ENGINE_H_

#include <memory>
#include <string>

#include "quipu/log.h"
#include "quipu/options.h"

namespace quipu {

// As Log::Open, without the tree (LogOptions::tree is ignored).
Result<std::unique_ptr<Log>> OpenLogEngine(const std::string& dir, const LogOptions& options);

}  // namespace quipu

#endif  // QUIPU_LOG_ENGINE_H_
