// cli/key_flags.h — where a verb finds the master keys of protected fields
// (quipu/keys.h): --key-file PATH or --key-cmd COMMAND, or else the
// environment's QUIPU_KEY_FILE / QUIPU_KEY_CMD. Without any, a store opens
// without keys: encrypted values print as {"encrypted": true}.
#ifndef QUIPU_CLI_KEY_FLAGS_H_
#define QUIPU_CLI_KEY_FLAGS_H_

#include <CLI/CLI.hpp>
#include <memory>

#include "quipu/keys.h"
#include "quipu/status.h"

namespace quipu::cli {

// Adds --key-file and --key-cmd to `verb` (one process runs one verb, so
// they fill one process-wide setting).
void AddKeyFlags(CLI::App* verb);

// The master keys the command line or the environment names; null when
// none is named.
Result<std::shared_ptr<const MasterKeys>> LoadKeys();

// The key file the command line or the environment names ("" if none).
std::string KeyFilePath();

}  // namespace quipu::cli

#endif  // QUIPU_CLI_KEY_FLAGS_H_
