// replication/replica.h — one node of a replicated group: its lease, its
// role (writer or follower), the batches it commits or applies, what it
// publishes about itself and how it compares with its peers
// (docs/replication.md).
//
// The node's store is an ordinary AuditStore opened with
// LogOptions::discard_after = RejoinPoint(): records this node appended as a
// writer and the group may not have committed are cut before it starts. The Replica then runs three
// threads:
//   lease    keeps the node's etcd lease alive (every third of its TTL); a
//            writer that loses it steps down.
//   log      as a follower, applies committed batches (AppendReplicated) and
//            campaigns when no writer holds the key; as the writer, turns
//            what the server appended into batches, one etcd transaction
//            each (Group::Commit), and raises the committed head.
//   status   every publish_every, publishes the node's status, compares its
//            roots with its peers' (and fences itself on a mismatch) and, on
//            the writer, trims the batches every live node has applied.
//
// The server appends events to the store itself, and only on the writer
// (role() == kWriter); it calls Appended() after each append and answers a
// write once AwaitHeadAbove has passed its LSN (and the store made it
// durable). When the writer steps down (a refused transaction, a lost lease)
// every waiter fails and on_step_down runs: the node must restart, cutting
// what it appended and the group did not commit.
//
// Thread safety: every public method may be called from any thread.
#ifndef QUIPU_REPLICATION_REPLICA_H_
#define QUIPU_REPLICATION_REPLICA_H_

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "quipu/audit.h"
#include "replication/group.h"

namespace quipu::replication {

struct ReplicaOptions {
  std::string dir;                // the store's directory (for kAppliedFileName)
  std::vector<std::string> etcd;  // client URLs of the etcd members
  std::string group;              // the keyspace: /quipu/GROUP/
  std::string node;               // this node's id, unique in the group
  std::string url;                // where peers and clients reach this node
  std::chrono::seconds lease_ttl{2};
  std::chrono::milliseconds etcd_timeout{2000};
  // Largest batch (EncodeBatch bytes); etcd's request limit is 1.5 MiB of
  // JSON, and base64 makes a batch 4/3 larger.
  size_t max_batch_bytes = 1'000'000;
  std::chrono::milliseconds publish_every{250};
  // A token with the admin grant, for copying records from a peer.
  std::string peer_token;
  // Lifecycle lines (JSON objects with "event"), for the server's log.
  std::function<void(nlohmann::ordered_json)> log;
  // Runs once, on the log thread, when this node has become the writer
  // and before it takes writes (the server registers its scope columns).
  std::function<Status()> on_writer;
  // Runs once when this node stops being the writer, or is fenced while
  // writing: it must restart. On a lease or log thread.
  std::function<void(const std::string& why)> on_step_down;
};

enum class Role { kStarting, kFollower, kWriter, kFenced, kSteppedDown };
const char* RoleName(Role role);

// What GET /v1/cluster shows.
struct ClusterView {
  Role role = Role::kStarting;
  std::optional<WriterInfo> writer;
  Lsn head = 0;     // committed, as this node last learned it
  Lsn applied = 0;  // durable here, at a batch boundary
  std::string fenced;
  std::vector<NodeStatus> nodes;  // as last read from etcd
};

// DIR/replica-applied: the last LSN this node knew committed and durable
// here, in decimal. It only ever understates (written after the fact, now and
// then), so records up to it are the group's; what follows may be this
// node's own uncommitted tail from a time it was the writer.
inline constexpr std::string_view kAppliedFileName = "replica-applied";

class Replica {
 public:
  // InvalidArgument for options no node could run with (bad etcd URLs, no
  // node id or URL); contacts nothing.
  static Status CheckOptions(const ReplicaOptions& options);
  // The group's committed head (0 for a new group).
  static Result<Lsn> CommittedHead(const ReplicaOptions& options);
  // Where the store must end before this node rejoins: the LSN in
  // kAppliedFileName (0 without one). Records after it are cut
  // (LogOptions::discard_after) and, if the group committed them, applied
  // again from the group, byte for byte. Reads no etcd: a node starts (and
  // serves reads) while etcd is out of reach, and joins once it is back.
  static Result<Lsn> RejoinPoint(const ReplicaOptions& options);

