// replication/group.h — one replicated group's state in etcd: who writes,
// the committed batches, and what each node publishes about itself
// (docs/replication.md, "The keyspace"). Every call is one or two etcd
// requests; nothing is cached here.
//
// Errors: as etcd::Client's (IOError when etcd cannot be reached; the
// outcome of a write is then unknown unless the call says otherwise);
// Corruption for a value in the group's keys that quipu did not write.
//
// Thread safety: as etcd::Client, every method may be called concurrently.
#ifndef QUIPU_REPLICATION_GROUP_H_
#define QUIPU_REPLICATION_GROUP_H_

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "etcd/client.h"
#include "replication/batch.h"

namespace quipu::replication {

// The writer as its key says; `revision` is the key's create revision,
// which changes with every election.
struct WriterInfo {
  std::string node;
  std::string url;
  int64_t revision = 0;
  int64_t lease = 0;  // the lease the key is attached to
};

// What a node publishes about itself (its nodes/ key).
struct NodeStatus {
  std::string node;
  std::string url;
  std::string role;
  Lsn applied = 0;  // durable in its log, and a batch boundary
  uint64_t tree_size = 0;
  std::string root;  // hex, at tree_size ("" for an empty tree)
  uint64_t grid_size = 0;
  std::string grid_root;  // hex, at grid_size
};

// What Fetch found after a node's last record.
struct Fetched {
  std::vector<Batch> batches;  // in LSN order; the first may begin before `from`
  int64_t revision = 0;        // etcd's revision when read (for a watch after it)
  // `from` is committed but no longer in etcd: copy it from a peer. Then
  // window_start is the first LSN etcd still holds (0: none).
  bool behind_window = false;
  Lsn window_start = 0;
};

class Group {
 public:
  // `reader` (optional) serves Fetch and WaitForBatches: batches never
  // change once committed, so a client with serializable reads at another
  // member spreads the followers' reads (etcd::ClientOptions).
  Group(std::unique_ptr<etcd::Client> client, std::string_view group,
        std::unique_ptr<etcd::Client> reader = nullptr);

  // The last committed LSN (0 before the first batch).
  Result<Lsn> Head();
  // The writer, if one holds the key.
  Result<std::optional<WriterInfo>> Writer();
  // Creates the writer key for this node with `lease` if no writer holds it;
  // returns the writer after the attempt (this node if it won).
  Result<WriterInfo> Campaign(int64_t lease, const std::string& node, const std::string& url);

  enum class Outcome { kCommitted, kRefused };
  // Commits `batch` (`encoded` is EncodeBatch of it) after the committed LSN
  // `prev`, as the writer elected at `writer_revision`. kRefused: that is no
  // longer the writer, or head moved: this node must stop writing. When the
  // answer is lost, reads head back to learn the outcome.
  Result<Outcome> Commit(int64_t writer_revision, Lsn prev, const Batch& batch,
                         const std::string& encoded);

  // Up to `max_batches` committed batches from `from` on, and before them
  // the batch holding `from` when `from` lies inside one.
  Result<Fetched> Fetch(Lsn from, size_t max_batches);
  // Waits (up to `timeout`) for a batch to be committed after `revision`.
  // OK both when one was and on timeout (then fetch again anyway).
  Status WaitForBatches(int64_t revision, std::chrono::milliseconds timeout);

  Status Publish(int64_t lease, const NodeStatus& status);
  // Every node that published and whose lease is alive, by node id.
  Result<std::vector<NodeStatus>> Nodes();

  // Deletes the batches that end at or before `applied_by_all` (a batch
  // boundary every live node has applied) and compacts etcd's history up to
  // then. Returns the revision compacted to.
  Result<int64_t> Trim(Lsn applied_by_all);

  etcd::Client& client() { return *client_; }
  const GroupKeys& keys() const { return keys_; }

 private:
  Result<Batch> DecodeKv(const etcd::KeyValue& kv);

  std::unique_ptr<etcd::Client> client_;
  std::unique_ptr<etcd::Client> reader_;  // null: client_
  const GroupKeys keys_;
};

std::string WriterValue(const std::string& node, const std::string& url);

}  // namespace quipu::replication

#endif  // QUIPU_REPLICATION_GROUP_H_
