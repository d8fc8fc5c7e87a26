// cli/anchor.h — the --anchor-cmd hook: hands each checkpoint to a shell
// command (which might mail it, post it to a transparency service, or commit
// it to a repository the store's operator cannot rewrite).
#ifndef QUIPU_CLI_ANCHOR_H_
#define QUIPU_CLI_ANCHOR_H_

#include <CLI/CLI.hpp>
#include <chrono>
#include <string>

#include "quipu/status.h"

namespace quipu::cli {

// How long an anchor command may run before it is killed and counted as failed.
inline constexpr std::chrono::seconds kAnchorTimeout{30};

// Runs `/bin/sh -c command` with `json` and a newline on its stdin and its
// stdout sent to our stderr (so it cannot disturb a verb's own output).
// OK iff it exits 0 within `timeout`; otherwise an IOError saying how it
// failed. The child is killed (SIGKILL) on timeout. Thread safe.
Status RunAnchorCommand(const std::string& command, const std::string& json,
                        std::chrono::milliseconds timeout = kAnchorTimeout);

// Adds `--anchor-cmd CMD` to `verb`, stored in `*command`.
void AddAnchorFlag(CLI::App* verb, std::string* command);

}  // namespace quipu::cli

#endif  // QUIPU_CLI_ANCHOR_H_