  // Takes the lease and starts the threads. `store` must outlive this.
  static Result<std::unique_ptr<Replica>> Start(const ReplicaOptions& options, AuditStore* store);
  ~Replica();  // Stop()s
  Replica(const Replica&) = delete;
  Replica& operator=(const Replica&) = delete;

  // Stops the threads and gives up the lease (and so the writership).
  void Stop();

  Role role() const;
  // The committed head as this node last learned it.
  Lsn head() const;
  std::optional<WriterInfo> writer() const;
  ClusterView View() const;
  std::string fenced_reason() const;

  // The server appended records: wakes the committer.
  void Appended();
  // Waits until the committed head passes `seen` (returns it), for at most
  // `timeout` (returns `seen`). FailedPrecondition once this node is not
  // the writer (stepped down, fenced, stopping).
  Result<Lsn> AwaitHeadAbove(Lsn seen, std::chrono::milliseconds timeout);

  // Counters for metrics.
  uint64_t commits() const { return commits_.load(std::memory_order_relaxed); }
  uint64_t committed_bytes() const { return committed_bytes_.load(std::memory_order_relaxed); }
  uint64_t applied_batches() const { return applied_batches_.load(std::memory_order_relaxed); }
  // Time spent in the etcd transactions of those commits.
  uint64_t commit_micros() const { return commit_micros_.load(std::memory_order_relaxed); }

 private:
  Replica(const ReplicaOptions& options, AuditStore* store, std::unique_ptr<Group> group);

  // Reads the head and takes the lease (the log thread, until it succeeds).
  Status Join();
  void LeaseLoop();
  void LogLoop();
  void StatusLoop();

  // Follower: applies what etcd holds after the store's last record.
  // Returns how many batches it applied.
  Result<size_t> ApplyCommitted(int64_t* revision);
  Status CopyFromPeer(Lsn from, Lsn window_start);
  // No writer: campaigns; on a win, catches up and becomes the writer.
  Status CampaignIfVacant();
  Status BecomeWriter(const WriterInfo& won);
  // Writer: one batch of what was appended after the head.
  Status CommitOnce();
  Status Publish();
  // Records applied_ in kAppliedFileName when it moved.
  Status SaveApplied();
  void CompareWithPeers(const std::vector<NodeStatus>& nodes, uint64_t size);
  Status TrimWindow(const std::vector<NodeStatus>& nodes);

  void StepDown(const std::string& why);
  void Fence(const std::string& why);
  void Log(nlohmann::ordered_json line) const;  // through options_.log
  bool Sleep(std::chrono::milliseconds d);      // false when stopping
  int64_t lease() const;

  const ReplicaOptions options_;
  AuditStore* const store_;
  const std::unique_ptr<Group> group_;

  mutable std::mutex mu_;
  std::condition_variable changed_;  // head, role, appended, stopping
  // --- guarded by mu_ ---
  Role role_ = Role::kStarting;
  std::optional<WriterInfo> writer_;
  int64_t lease_ = 0;
  int64_t my_revision_ = 0;  // the writer key's create revision when this node won
  Lsn head_ = 0;
  Lsn applied_ = 0;
  bool appended_ = false;
  bool stopping_ = false;
  std::string fenced_;
  std::vector<NodeStatus> nodes_;
  std::chrono::steady_clock::time_point lease_renewed_;
  // ---
  // The committer's (log thread only): a reader of this node's log, and
  // the records read from it after head_ that no batch has committed yet.
  std::unique_ptr<LogReader> reader_;
  std::deque<std::string> unsent_;
  Batch inflight_;  // sent, outcome not yet known (no records: none)
  std::string inflight_encoded_;
  Lsn last_trim_ = 0;
  Lsn saved_applied_ = 0;  // status thread only
  std::atomic<uint64_t> commits_{0}, committed_bytes_{0}, applied_batches_{0}, commit_micros_{0};
  std::thread lease_thread_, log_thread_, status_thread_;
};

}  // namespace quipu::replication

#endif  // QUIPU_REPLICATION_REPLICA_H_
