// audit/index_apply.h — turning log records into derived index entries.
//
// The same Apply* calls run when the store writes a record and when Open
// catches the index up with the log (or rebuilds it), so the index after a
// reopen is the index before it by construction. Records are applied into a
// batch; entries of a record are visible to the records after it in the same
// batch, and Commit writes the batch with the meta entry (applied LSN and
// counters) in one atomic RocksDB write: the index never holds a record
// without the meta that counts it.
//
// Apply* check every reference a record makes against what is already
// applied (log_ids in sequence, version numbers following the entity's
// count, pins of existing versions, known types, fields and columns). A
// record that fails is a bug or damage: Corruption, and the batch must be
// abandoned.
//
// Two steps take a batch to RocksDB: Seal (under the store's writer mutex)
// closes the pending batch and queues it; WriteSealed writes the queued
// batches in order, by whichever thread calls it (the store's committer,
// or a reader that needs everything written), so the writer goes on
// applying records while RocksDB inserts the previous batch into its
// memtable. What the applier itself reads (entities, keys) must then cover
// the sealed batches not yet written: every entity they touched stays in the
// entity cache until they are written, and PendingKey looks in them too.
//
// Concurrency: Apply*, Seal, Commit, Abandon and the accessors run under the
// store's writer mutex (or in Open, before the store is shared); WriteSealed,
// MarkSynced and synced_lsn may run on any thread. Readers read written
// entries through snapshots and never see a batch being built.
#ifndef QUIPU_AUDIT_INDEX_APPLY_H_
#define QUIPU_AUDIT_INDEX_APPLY_H_

#include <rocksdb/write_batch.h>

#include <atomic>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "audit/catalog.h"
#include "audit/index_db.h"
#include "audit/index_entries.h"
#include "audit/protect.h"
#include "audit/record.h"

namespace quipu::audit {

class IndexApplier final : public EntityLookup {
 public:
  IndexApplier(IndexDb* db, Catalog* catalog);
  IndexApplier(const IndexApplier&) = delete;
  IndexApplier& operator=(const IndexApplier&) = delete;

  // Reads the meta entry (an empty index has all zeros).
  Status Load();
  // Replays the catalog records the index holds into the catalog (Open).
  Status LoadCatalog();
  // As of the last Commit (or the pending batch, between Apply and Commit).
  const IndexMeta& meta() const { return meta_; }

  // Decodes and applies any record; errors name the LSN.
  Status ApplyPayload(std::string_view payload, Lsn lsn);
  // `payload` is `rec` as appended to the log, kept verbatim in its row.
  Status ApplyEvent(const EventRecord& rec, std::string_view payload, Lsn lsn);
  Status ApplyType(const TypeRecord& rec, std::string_view payload, Lsn lsn);
  Status ApplyColumn(const ColumnRecord& rec, std::string_view payload, Lsn lsn);
  // Retention (audit/index_purge.h; in index_apply_purge.cc). A carry
  // record is kept verbatim and changes nothing else. A purge record first
  // writes everything applied before it, then drops the purged entries, and
  // ends with its meta written and a sync point: never taken back by a
  // repair, and its record must be durable in the log before it is applied.
  Status ApplyCarry(std::string_view payload, Lsn lsn);
  Status ApplyPurge(const PurgeRecord& rec, std::string_view payload, Lsn lsn);
  // A forget record: its key ids as F entries (and into the protector's
  // set), the record kept verbatim under G.
  Status ApplyForget(const ForgetRecord& rec, std::string_view payload, Lsn lsn);
  // Opens sealed values for their tokens, and is told forgotten keys (the
  // store's; null: a record holding a sealed value fails to apply).
  void set_protector(Protector* protector) { protector_ = protector; }
  // Into an empty index, for each carry record of `purge` in log order,
  // then FinishBase: the state they carry, as if the purged records before
  // purge.first_kept had been applied, with a meta at first_kept - 1.
  Status ApplyCarried(const CarryRecord& carried);
  Status FinishBase(const PurgeRecord& purge);

