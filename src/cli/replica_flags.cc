#include "cli/replica_flags.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <vector>

#include "cli/common.h"

namespace quipu::cli {

namespace {

std::vector<std::string>& CommandLine() {
  static std::vector<std::string> args;
  return args;
}

std::vector<std::string> SplitCommas(const std::string& text) {
  std::vector<std::string> parts;
  std::stringstream in(text);
  std::string part;
  while (std::getline(in, part, ',')) {
    if (!part.empty()) parts.push_back(part);
  }
  return parts;
}

// The peer token: the file's first line, from a file only its owner reads.
Result<std::string> ReadPeerToken(const std::string& path) {
  struct stat st;
  if (::lstat(path.c_str(), &st) != 0) {
    return Status::InvalidArgument("--peer-token-file " + path + ": " + std::strerror(errno));
  }
  if (!S_ISREG(st.st_mode) || (st.st_mode & 077) != 0) {
    return Status::InvalidArgument("--peer-token-file " + path +
                                   " must be a regular file readable by its owner only (0600)");
  }
  std::ifstream in(path);
  std::string token;
  std::getline(in, token);
  while (!token.empty() && (token.back() == '\r' || token.back() == ' ')) token.pop_back();
  if (token.empty()) return Status::InvalidArgument("--peer-token-file " + path + " is empty");
  return token;
}

}  // namespace

Result<std::optional<replication::ReplicaOptions>> ReplicaFlags::Options() const {
  if (etcd.empty()) {
    if (!node.empty() || !advertise.empty() || !peer_token_file.empty()) {
      return Status::InvalidArgument("--node-id, --advertise and --peer-token-file need --etcd");
    }
    return std::optional<replication::ReplicaOptions>();
  }
  replication::ReplicaOptions options;
  options.etcd = SplitCommas(etcd);
  options.group = group;
  options.node = node;
  options.url = advertise;
  options.lease_ttl = std::chrono::seconds(lease_ttl_seconds);
  options.max_batch_bytes = batch_bytes;
  if (options.etcd.empty() || node.empty() || advertise.empty()) {
    return Status::InvalidArgument("a replicated node needs --etcd, --node-id and --advertise");
  }
  if (group.empty() || group.find('/') != std::string::npos ||
      node.find('/') != std::string::npos) {
    return Status::InvalidArgument("--group and --node-id must be non-empty and hold no '/'");
  }
  if (!peer_token_file.empty()) {
    auto token = ReadPeerToken(peer_token_file);
    if (!token.ok()) return token.status();
    options.peer_token = *token;
  }
  return std::optional<replication::ReplicaOptions>(std::move(options));
}

void AddReplicaFlags(CLI::App* verb, ReplicaFlags* flags) {
  verb->add_option("--etcd", flags->etcd,
                   "comma-separated etcd client URLs: run as a node of a replicated group "
                   "(docs/replication.md)");
  verb->add_option("--group", flags->group, "the group's name (its keys in etcd)")
      ->capture_default_str();
  verb->add_option("--node-id", flags->node, "this node's id, unique in the group");
  verb->add_option("--advertise", flags->advertise,
                   "the URL clients and peers reach this node at, e.g. http://10.0.0.5:8080");
  verb->add_option("--peer-token-file", flags->peer_token_file,
                   "file (0600) holding an admin token, to copy records from a peer");
  verb->add_option("--etcd-lease-ttl", flags->lease_ttl_seconds,
                   "seconds without etcd after which a writer loses its role")
      ->check(CLI::Range(1, 60))
      ->capture_default_str();
  verb->add_option("--etcd-batch-bytes", flags->batch_bytes,
                   "largest batch of records in one etcd transaction")
      ->check(CLI::Range(4096, 1 << 20))
      ->capture_default_str();
}

void RememberCommandLine(int argc, char** argv) { CommandLine().assign(argv, argv + argc); }

Status RestartSelf() {
  std::vector<char*> argv;
  for (std::string& arg : CommandLine()) argv.push_back(arg.data());
  argv.push_back(nullptr);
  if (argv.size() < 2) return Status::FailedPrecondition("no command line to restart with");
  ::execv("/proc/self/exe", argv.data());
  return Status::IOError(std::string("restarting: execv: ") + std::strerror(errno), errno);
}

}  // namespace quipu::cli
