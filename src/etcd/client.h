// etcd/client.h — a small client of etcd's v3 API over its JSON gateway.
//
// quipu's replication (src/replication/) keeps its shared state in an etcd
// cluster: who the writer is (a lease), the committed batches, and each
// node's published tree root. This client speaks the v3 API through the
// gRPC-gateway that every etcd 3.4 member serves on its client URL
// (POST /v3/kv/range, /v3/kv/txn, /v3/lease/grant, /v3/watch, ...), as
// JSON over HTTP/1.1 with keys and values base64-encoded, using Boost.Beast.
//
// Endpoints. The client is given every member's client URL and talks to one
// at a time over a kept-alive connection; when a request fails at the
// transport (refused, reset, timed out), or the member answers that it
// cannot serve now (HTTP 503/504: no leader, raft timeout), it tries the
// next member, so a dead member costs one failed attempt, not an outage.
// Any member forwards writes to the raft leader; a write answered by etcd
// is committed on a quorum (fdatasynced on the leader and at least one
// follower of three) before the answer.
//
// Errors (quipu/status.h):
//   IOError              no member answered within the timeout (the message
//                        lists what each tried endpoint said), or a member
//                        answered with an HTTP error that is not etcd's own.
//   NotFound             LeaseKeepAlive of a lease that has expired;
//                        LeaseRevoke of a lease etcd does not have.
//   FailedPrecondition   etcd refused the request (its error message is in
//                        ours), e.g. a request above its --max-request-bytes,
//                        a compacted revision.
//   InvalidArgument      a bad argument caught before sending.
// A transport failure after the request was sent, or a 503/504, leaves its
// outcome unknown (a Txn may have committed, and may be sent again to the
// next member): callers that must know read back.
//
// Thread safety: every method may be called from any thread concurrently;
// each call takes a connection from a small pool (opening one if none is
// idle), so concurrent calls do not wait for each other.
#ifndef QUIPU_ETCD_CLIENT_H_
#define QUIPU_ETCD_CLIENT_H_

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "quipu/status.h"

namespace quipu::etcd {

struct ClientOptions {
  // Client URLs of the members, "http://127.0.0.1:2379" (the scheme may be
  // left out). At least one. Only http.
  std::vector<std::string> endpoints;
  // Bound of one attempt at one member: connect, send, and read the answer.
  std::chrono::milliseconds timeout{2000};
  // Range and LastInRange are answered by the member asked, from what it
  // has applied, without a round of consensus: cheaper, and spread over the
  // members, but possibly behind the latest write. For data that never
  // changes once written (replication batches).
  bool serializable_reads = false;
};

// One key as etcd holds it. Revisions are etcd's cluster-wide counters.
struct KeyValue {
  std::string key;
  std::string value;
  int64_t create_revision = 0;
  int64_t mod_revision = 0;
  int64_t version = 0;
  int64_t lease = 0;
};

// One comparison of a Txn (etcd's Compare message).
struct Compare {
  enum class Target { kValue, kCreateRevision, kModRevision, kVersion, kLease };
  enum class Op { kEqual, kNotEqual, kGreater, kLess };
  std::string key;
  Target target = Target::kValue;
  Op op = Op::kEqual;
  std::string value;   // for kValue
  int64_t number = 0;  // for the other targets

  static Compare ValueIs(std::string key, std::string value);
  static Compare CreateRevisionIs(std::string key, int64_t revision);  // 0: key absent
  static Compare ModRevisionIs(std::string key, int64_t revision);
};

// One operation of a Txn branch (etcd's RequestOp): put, range or delete.
struct Op {
  enum class Kind { kPut, kRange, kDelete };
  Kind kind = Kind::kPut;
  std::string key;
  std::string value;      // kPut
  std::string range_end;  // kRange, kDelete: empty for the key alone
  int64_t lease = 0;      // kPut: attach to this lease (0: none)

  static Op Put(std::string key, std::string value, int64_t lease = 0);
  static Op Get(std::string key, std::string range_end = {});
  static Op Delete(std::string key, std::string range_end = {});
};

struct RangeResult {
  std::vector<KeyValue> kvs;
  int64_t revision = 0;  // the store's revision when read
  int64_t count = 0;     // keys in the range (kvs may hold fewer: limit)
  bool more = false;     // kvs stopped at the limit
};

struct TxnResult {
  bool succeeded = false;  // the comparisons held (the success branch ran)
  int64_t revision = 0;    // the store's revision after the txn
  // What each kRange op of the branch that ran returned, in order.
  std::vector<std::vector<KeyValue>> ranges;
};

// One change seen by a watch.
struct WatchEvent {
  enum class Type { kPut, kDelete };
  Type type = Type::kPut;
  KeyValue kv;  // for kDelete: key and mod_revision only
};

// The end of the range holding every key that starts with `prefix`
// (etcd's "prefix + 1" convention; "\0" for an empty prefix).
std::string PrefixEnd(std::string_view prefix);

class Client {
 public:
  // Checks the options; connects lazily (the first call opens a connection).
  static Result<std::unique_ptr<Client>> Create(const ClientOptions& options);
  virtual ~Client() = default;

  // Keys in [key, range_end) (range_end empty: `key` alone), at most
  // `limit` (0: all), sorted by key, as of `revision` (0: now).
  virtual Result<RangeResult> Range(std::string_view key, std::string_view range_end = {},
                                    int64_t limit = 0, int64_t revision = 0) = 0;
  // The key of [key, range_end) that sorts last, if any.
  virtual Result<std::optional<KeyValue>> LastInRange(std::string_view key,
                                                      std::string_view range_end) = 0;
  // Returns the revision of the write.
  virtual Result<int64_t> Put(std::string_view key, std::string_view value, int64_t lease = 0) = 0;
  // Returns how many keys were deleted.
  virtual Result<int64_t> Delete(std::string_view key, std::string_view range_end = {}) = 0;
  // If every comparison holds, runs `success`, else `failure`; atomically.
  virtual Result<TxnResult> Txn(const std::vector<Compare>& compare, const std::vector<Op>& success,
                                const std::vector<Op>& failure = {}) = 0;

  // A lease of `ttl` (at least 1 s); returns its id.
  virtual Result<int64_t> LeaseGrant(std::chrono::seconds ttl) = 0;
  // Refreshes the lease once; returns the TTL etcd granted. NotFound when
  // the lease has expired or was revoked.
  virtual Result<int64_t> LeaseKeepAlive(int64_t lease) = 0;
  // Revokes the lease, deleting the keys attached to it. NotFound when
  // etcd does not have the lease (it expired, or was revoked).
  virtual Status LeaseRevoke(int64_t lease) = 0;

  // Drops the history before `revision` (keys' current values stay).
  virtual Status Compact(int64_t revision) = 0;

  // Waits up to `timeout` for changes to keys in [key, range_end) at or
  // after `start_revision` and returns them (empty on timeout). Each call
  // opens a watch stream and cancels it before returning, so it is a long
  // poll: callers loop, passing the last event's mod_revision + 1.
  // FailedPrecondition when `start_revision` was compacted.
  virtual Result<std::vector<WatchEvent>> WaitForChanges(std::string_view key,
                                                         std::string_view range_end,
                                                         int64_t start_revision,
                                                         std::chrono::milliseconds timeout) = 0;
};

}  // namespace quipu::etcd

#endif  // QUIPU_ETCD_CLIENT_H_
