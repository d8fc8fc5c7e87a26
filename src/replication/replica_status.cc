// replication/replica_status.cc — what a node says about itself and learns
// of its peers (the status thread of replication/replica.h): its published
// status, the comparison of its roots with its peers' and fencing, the
// trim of etcd's window on the writer, and the replica-applied note.
#include <algorithm>

#include "quipu/env.h"
#include "replication/replica.h"

namespace quipu::replication {

namespace {

using Clock = std::chrono::steady_clock;

// Nodes compare their roots at multiples of this size too.
constexpr uint64_t kGrid = 256;
// How often the writer trims etcd's window.
constexpr auto kTrimEvery = std::chrono::seconds(2);

std::string RootHex(LogTree* tree, uint64_t size) {
  if (size == 0) return "";
  auto root = tree->Root(size);
  return root.ok() ? root->ToHex() : "";
}

std::string AppliedPath(const ReplicaOptions& options) {
  return options.dir + "/" + std::string(kAppliedFileName);
}

Result<Lsn> ReadApplied(const ReplicaOptions& options) {
  Env* env = Env::Default();
  auto exists = env->FileExists(AppliedPath(options));
  if (!exists.ok()) return exists.status();
  if (!*exists) return Lsn{0};
  auto file = env->NewRandomAccessFile(AppliedPath(options));
  if (!file.ok()) return file.status();
  std::string text;
  QUIPU_RETURN_IF_ERROR((*file)->Read(0, 32, &text));
  Lsn lsn = 0;
  for (char c : text) {
    if (c == '\n') break;
    if (c < '0' || c > '9') {
      return Status::Corruption(AppliedPath(options) + ": not an LSN");
    }
    lsn = lsn * 10 + static_cast<Lsn>(c - '0');
  }
  return lsn;
}

// Temp file, fdatasync, rename: the file holds the old LSN or the new one.
// The directory is not synced: losing the rename leaves the older, smaller
// LSN, which is still true.
Status WriteApplied(const ReplicaOptions& options, Lsn lsn) {
  Env* env = Env::Default();
  const std::string temp = AppliedPath(options) + ".tmp";
  auto file = env->NewWritableFile(temp);
  if (!file.ok()) return file.status();
  Status s = (*file)->Append(std::to_string(lsn) + "\n");
  if (s.ok()) s = (*file)->Sync();
  Status closed = (*file)->Close();
  QUIPU_RETURN_IF_ERROR(s.ok() ? closed : s);
  return env->RenameFile(temp, AppliedPath(options));
}

}  // namespace

Result<Lsn> Replica::RejoinPoint(const ReplicaOptions& options) { return ReadApplied(options); }

// --- status ---

void Replica::StatusLoop() {
  Clock::time_point last_trim = Clock::now();
  std::string last_error;
  while (Sleep(options_.publish_every)) {
    const Role now = role();
    if (now == Role::kFenced || now == Role::kSteppedDown || lease() == 0) continue;
    Status s = Publish();
    if (s.ok()) s = SaveApplied();
    if (s.ok() && now == Role::kWriter && Clock::now() - last_trim >= kTrimEvery) {
      last_trim = Clock::now();
      std::vector<NodeStatus> nodes;
      {
        std::lock_guard<std::mutex> lock(mu_);
        nodes = nodes_;
      }
      s = TrimWindow(nodes);
    }
    if (!s.ok() && s.ToString() != last_error) {
      Log({{"event", "replica_error"}, {"role", RoleName(now)}, {"error", s.ToString()}});
    }
    last_error = s.ok() ? "" : s.ToString();
  }
}

Status Replica::SaveApplied() {
  Lsn applied;
  {
    std::lock_guard<std::mutex> lock(mu_);
    applied = applied_;
  }
  if (applied <= saved_applied_) return Status::OK();
  QUIPU_RETURN_IF_ERROR(WriteApplied(options_, applied));
  saved_applied_ = applied;
  return Status::OK();
}

Status Replica::Publish() {
  LogTree* tree = store_->log()->tree();
  NodeStatus mine;
  mine.node = options_.node;
  mine.url = options_.url;
  Lsn head;
  bool is_writer;
  {
    std::lock_guard<std::mutex> lock(mu_);
    head = head_;
    is_writer = role_ == Role::kWriter;
  }
  // The writer vouches only for what the group committed and it has made
  // durable: a write answered at append time (?ack=appended) waits for
  // nobody's fdatasync, so this one covers it.
  if (is_writer && store_->DurableLsn() < head) QUIPU_RETURN_IF_ERROR(store_->WaitDurable(head));
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (role_ == Role::kWriter && store_->DurableLsn() >= head_) applied_ = head_;
    mine.role = RoleName(role_);
    mine.applied = applied_;
  }
  const uint64_t size = std::min<uint64_t>(tree->Size(), mine.applied);
  mine.tree_size = size;
  mine.root = RootHex(tree, size);
  mine.grid_size = size / kGrid * kGrid;
  mine.grid_root = RootHex(tree, mine.grid_size);
  QUIPU_RETURN_IF_ERROR(group_->Publish(lease(), mine));
  auto nodes = group_->Nodes();
  if (!nodes.ok()) return nodes.status();
  auto writer = group_->Writer();
  {
    std::lock_guard<std::mutex> lock(mu_);
    nodes_ = *nodes;
    if (writer.ok()) writer_ = *writer;
  }
  CompareWithPeers(*nodes, size);
  return Status::OK();
}

void Replica::CompareWithPeers(const std::vector<NodeStatus>& nodes, uint64_t size) {
  LogTree* tree = store_->log()->tree();
  int agree = 0, disagree = 0;
  std::string detail;
  for (const NodeStatus& peer : nodes) {
    if (peer.node == options_.node) continue;
    uint64_t at = 0;
    const std::string* theirs = nullptr;
    if (peer.tree_size > 0 && peer.tree_size <= size) {
      at = peer.tree_size;
      theirs = &peer.root;
    } else if (peer.grid_size > 0 && peer.grid_size <= size) {
      at = peer.grid_size;
      theirs = &peer.grid_root;
    }
    if (at == 0 || theirs->empty()) continue;
    const std::string mine = RootHex(tree, at);
    if (mine.empty()) continue;
    if (mine == *theirs) {
      ++agree;
    } else {
      ++disagree;
      detail = "at size " + std::to_string(at) + " this node's root is " + mine + " and " +
               peer.node + "'s is " + *theirs;
    }
  }
  if (disagree > 0 && agree == 0) Fence(detail);
}

Status Replica::TrimWindow(const std::vector<NodeStatus>& nodes) {
  Lsn all = 0;
  bool first = true;
  for (const NodeStatus& node : nodes) {
    all = first ? node.applied : std::min(all, node.applied);
    first = false;
  }
  if (first || all <= last_trim_) return Status::OK();
  auto trimmed = group_->Trim(all);
  if (!trimmed.ok()) return trimmed.status();
  last_trim_ = all;
  return Status::OK();
}

}  // namespace quipu::replication
