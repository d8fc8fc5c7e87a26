// replication/peer.h — copying committed records from a peer node, for a
// node whose next LSN etcd no longer holds (docs/replication.md, "The
// window, and catching up from a peer").
//
// The peer serves GET /v1/replication/records?from=A&to=B: as many whole
// batches from A on as it sends at once (up to B), each preceded by its
// length (u32, little-endian), with the headers Quipu-Tree-Size (the last
// LSN sent) and Quipu-Tree-Root (its root at that size, hex). The copy
// appends them (AuditStore::AppendReplicated), makes them durable, and
// compares its own root at that size with the peer's, then asks again
// until it has B.
#ifndef QUIPU_REPLICATION_PEER_H_
#define QUIPU_REPLICATION_PEER_H_

#include <chrono>
#include <string>
#include <string_view>

#include "quipu/audit.h"

namespace quipu::replication {

struct Copied {
  Lsn last = 0;
  bool root_matches = true;
  std::string mine, theirs;  // the roots at `last`, when they differ
};

// Copies records `from`..`to` from the node at `url` into `store`, whose
// last LSN must be from − 1. Stops at the first root that differs.
// IOError when the peer cannot be reached or answers an error; Corruption
// for a body that is not batches.
Result<Copied> CopyRecords(const std::string& url, const std::string& token, Lsn from, Lsn to,
                           AuditStore* store, std::chrono::milliseconds timeout);

// The response body of the records route: batches of `records` (LSNs from
// `first`) framed as above, each at most `max_batch_bytes`.
std::string FrameBatches(Lsn first, std::vector<std::string> records, size_t max_batch_bytes);

}  // namespace quipu::replication

#endif  // QUIPU_REPLICATION_PEER_H_
