// replication/batch.h — a batch of records as the group commits it to etcd
// (docs/replication.md, "The keyspace"), and the keys it lives under.
//
//   batch  := "QPB1" | first_lsn u64 | count u32 | frames | crc u32
//           | "QPBZ" | first_lsn u64 | count u32 | raw u32 | zstd(frames) | crc u32
//   frames := (length u32 | record)*                  (raw bytes long, for QPBZ)
//
// Little-endian; crc is the masked CRC-32C (util/crc32c.h) of everything
// before it. Records are log payloads byte for byte: a follower appends them
// as they are, so its log holds what the writer's holds. The compressed form
// (zstd, level 1) is what the writer commits: every byte sent to etcd is
// base64-encoded, proposed, replicated, written and fsynced by each member,
// and audit records repeat themselves (measured: 9 × smaller for
// bench/http_load.lua's events; docs/replication.md).
#ifndef QUIPU_REPLICATION_BATCH_H_
#define QUIPU_REPLICATION_BATCH_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "quipu/reader.h"
#include "quipu/status.h"

namespace quipu::replication {

struct Batch {
  Lsn first = 0;  // LSN of records[0]
  std::vector<std::string> records;

  Lsn last() const { return first + records.size() - 1; }
};

// Bytes a batch adds for one record, and for itself (uncompressed).
inline constexpr size_t kRecordOverhead = 4;
inline constexpr size_t kBatchOverhead = 4 + 8 + 4 + 4;
// Largest uncompressed frames a QPBZ batch may claim: a decoder allocates
// no more than this, whatever the header says.
inline constexpr size_t kMaxRawBatchBytes = 64 << 20;

enum class BatchCompression { kNone, kZstd };

std::string EncodeBatch(const Batch& batch, BatchCompression compression = BatchCompression::kNone);
// Corruption (saying what is wrong) for anything EncodeBatch did not make.
Result<Batch> DecodeBatch(std::string_view bytes);

// The etcd keys of one group, all under "/quipu/GROUP/".
class GroupKeys {
 public:
  explicit GroupKeys(std::string_view group);

  const std::string& writer() const { return writer_; }
  const std::string& head() const { return head_; }
  // The key of the batch whose first record is `first`: 20 decimal digits,
  // so that keys sort as LSNs do.
  std::string batch(Lsn first) const;
  const std::string& batches() const { return batches_; }  // prefix of every batch key
  const std::string& batches_end() const { return batches_end_; }
  // The LSN a batch key names; 0 for another key.
  Lsn BatchFirst(std::string_view key) const;
  std::string node(std::string_view id) const;
  const std::string& nodes() const { return nodes_; }
  const std::string& nodes_end() const { return nodes_end_; }

 private:
  std::string writer_, head_, batches_, batches_end_, nodes_, nodes_end_;
};

}  // namespace quipu::replication

#endif  // QUIPU_REPLICATION_BATCH_H_
