// audit/index_db.cc — opening and writing the derived index's database.
#include "audit/index_db.h"

#include <rocksdb/cache.h>
#include <rocksdb/filter_policy.h>
#include <rocksdb/options.h>
#include <rocksdb/slice_transform.h>
#include <rocksdb/table.h>

#include "audit/index_keys.h"
#include "io/rocksdb_env.h"

namespace quipu::audit {

namespace {

constexpr size_t kMetaSize = 1 + 8 + 4 + 8 + 8;

// Rows, time order and postings are appended in (near) key order within
// their prefix: rows by log_id, the others by timestamp. With this, the
// memtable remembers where it last inserted under each prefix and starts
// the next insert there instead of at the top of its skip list, which is
// most of the cost of an index write.
class InsertHint final : public rocksdb::SliceTransform {
 public:
  const char* Name() const override { return "quipu.IndexInsertHint"; }
  rocksdb::Slice Transform(const rocksdb::Slice& key) const override {
    if (key[0] == keys::kPosting) return rocksdb::Slice(key.data(), key.size() - 16);
    return rocksdb::Slice(key.data(), 1);
  }
  bool InDomain(const rocksdb::Slice& key) const override {
    if (key.empty()) return false;
    if (key[0] == keys::kRow || key[0] == keys::kTime) return true;
    return key[0] == keys::kPosting && key.size() > 16;
  }
};

rocksdb::Options DbOptions(rocksdb::Env* env, const IndexDbOptions& o) {
  rocksdb::Options options;
  options.env = env;
  options.create_if_missing = !o.read_only;
  // Memory stays bounded whatever the history: two 8 MiB memtables and a
  // block cache, plus RocksDB's own small structures. Small memtables also
  // keep RocksDB's log short, which a read-only open replays.
  options.write_buffer_size = 8 << 20;
  options.max_write_buffer_number = 2;
  options.max_total_wal_size = 32 << 20;
  // Compaction must keep up with a writer at full speed, or level-0 files
  // pile up and every read looks into each of them.
  options.max_background_jobs = 4;
  options.max_subcompactions = 2;
  options.level_compaction_dynamic_level_bytes = true;
  // No bloom filters in the last level (most of the data): point reads here
  // look up keys that exist (rows, entities, versions), which a filter does
  // not speed up, and every table open would read them.
  options.optimize_filters_for_hits = true;
  options.compression = rocksdb::kLZ4Compression;
  options.keep_log_file_num = 2;
  // One writer: concurrent memtable writes would only disable the hints.
  options.allow_concurrent_memtable_write = false;
  options.memtable_insert_with_hint_prefix_extractor = std::make_shared<InsertHint>();
  options.info_log_level = rocksdb::InfoLogLevel::WARN_LEVEL;
  rocksdb::BlockBasedTableOptions table;
  // 16 KiB blocks: a quarter of the index entries of the 4 KiB default.
  table.block_size = 16 << 10;
  // Few, large cache shards: a shard must hold the blocks it is given.
  table.block_cache = rocksdb::NewLRUCache(o.cache_bytes, /*num_shard_bits=*/2);
  table.filter_policy.reset(rocksdb::NewBloomFilterPolicy(10));
  // Index and filter blocks live in the block cache, cut into 4 KiB
  // partitions behind a small pinned top level: a table of any size costs a
  // few KiB of memory until read, and a point read loads only the partitions
  // it needs (one whole-table filter would be megabytes per read, and memory
  // that grows with the store if kept).
  table.index_type = rocksdb::BlockBasedTableOptions::kTwoLevelIndexSearch;
  table.partition_filters = true;
  table.metadata_block_size = 4096;
  table.cache_index_and_filter_blocks = true;
  table.pin_top_level_index_and_filter = true;
  // Partitions are read when a lookup needs them, never all at table open
  // (which would read megabytes per table before a read-only open answers).
  table.pin_l0_filter_and_index_blocks_in_cache = false;
  options.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table));
  return options;
}

}  // namespace

std::string EncodeMeta(const IndexMeta& meta) {
  std::string out;
  out.push_back(static_cast<char>(meta.format));
  keys::PutBig64(&out, meta.applied_lsn);
  keys::PutBig32(&out, meta.applied_crc);
  keys::PutBig64(&out, meta.last_log_id);
  keys::PutBig64(&out, meta.keyed_count);
  return out;
}

Status DecodeMeta(std::string_view bytes, IndexMeta* meta) {
  if (bytes.empty()) return Status::Corruption("index meta is empty");
  meta->format = static_cast<uint8_t>(bytes[0]);
  if (meta->format != kIndexFormat) {
    return Status::NotSupported("index format " + std::to_string(meta->format) +
                                " (this build: " + std::to_string(kIndexFormat) + ")");
  }
  if (bytes.size() != kMetaSize) return Status::Corruption("index meta has the wrong size");
  const char* p = bytes.data() + 1;
  meta->applied_lsn = keys::GetBig64(p);
  meta->applied_crc = keys::GetBig32(p + 8);
  meta->last_log_id = keys::GetBig64(p + 12);
  meta->keyed_count = keys::GetBig64(p + 20);
  return Status::OK();
}

