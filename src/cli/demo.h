// cli/demo.h — the parts of `quipu demo` split across files.
#ifndef QUIPU_CLI_DEMO_H_
#define QUIPU_CLI_DEMO_H_

#include <string>

#include "cli/common.h"
#include "quipu/status.h"

namespace quipu::cli {

// Empties `dir` from an earlier run. A mistyped --dir must not cost the user
// data, so anything a log does not hold makes it refuse instead.
Status RemoveOldLog(const std::string& dir);

// The audit store under group commit: `writers` threads emit `events`
// events (a target renamed half way), then a query by the old name, the
// Merkle root and a checked inclusion proof. Recreates `dir`.
Status RunAuditDemo(const std::string& dir, int writers, uint64_t events, FdWriter* out);

}  // namespace quipu::cli

#endif  // QUIPU_CLI_DEMO_H_
