// cli/retention_flags.h — the retention policy on the command line, shared
// by `quipu retain` and `quipu serve`.
//
// --max-age takes a count and a unit: s, m, h or d ("400d"). --max-bytes
// takes a count and an optional binary unit: K, M, G or T, KiB and so on
// ("50G" is 50 GiB). Anything else is a usage error naming the option.
#ifndef QUIPU_CLI_RETENTION_FLAGS_H_
#define QUIPU_CLI_RETENTION_FLAGS_H_

#include <CLI/CLI.hpp>
#include <string>

#include "quipu/audit.h"

namespace quipu::cli {

struct RetentionFlags {
  std::string max_age;
  std::string max_bytes;

  bool empty() const { return max_age.empty() && max_bytes.empty(); }
  // The policy the flags name (the flags passed their checks at parse time).
  RetentionPolicy Policy() const;
};

// Adds the two flags, named `prefix` + "max-age" and `prefix` + "max-bytes".
void AddRetentionFlags(CLI::App* verb, RetentionFlags* flags, const std::string& prefix = "--");

}  // namespace quipu::cli

#endif  // QUIPU_CLI_RETENTION_FLAGS_H_