Status FromRocks(const rocksdb::Status& s, std::string_view what) {
  if (s.ok()) return Status::OK();
  std::string msg = "index: " + std::string(what) + ": " + s.ToString();
  if (s.IsNoSpace()) return Status::NoSpace(std::move(msg));
  if (s.IsCorruption()) return Status::Corruption(std::move(msg));
  if (s.IsNotFound() || s.IsPathNotFound()) return Status::NotFound(std::move(msg));
  if (s.IsNotSupported()) return Status::NotSupported(std::move(msg));
  if (s.IsBusy() || s.IsTryAgain()) return Status::Busy(std::move(msg));
  if (s.IsInvalidArgument()) return Status::InvalidArgument(std::move(msg));
  return Status::IOError(std::move(msg));
}

Result<std::unique_ptr<IndexDb>> IndexDb::Open(const std::string& path,
                                               const IndexDbOptions& options) {
  std::unique_ptr<IndexDb> index(new IndexDb());
  index->env_ = NewRocksDbEnv(options.env != nullptr ? options.env : Env::Default());
  index->read_only_ = options.read_only;
  const rocksdb::Options db_options = DbOptions(index->env_.get(), options);
  rocksdb::DB* db = nullptr;
  rocksdb::Status s;
  if (options.read_only) {
    s = rocksdb::DB::OpenForReadOnly(db_options, path, &db);
  } else {
    s = rocksdb::DB::Open(db_options, path, &db);
  }
  QUIPU_RETURN_IF_ERROR(FromRocks(s, "open " + path));
  index->db_.reset(db);
  return index;
}

Status IndexDb::Destroy(const std::string& path, Env* env) {
  auto rocks_env = NewRocksDbEnv(env != nullptr ? env : Env::Default());
  rocksdb::Options options;
  options.env = rocks_env.get();
  return FromRocks(rocksdb::DestroyDB(path, options), "remove " + path);
}

IndexDb::~IndexDb() {
  if (db_ != nullptr) (void)Close();
}

Status IndexDb::Write(rocksdb::WriteBatch* batch, bool sync, bool wal) {
  rocksdb::WriteOptions options;
  options.sync = sync;
  options.disableWAL = !wal;
  return FromRocks(db_->Write(options, batch), "write");
}

Status IndexDb::CompactAll() {
  rocksdb::CompactRangeOptions options;
  options.bottommost_level_compaction = rocksdb::BottommostLevelCompaction::kForceOptimized;
  return FromRocks(db_->CompactRange(options, nullptr, nullptr), "compact");
}

Status IndexDb::Flush() {
  rocksdb::FlushOptions options;
  options.wait = true;
  return FromRocks(db_->Flush(options), "flush");
}

Result<std::optional<std::string>> IndexDb::Get(const rocksdb::ReadOptions& read,
                                                std::string_view key) const {
  std::string value;
  rocksdb::Status s = db_->Get(read, rocksdb::Slice(key.data(), key.size()), &value);
  if (s.IsNotFound()) return std::optional<std::string>();
  QUIPU_RETURN_IF_ERROR(FromRocks(s, "read"));
  return std::optional<std::string>(std::move(value));
}

Result<IndexMeta> IndexDb::ReadMeta() const {
  auto bytes = Get(rocksdb::ReadOptions(), keys::Meta());
  if (!bytes.ok()) return bytes.status();
  IndexMeta meta;
  if (!*bytes) return meta;  // a new, empty index
  QUIPU_RETURN_IF_ERROR(DecodeMeta(**bytes, &meta));
  return meta;
}

Result<Lsn> IndexDb::ReadSyncPoint() const {
  auto bytes = Get(rocksdb::ReadOptions(), keys::SyncPoint());
  if (!bytes.ok()) return bytes.status();
  if (!*bytes) return Lsn{0};
  if ((*bytes)->size() != 8) return Status::Corruption("index sync point has the wrong size");
  return keys::GetBig64((*bytes)->data());
}

Status IndexDb::Close() {
  if (db_ == nullptr) return Status::OK();
  Status s = FromRocks(db_->Close(), "close");
  db_.reset();
  return s;
}

IndexSnapshot::IndexSnapshot(IndexDb* db) : db_(db) {
  if (!db->read_only()) {
    snapshot_ = db->db()->GetSnapshot();
    read_.snapshot = snapshot_;
  }
}

IndexSnapshot::~IndexSnapshot() {
  if (snapshot_ != nullptr) db_->db()->ReleaseSnapshot(snapshot_);
}

BoundedIterator::BoundedIterator(const IndexSnapshot& snap, std::string lower, std::string upper)
    : lower_(std::move(lower)), upper_(std::move(upper)) {
  rocksdb::ReadOptions read = snap.read();
  lower_slice_ = rocksdb::Slice(lower_);
  upper_slice_ = rocksdb::Slice(upper_);
  read.iterate_lower_bound = &lower_slice_;
  read.iterate_upper_bound = &upper_slice_;
  it_.reset(snap.index()->db()->NewIterator(read));
}

}  // namespace quipu::audit
