// audit/index_repair.cc — undoing the index entries of lost records.
#include "audit/index_repair.h"

#include <rocksdb/comparator.h>
#include <rocksdb/utilities/write_batch_with_index.h>

#include <map>
#include <memory>

#include "audit/index_entries.h"
#include "audit/index_keys.h"
#include "util/crc32c.h"

namespace quipu::audit {

namespace {

class Undo final : public KeyReader {
 public:
  Undo(IndexDb* db, const Protector* protector)
      : db_(db),
        protector_(protector),
        batch_(rocksdb::BytewiseComparator(), 0, /*overwrite_key=*/true) {}

  Result<std::optional<std::string>> Get(std::string_view key) const override {
    std::string value;
    rocksdb::Status s = batch_.GetFromBatchAndDB(db_->db(), rocksdb::ReadOptions(),
                                                 rocksdb::Slice(key.data(), key.size()), &value);
    if (s.IsNotFound()) return std::optional<std::string>();
    QUIPU_RETURN_IF_ERROR(FromRocks(s, "read"));
    return std::optional<std::string>(std::move(value));
  }

  void Delete(const std::string& key) { batch_.Delete(key); }
  void Put(const std::string& key, const std::string& value) { batch_.Put(key, value); }
  rocksdb::WriteBatch* batch() { return batch_.GetWriteBatch(); }

  // Takes back one event: its row and relations, then the versions it wrote.
  Status Event(const EventRecord& rec) {
    Delete(keys::Row(rec.log_id));
    Delete(keys::Time(rec.micros, rec.log_id));
    Delete(keys::Posting(rec.actor.type, rec.actor.id, keys::kAsActor, rec.micros, rec.log_id));
    for (const RefRecord& t : rec.targets) {
      Delete(keys::Posting(t.type, t.id, keys::kAsTarget, rec.micros, rec.log_id));
    }
    if (rec.idempotency) Delete(keys::KeyEntry(rec.idempotency->key, rec.log_id));
    for (auto v = rec.versions.rbegin(); v != rec.versions.rend(); ++v) {
      QUIPU_RETURN_IF_ERROR(Version(*v));
    }
    return Status::OK();
  }

  // Sets each entity whose versions were taken back to its newest
  // remaining version, or removes it if none remains. (Not a decrement per
  // version: a batch lost before the cut took its version with it, so the
  // entity's count may be past versions that are not there.)
  Status Entities() {
    for (const auto& [key, seq] : touched_) {
      const auto& [type, id] = key;
      const std::string prefix = keys::VersionPrefix(type, id);
      const std::string upper = keys::Successor(prefix);
      rocksdb::ReadOptions read;
      rocksdb::Slice lower_slice(prefix), upper_slice(upper);
      read.iterate_lower_bound = &lower_slice;
      read.iterate_upper_bound = &upper_slice;
      std::unique_ptr<rocksdb::Iterator> it(
          batch_.NewIteratorWithBase(db_->db()->NewIterator(read)));
      it->SeekToLast();
      QUIPU_RETURN_IF_ERROR(FromRocks(it->status(), "read versions"));
      if (it->Valid()) {
        const uint32_t number = keys::GetBig32(it->key().data() + prefix.size());
        Put(keys::Entity(type, id), EncodeEntity(EntityEntry{seq, number}));
        continue;
      }
      Delete(keys::Entity(type, id));
      Delete(keys::Order(type, seq));
      Delete(keys::FieldEntry(keys::kExact, type, keys::kIdField, id, id));
      Delete(keys::FieldEntry(keys::kFolded, type, keys::kIdField, keys::Folded(id), id));
    }
    return Status::OK();
  }

 private:
  Status Version(const VersionRecord& v) {
    auto entity = ReadEntity(*this, v.type, v.id);
    if (!entity.ok()) return entity.status();
    if (!*entity) return Status::Corruption("index: a version to undo has no entity");
    touched_.emplace(std::make_pair(v.type, v.id), (*entity)->seq);
    Delete(keys::Version(v.type, v.id, v.number));
    // A field entry goes only if no remaining version has that value (or,
    // for the case-folded entry, a value that folds alike).
    for (const auto& [ordinal, value] : v.fields) {
      const Scope scope{'f', v.type, ordinal};
      auto terms = TermsOf(protector_, value, scope);
      if (!terms.ok()) return terms.status();
      for (const auto& [tag, bytes] : *terms) {
        bool kept = false;
        for (uint32_t n = 1; n < v.number && !kept; ++n) {
          auto older = ReadVersion(*this, v.type, v.id, n);
          if (!older.ok()) return older.status();
          if (!*older) continue;
          for (const auto& [o, old_value] : (*older)->fields) {
            if (o != ordinal) continue;
            auto old_terms = TermsOf(protector_, old_value, scope);
            if (!old_terms.ok()) return old_terms.status();
            for (const auto& term : *old_terms) {
              kept = kept || (term.first == tag && term.second == bytes);
            }
          }
        }
        if (!kept) Delete(keys::FieldEntry(tag, v.type, ordinal, bytes, v.id));
      }
    }
    return Status::OK();
  }

