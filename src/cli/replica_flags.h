// cli/replica_flags.h — the flags that make `quipu serve` a node of a
// replicated group (docs/replication.md), and restarting the process when
// the node steps down as the group's writer.
#ifndef QUIPU_CLI_REPLICA_FLAGS_H_
#define QUIPU_CLI_REPLICA_FLAGS_H_

#include <CLI/CLI.hpp>
#include <optional>
#include <string>

#include "quipu/status.h"
#include "replication/replica.h"

namespace quipu::cli {

struct ReplicaFlags {
  std::string etcd;  // comma-separated client URLs; empty: a single node
  std::string group = "quipu";
  std::string node;
  std::string advertise;
  std::string peer_token_file;
  uint64_t lease_ttl_seconds = 2;
  uint64_t batch_bytes = 1'000'000;

  // nullopt without --etcd; InvalidArgument for flags that do not fit.
  Result<std::optional<replication::ReplicaOptions>> Options() const;
};

void AddReplicaFlags(CLI::App* verb, ReplicaFlags* flags);

// Keeps the command line, for RestartSelf.
void RememberCommandLine(int argc, char** argv);
// Replaces this process with a new run of the same command line (execv of
// /proc/self/exe); returns only if that failed.
Status RestartSelf();

}  // namespace quipu::cli

#endif  // QUIPU_CLI_REPLICA_FLAGS_H_
