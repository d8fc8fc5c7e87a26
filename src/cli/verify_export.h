// cli/verify_export.h — `quipu verify-proof --export FILE`: an export made
// with --with-proofs, checked line by line against a trusted root, with no
// store (docs/integrity.md, "Checking an export").
#ifndef QUIPU_CLI_VERIFY_EXPORT_H_
#define QUIPU_CLI_VERIFY_EXPORT_H_

#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "quipu/merkle.h"
#include "quipu/status.h"

namespace quipu::cli {

// A root the caller trusts, with the tree size it belongs to when known.
struct Trusted {
  merkle::Hash root;
  std::optional<uint64_t> size;
  std::string source;  // for the report: "--root" or "signed checkpoint (...)"
};

// The trusted root for a tree of `size` records.
using TrustedFor = std::function<Result<Trusted>(uint64_t size)>;

// Checks every record line of the export at `path` ('-': stdin):
//   - its proof puts the leaf hash of its bytes ("record") at its LSN in
//     the tree of the header's size under the trusted root;
//   - what the line says is what the bytes say (AuditRecordReader): the
//     schema of a type line, the column of a column line, and the row of an
//     event line with the fields of every version that event wrote; the
//     fields of a version an earlier event wrote are checked on that
//     event's line;
//   - LSNs rise, and a header that claims a complete export has every LSN
//     from 1 to its size, so no record was left out.
// Returns the report to print; Corruption naming the line at the first
// failure, InvalidArgument for lines that are not an export's.
Result<std::string> VerifyExport(const std::string& path, const TrustedFor& trusted);

}  // namespace quipu::cli

#endif  // QUIPU_CLI_VERIFY_EXPORT_H_