  std::map<std::pair<uint32_t, std::string>, uint64_t> touched_;  // -> creation seq
  IndexDb* db_;
  const Protector* protector_;
  mutable rocksdb::WriteBatchWithIndex batch_;  // reads of it do not change it
};

Status Mismatch(Lsn lsn) {
  return Status::FailedPrecondition("it does not match this log (record " + std::to_string(lsn) +
                                    " differs)");
}

}  // namespace

// A forget record taken back: its keys are no longer known forgotten here
// (the store destroys a key only once its forget record is durable).
Status UndoForget(Undo* undo, std::string_view payload) {
  auto kind = PeekKind(payload);
  if (!kind.ok()) return kind.status();
  if (*kind != RecordKind::kForget) return Status::OK();
  ForgetRecord rec;
  QUIPU_RETURN_IF_ERROR(DecodeForget(payload, &rec));
  for (const std::string& key_id : rec.key_ids) undo->Delete(keys::Forgotten(key_id));
  return Status::OK();
}

Result<uint64_t> UndoAfter(IndexDb* db, Lsn keep, uint32_t keep_crc, const Protector* protector) {
  auto meta = db->ReadMeta();
  if (!meta.ok()) return meta.status();
  if (meta->applied_lsn <= keep) return uint64_t{0};
  Undo undo(db, protector);
  uint64_t undone = 0;
  IndexMeta next;
  next.applied_lsn = keep;
  next.applied_crc = keep_crc;
  {
    IndexSnapshot snap(db);
    const std::string rows(1, keys::kRow);
    BoundedIterator it(snap, rows, keys::Successor(rows));
    for (it->SeekToLast(); it->Valid(); it->Prev()) {
      RowEntry row;
      QUIPU_RETURN_IF_ERROR(DecodeRow(View(it->value()), &row));
      if (row.lsn <= keep) {
        if (row.lsn == keep && crc32c::Value(row.payload) != keep_crc) return Mismatch(keep);
        next.last_log_id = keys::GetBig64(it->key().data() + 1);
        next.keyed_count = row.keyed_count;
        break;
      }
      EventRecord rec;
      QUIPU_RETURN_IF_ERROR(DecodeEvent(row.payload, &rec));
      if (rec.idempotency) undo.Delete(keys::KeySeq(row.keyed_count));
      QUIPU_RETURN_IF_ERROR(undo.Event(rec).WithContext("undoing LSN " + std::to_string(row.lsn)));
      ++undone;
    }
    QUIPU_RETURN_IF_ERROR(FromRocks(it->status(), "read rows"));
    BoundedIterator catalog(snap, keys::Catalog(keep + 1),
                            keys::Successor(std::string(1, keys::kCatalog)));
    for (catalog->SeekToFirst(); catalog->Valid(); catalog->Next()) {
      undo.Delete(std::string(View(catalog->key())));
      ++undone;
    }
    QUIPU_RETURN_IF_ERROR(FromRocks(catalog->status(), "read catalog"));
    // Purge and carry records after `keep` (a purge itself is never after
    // the sync point, but its carry records may be) and, when every row up
    // to `keep` was purged, the counters the newest purge left.
    const std::string purges(1, keys::kPurge);
    BoundedIterator purge(snap, purges, keys::Successor(purges));
    bool counted = next.last_log_id > 0;
    for (purge->SeekToLast(); purge->Valid(); purge->Prev()) {
      const Lsn lsn = keys::GetBig64(purge->key().data() + 1);
      const std::string_view payload = View(purge->value());
      if (lsn > keep) {
        undo.Delete(std::string(View(purge->key())));
        ++undone;
        QUIPU_RETURN_IF_ERROR(UndoForget(&undo, payload));
        continue;
      }
      auto kind = PeekKind(payload);
      if (!kind.ok()) return kind.status();
      if (counted || *kind != RecordKind::kPurge) continue;
      PurgeRecord rec;
      QUIPU_RETURN_IF_ERROR(DecodePurge(payload, &rec));
      next.last_log_id = rec.last_log_id;
      next.keyed_count = rec.keyed_count;
      counted = true;
    }
    QUIPU_RETURN_IF_ERROR(FromRocks(purge->status(), "read purge records"));
    // The record kept last must be the one the index saw at that LSN.
    auto kept = snap.Get(keys::Catalog(keep));
    if (!kept.ok()) return kept.status();
    if (*kept && crc32c::Value(**kept) != keep_crc) return Mismatch(keep);
    auto kept_purge = snap.Get(keys::Purge(keep));
    if (!kept_purge.ok()) return kept_purge.status();
    if (*kept_purge && crc32c::Value(**kept_purge) != keep_crc) return Mismatch(keep);
  }
  QUIPU_RETURN_IF_ERROR(undo.Entities());
  undo.Put(keys::Meta(), EncodeMeta(next));
  std::string synced;
  keys::PutBig64(&synced, keep);
  undo.Put(keys::SyncPoint(), synced);
  QUIPU_RETURN_IF_ERROR(db->Write(undo.batch(), /*sync=*/true));
  return undone;
}

}  // namespace quipu::audit
