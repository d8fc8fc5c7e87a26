// cli/access.h — recording the CLI's reads in a store's access log.
#ifndef QUIPU_CLI_ACCESS_H_
#define QUIPU_CLI_ACCESS_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "json/input.h"
#include "quipu/status.h"

namespace quipu::cli {

// Records a read of the store in `dir` by this OS user, when the store keeps
// an access log (access/access_log.h); OK and nothing when it does not.
// Call it after the read and before printing anything, so that a read that
// cannot be recorded (the log is held by a server, damaged, on a full disk)
// fails without showing what it read.
Status RecordRead(const std::string& dir, std::string_view verb, const json::OrderedJson& shape,
                  std::optional<uint64_t> rows);

// The access store of `dir`, for verbs given --access: its reads are not
// recorded.
std::string AccessStoreDir(const std::string& dir);

}  // namespace quipu::cli

#endif  // QUIPU_CLI_ACCESS_H_
