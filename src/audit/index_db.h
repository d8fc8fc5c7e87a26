// audit/index_db.h — the RocksDB database that holds an audit store's
// derived index, and its meta entry.
//
// The index lives in DIR/index (DIR being the store's log directory). All of
// its file I/O goes through the store's quipu::Env (io/rocksdb_env.h), so the
// fault-injecting Env of the tests cuts its power together with the log's.
//
// Writes are RocksDB write batches: atomic, so an entry and the meta that
// says which LSN it came from are never apart. The writer writes them to
// RocksDB's own write-ahead log without fsync (the quipu log is the source
// of truth; what the index loses at a crash it replays from there). That
// alone would not do: after a power cut that wrote the disk's pages back
// out of order, RocksDB's log replay can skip a lost batch and still replay
// later ones (it takes a zeroed page for preallocated space), so the meta
// may survive while entries before it are gone. Hence the sync point
// (keys::SyncPoint): now and then, and at close, a synced write records an
// applied LSN; everything up to it is durable and intact, and Open treats
// whatever follows it as suspect (audit/index_open.h).
//
// Thread safety: as rocksdb::DB — every method may be called concurrently.
#ifndef QUIPU_AUDIT_INDEX_DB_H_
#define QUIPU_AUDIT_INDEX_DB_H_

#include <rocksdb/db.h>
#include <rocksdb/env.h>
#include <rocksdb/write_batch.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "quipu/env.h"
#include "quipu/reader.h"
#include "quipu/status.h"

namespace quipu::audit {

// Bumped when the layout of docs/format.md "Derived index" changes; an index
// of another format is rebuilt.
inline constexpr uint8_t kIndexFormat = 1;

// What the index has applied (the value of keys::Meta()).
struct IndexMeta {
  uint8_t format = kIndexFormat;
  Lsn applied_lsn = 0;       // every record up to here, none after
  uint32_t applied_crc = 0;  // CRC-32C of the payload at applied_lsn
  uint64_t last_log_id = 0;  // rows 1..last_log_id exist
  uint64_t keyed_count = 0;  // keyed events so far (their sequence numbers)
};
std::string EncodeMeta(const IndexMeta& meta);
Status DecodeMeta(std::string_view bytes, IndexMeta* meta);

Status FromRocks(const rocksdb::Status& s, std::string_view what);

struct IndexDbOptions {
  Env* env = nullptr;  // the store's Env
  bool read_only = false;
  size_t cache_bytes = 32 << 20;  // block cache
};

class IndexDb {
 public:
  // Opens (creating if missing, unless read-only) the database at `path`.
  // Corruption when RocksDB finds it damaged; NotFound when read-only and
  // absent.
  static Result<std::unique_ptr<IndexDb>> Open(const std::string& path,
                                               const IndexDbOptions& options);
  // Removes the database at `path` (nothing if absent).
  static Status Destroy(const std::string& path, Env* env);

  ~IndexDb();
  IndexDb(const IndexDb&) = delete;
  IndexDb& operator=(const IndexDb&) = delete;

  rocksdb::DB* db() { return db_.get(); }
  bool read_only() const { return read_only_; }

  // `sync`: fsynced before returning (else handed to RocksDB's log only).
  // `wal`: false writes to memtables only; the caller must Flush before it
  // relies on them surviving anything.
  Status Write(rocksdb::WriteBatch* batch, bool sync, bool wal = true);
  Status Flush();
  // Compacts the whole database into its last level: after a rebuild, so
  // that reads do not look into dozens of overlapping tables.
  Status CompactAll();
  // nullopt when absent.
  Result<std::optional<std::string>> Get(const rocksdb::ReadOptions& read,
                                         std::string_view key) const;
  Result<IndexMeta> ReadMeta() const;
  // The sync point (0 if none was ever written).
  Result<Lsn> ReadSyncPoint() const;
  Status Close();

 private:
  IndexDb() = default;

  std::unique_ptr<rocksdb::Env> env_;
  std::unique_ptr<rocksdb::DB> db_;
  bool read_only_ = false;
};

// Reads as of one moment: a RocksDB snapshot (or, read-only, the fixed
// state of the database) with options that use it.
class IndexSnapshot {
 public:
  explicit IndexSnapshot(IndexDb* db);
  ~IndexSnapshot();
  IndexSnapshot(const IndexSnapshot&) = delete;
  IndexSnapshot& operator=(const IndexSnapshot&) = delete;

  const rocksdb::ReadOptions& read() const { return read_; }
  IndexDb* index() const { return db_; }
  Result<std::optional<std::string>> Get(std::string_view key) const {
    return db_->Get(read_, key);
  }

 private:
  IndexDb* db_;
  const rocksdb::Snapshot* snapshot_ = nullptr;
  rocksdb::ReadOptions read_;
};

// An iterator that owns the bounds it was given (rocksdb::ReadOptions keeps
// pointers to them).
class BoundedIterator {
 public:
  BoundedIterator(const IndexSnapshot& snap, std::string lower, std::string upper);
  rocksdb::Iterator* operator->() { return it_.get(); }
  rocksdb::Iterator& operator*() { return *it_; }

 private:
  std::string lower_, upper_;
  rocksdb::Slice lower_slice_, upper_slice_;
  std::unique_ptr<rocksdb::Iterator> it_;
};

inline std::string_view View(const rocksdb::Slice& s) { return {s.data(), s.size()}; }

}  // namespace quipu::audit

#endif  // QUIPU_AUDIT_INDEX_DB_H_
