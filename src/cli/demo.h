// cli/demo.h — the parts of `quipu demo` split across files.
#ifndef QUIPU_CLI_DEMO_H_
#define QUIPU_CLI_DEMO_H_

#include <string>

#include "cli/common.h"
#include "quipu/status.h"

namespace quipu::cli {

// The audit store under group commit: `writers` threads emit `events`
// events (a target renamed half way), then a query by the old name, the
// Merkle root and a checked inclusion proof. Creates the store at `dir`,
// which the caller has checked holds no records.
Status RunAuditDemo(const std::string& dir, int writers, uint64_t events, FdWriter* out);

}  // namespace quipu::cli

#endif  // QUIPU_CLI_DEMO_H_