  // Seals what was applied since the last Seal (nothing if nothing was) and
  // queues it for WriteSealed. When the entity cache has outgrown its bound
  // it writes every sealed batch first and then empties the cache.
  Status Seal();
  // Writes the sealed batches, oldest first, each with the meta entry as of
  // its last record; then a sync point if `sync_every` records were written
  // since the last one. On failure every sealed batch is dropped (the caller
  // stops writing: the index no longer follows the log).
  Status WriteSealed(uint64_t sync_every = UINT64_MAX, bool wal = true);
  // Seal and WriteSealed, on the calling thread (Open's catch-up; without
  // `wal`, RocksDB's log is skipped and Open flushes the memtable instead).
  Status Commit(bool wal = true);
  // Drops what was applied since the last Seal (after an Apply failed).
  // Catalog changes are not taken back: the caller stops writing.
  void Abandon();
  // Writes the sync point (the LSN of the last written batch) with an fsync
  // of RocksDB's log, which makes every batch before it durable too.
  Status MarkSynced();
  // The last sync point written or loaded.
  Lsn synced_lsn() const { return synced_lsn_.load(std::memory_order_acquire); }

  // Records applied since the last Seal.
  size_t pending() const { return pending_; }
  // Bytes in the pending batch.
  size_t pending_bytes() const;
  // Sealed batches not written yet.
  size_t sealed() const { return sealed_count_.load(std::memory_order_acquire); }

  // The newest keyed event of `key` applied but not yet written, if any
  // (log_id and entry); written ones are in the index (audit/idempotency.h).
  // Look here before taking a snapshot of the index: a batch written in
  // between is then in the snapshot.
  std::optional<std::pair<uint64_t, KeyedEntry>> PendingKey(std::string_view key) const;
  // Whether the type with this ordinal has at least one entity.
  bool HasEntities(uint32_t type) const;

  // The entity's state including the pending batch, from a cache of
  // recently used entities in front of the index (the writer's Prepare
  // reads every entity an event names; most are named again and again).
  Result<std::optional<EntityState>> Current(uint32_t type, std::string_view id) override;

 private:
  class DbReader final : public KeyReader {
   public:
    explicit DbReader(IndexDb* db) : db_(db) {}
    Result<std::optional<std::string>> Get(std::string_view key) const override {
      return db_->Get(rocksdb::ReadOptions(), key);
    }

   private:
    IndexDb* db_;
  };

  using KeyMap = std::map<std::string, std::pair<uint64_t, KeyedEntry>, std::less<>>;
  struct SealedBatch {
    rocksdb::WriteBatch batch;  // with its meta entry
    IndexMeta meta;
    KeyMap keys;
  };

  void Put(const std::string& key, std::string_view value);
  Status MarkSyncedLocked();
  void Remember(uint32_t type, std::string_view id, EntityState state);
  // The entries of an entity's creation: its place in creation order and
  // its id as a matchable field.
  void PutCreation(uint32_t type, std::string_view id, uint64_t seq);
  Status PutVersion(const VersionRecord& v, uint64_t log_id, int64_t micros);
  Status CheckPin(const RefRecord& ref);
  Status CheckColumns(const OrdinalValues& columns) const;
  Result<uint64_t> NextSeq(uint32_t type);
  void Applied(Lsn lsn, std::string_view payload);

  // Field entries of a version's values (sealed ones by their tokens, with
  // the key id as the entry's value).
  Status PutFieldEntries(uint32_t type, std::string_view id, const OrdinalValues& fields);
  void PutForgotten(const std::string& key_id, Lsn lsn);

  IndexDb* db_;
  Catalog* catalog_;
  Protector* protector_ = nullptr;
  rocksdb::WriteBatch batch_;
  DbReader reader_;  // committed entries only
  KeyMap pending_keys_;
  IndexMeta meta_;                            // including the pending batch
  IndexMeta sealed_meta_;                     // as of the last Seal
  std::map<uint32_t, uint64_t> seqs_;         // last creation seq per type (pending)
  std::map<uint32_t, uint64_t> sealed_seqs_;  // as of the last Seal
  size_t pending_ = 0;

  mutable std::mutex sealed_mu_;
  std::deque<std::shared_ptr<SealedBatch>> sealed_;  // guarded by sealed_mu_
  std::atomic<size_t> sealed_count_{0};

  std::mutex write_mu_;  // one WriteSealed or MarkSynced at a time
  IndexMeta written_;    // as of the last batch written; guarded by write_mu_
  std::atomic<Lsn> synced_lsn_{0};

  // Entities by (type, id), including every entity a pending or sealed batch
  // touched (so it is the truth for them until they are written). A batch
  // that is abandoned empties it; Seal empties it, with nothing left
  // unwritten, once it holds more than kCachedEntities.
  static constexpr size_t kCachedEntities = 100000;
  std::map<std::pair<uint32_t, std::string>, EntityState, std::less<>> cache_;
};

}  // namespace quipu::audit

#endif  // QUIPU_AUDIT_INDEX_APPLY_H_
