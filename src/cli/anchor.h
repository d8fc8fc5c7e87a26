// cli/anchor.h — the --anchor-cmd hook: hands each checkpoint to a shell
// command (which might mail it, post it to a transparency service, or commit
// it to a repository the store's operator cannot rewrite).
#ifndef QUIPU_CLI_ANCHOR_H_
#define QUIPU_CLI_ANCHOR_H_

#include <CLI/CLI.hpp>
#include <chrono>
#include <memory>
#include <string>

#include "quipu/log.h"
#include "quipu/status.h"
#include "quipu/tree.h"

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

// --signing-key and --anchor-cmd of a verb that writes records (ingest, emit).
struct SigningFlags {
  std::string key;         // Ed25519 private key (PEM); empty = no checkpoints
  std::string anchor_cmd;  // needs key
};
void AddSigningFlags(CLI::App* verb, SigningFlags* flags);

// The tree options of a writing verb: with a key, sign a checkpoint at every
// sealed segment, each handed to the anchor command. Background tree,
// checkpoint and anchor failures are warnings on stderr naming `verb` (a
// failure that stops the tree also poisons the log, and so fails the verb).
TreeOptions SigningTreeOptions(const SigningFlags& flags, const std::string& verb);
// With a key, signs what this run appended since the last sealed segment.
// A failure is a warning, as above: the records are durable regardless.
void SignFinalCheckpoint(Log* log, const SigningFlags& flags, const std::string& verb);

}  // namespace quipu::cli

#endif  // QUIPU_CLI_ANCHOR_H_
