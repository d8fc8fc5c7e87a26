// audit/index_purge.cc — dropping purged rows from the derived index, and
// collecting what a purge carries past itself.
#include "audit/index_purge.h"

#include <map>
#include <set>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "audit/index_entries.h"
#include "audit/index_keys.h"

namespace quipu::audit {

namespace {

// Rows per RocksDB write while dropping.
constexpr size_t kRowsPerWrite = 4096;

using EntityKey = std::pair<uint32_t, std::string>;

class SnapReader final : public KeyReader {
 public:
  explicit SnapReader(const IndexSnapshot& snap) : snap_(snap) {}
  Result<std::optional<std::string>> Get(std::string_view key) const override {
    return snap_.Get(key);
  }

 private:
  const IndexSnapshot& snap_;
};

// Every version of one entity, oldest first.
Result<std::vector<std::pair<uint32_t, VersionEntry>>> Versions(const IndexSnapshot& snap,
                                                                uint32_t type,
                                                                std::string_view id) {
  const std::string prefix = keys::VersionPrefix(type, id);
  BoundedIterator it(snap, prefix, keys::Successor(prefix));
  std::vector<std::pair<uint32_t, VersionEntry>> out;
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    VersionEntry v;
    QUIPU_RETURN_IF_ERROR(DecodeVersion(View(it->value()), &v));
    out.emplace_back(keys::GetBig32(it->key().data() + prefix.size()), std::move(v));
  }
  QUIPU_RETURN_IF_ERROR(FromRocks(it->status(), "read versions"));
  return out;
}

// The index of the newest version rows 1..last_log_id wrote; size() if none.
size_t BaseOf(const std::vector<std::pair<uint32_t, VersionEntry>>& versions,
              uint64_t last_log_id) {
  size_t base = versions.size();
  for (size_t i = 0; i < versions.size() && versions[i].second.log_id <= last_log_id; ++i) {
    base = i;
  }
  return base;
}

// Deletes the versions before the entity's base, and each field entry that
// only they held.
Status DropSuperseded(const IndexSnapshot& snap, const EntityKey& entity, uint64_t last_log_id,
                      const Protector* protector, rocksdb::WriteBatch* batch) {
  const auto& [type, id] = entity;
  auto versions = Versions(snap, type, id);
  if (!versions.ok()) return versions.status();
  const size_t base = BaseOf(*versions, last_log_id);
  if (base == versions->size() || base == 0) return Status::OK();
  // (ordinal, tag, bytes) of the field entries the kept versions need.
  std::set<std::tuple<uint32_t, char, std::string>> kept;
  for (size_t i = base; i < versions->size(); ++i) {
    for (const auto& [ordinal, value] : (*versions)[i].second.fields) {
      auto terms = TermsOf(protector, value, Scope{'f', type, ordinal});
      if (!terms.ok()) return terms.status();
      for (auto& [tag, bytes] : *terms) kept.emplace(ordinal, tag, bytes);
    }
  }
  for (size_t i = 0; i < base; ++i) {
    const auto& [number, version] = (*versions)[i];
    batch->Delete(keys::Version(type, id, number));
    for (const auto& [ordinal, value] : version.fields) {
      auto terms = TermsOf(protector, value, Scope{'f', type, ordinal});
      if (!terms.ok()) return terms.status();
      for (auto& [tag, bytes] : *terms) {
        if (kept.emplace(ordinal, tag, bytes).second) {
          batch->Delete(keys::FieldEntry(tag, type, ordinal, bytes, id));
        }
      }
    }
  }
  return Status::OK();
}

// Drops up to kRowsPerWrite of the purged rows still present; false when
// none was left.
Result<bool> DropSomeRows(IndexDb* db, uint64_t last_log_id, const Protector* protector) {
  IndexSnapshot snap(db);
  BoundedIterator it(snap, keys::Row(0), keys::Row(last_log_id + 1));
  rocksdb::WriteBatch batch;
  std::set<EntityKey> touched;
  size_t rows = 0;
  for (it->SeekToFirst(); it->Valid() && rows < kRowsPerWrite; it->Next(), ++rows) {
    RowEntry row;
    QUIPU_RETURN_IF_ERROR(DecodeRow(View(it->value()), &row));
    EventRecord rec;
    QUIPU_RETURN_IF_ERROR(DecodeEvent(row.payload, &rec));
    batch.Delete(it->key());
    batch.Delete(keys::Time(rec.micros, rec.log_id));
    batch.Delete(
        keys::Posting(rec.actor.type, rec.actor.id, keys::kAsActor, rec.micros, rec.log_id));
    for (const RefRecord& t : rec.targets) {
      batch.Delete(keys::Posting(t.type, t.id, keys::kAsTarget, rec.micros, rec.log_id));
    }
    if (rec.idempotency) {
      batch.Delete(keys::KeyEntry(rec.idempotency->key, rec.log_id));
      batch.Delete(keys::KeySeq(row.keyed_count));
    }
    for (const VersionRecord& v : rec.versions) touched.emplace(v.type, v.id);
  }
  QUIPU_RETURN_IF_ERROR(FromRocks(it->status(), "read purged rows"));
  if (rows == 0) return false;
  for (const EntityKey& e : touched) {
    QUIPU_RETURN_IF_ERROR(DropSuperseded(snap, e, last_log_id, protector, &batch));
  }
  QUIPU_RETURN_IF_ERROR(db->Write(&batch, /*sync=*/false));
  return true;
}

// Adds `rec` to `out` when it has something, and starts a new one.
class CarryBuilder {
 public:
  CarryBuilder(Lsn first_kept, size_t max_bytes,
               const std::function<Status(const CarryRecord&)>& emit)
      : max_bytes_(max_bytes), emit_(emit) {
    rec_.first_kept = first_kept;
  }

  // An item goes into a new record when it would take this one past the
  // bound (so a record outgrows it only by holding one large item).
  Status AddCatalog(Lsn lsn, std::string payload) {
    QUIPU_RETURN_IF_ERROR(Room(payload.size() + 16));
    rec_.catalog.emplace_back(lsn, std::move(payload));
    return Status::OK();
  }
  Status AddEntity(CarriedEntity e) {
    size_t size = e.id.size() + 48;
    for (const auto& [ordinal, value] : e.fields) size += value.text.size() + 16;
    QUIPU_RETURN_IF_ERROR(Room(size));
    rec_.entities.push_back(std::move(e));
    return Status::OK();
  }
  Status AddForgotten(std::string key_id) {
    QUIPU_RETURN_IF_ERROR(Room(key_id.size() + 2));
    rec_.forgotten.push_back(std::move(key_id));
    return Status::OK();
  }
  Status Finish() {
    if (Empty()) return Status::OK();
    return Emit();
  }

 private:
  bool Empty() const {
    return rec_.catalog.empty() && rec_.entities.empty() && rec_.forgotten.empty();
  }
  Status Room(size_t size) {
    const bool empty = Empty();
    if (!empty && bytes_ + size > max_bytes_) QUIPU_RETURN_IF_ERROR(Emit());
    bytes_ += size;
    return Status::OK();
  }
  Status Emit() {
    QUIPU_RETURN_IF_ERROR(emit_(rec_));
    rec_.catalog.clear();
    rec_.entities.clear();
    rec_.forgotten.clear();
    bytes_ = 0;
    return Status::OK();
  }

  const size_t max_bytes_;
  const std::function<Status(const CarryRecord&)>& emit_;
  CarryRecord rec_;
  size_t bytes_ = 0;
};

}  // namespace

namespace {
constexpr std::string_view kNotePrefix = "audit purge record at LSN ";
}  // namespace

std::string PurgeNote(Lsn purge_lsn) {
  return std::string(kNotePrefix) + std::to_string(purge_lsn);
}

Result<Lsn> PurgeLsnFromNote(std::string_view note) {
  Lsn lsn = 0;
  const bool prefixed = note.substr(0, kNotePrefix.size()) == kNotePrefix;
  note.remove_prefix(prefixed ? kNotePrefix.size() : note.size());
  for (char c : note) {
    if (c < '0' || c > '9' || lsn > (UINT64_MAX - 9) / 10) {
      lsn = 0;
      break;
    }
    lsn = lsn * 10 + static_cast<Lsn>(c - '0');
  }
  if (lsn == 0) {
    return Status::Corruption(
        "the log was purged, but its purge marker names no purge record of the audit store "
        "(a purge the store did not record)");
  }
  return lsn;
}

Result<AppliedPurge> ReadRecordedPurge(Log* log, std::string_view note,
                                       const std::function<Status(const CarryRecord&)>& carried) {
  auto at = PurgeLsnFromNote(note);
  if (!at.ok()) return at.status();
  const Lsn first = log->FirstLsn();
  auto unrecorded = [&](const std::string& why) {
    return Status::Corruption("the log starts at LSN " + std::to_string(first) +
                              ", but its purge record (LSN " + std::to_string(*at) + ") " + why);
  };
  if (*at <= first || *at > log->LastLsn()) return unrecorded("is not in the log");
  auto reader = log->NewReader(*at);
  if (!reader.ok()) return reader.status();
  auto more = (*reader)->Next();
  if (!more.ok()) return more.status();
  if (!*more) return unrecorded("is not in the log");
  AppliedPurge out;
  out.lsn = *at;
  auto kind = PeekKind((*reader)->payload());
  if (!kind.ok() || *kind != RecordKind::kPurge) return unrecorded("is not a purge record");
  QUIPU_RETURN_IF_ERROR(DecodePurge((*reader)->payload(), &out.rec));
  if (out.rec.first_kept != first) {
    return unrecorded("says the log starts at LSN " + std::to_string(out.rec.first_kept));
  }
  if (!carried) return out;
  if (out.rec.carried > *at - first) return unrecorded("names carry records before the log");
  reader = log->NewReader(*at - out.rec.carried);
  if (!reader.ok()) return reader.status();
  for (uint32_t i = 0; i < out.rec.carried; ++i) {
    more = (*reader)->Next();
    if (!more.ok()) return more.status();
    CarryRecord rec;
    kind = *more ? PeekKind((*reader)->payload()) : Result<RecordKind>(RecordKind::kType);
    if (!kind.ok() || *kind != RecordKind::kCarry) return unrecorded("lacks its carry records");
    QUIPU_RETURN_IF_ERROR(DecodeCarry((*reader)->payload(), &rec));
    if (rec.first_kept != first) return unrecorded("lacks its carry records");
    QUIPU_RETURN_IF_ERROR(carried(rec));
  }
  return out;
}

Result<std::optional<AppliedPurge>> LastPurge(const IndexSnapshot& snap) {
  const std::string lower(1, keys::kPurge);
  BoundedIterator it(snap, lower, keys::Successor(lower));
  for (it->SeekToLast(); it->Valid(); it->Prev()) {
    const std::string_view payload = View(it->value());
    auto kind = PeekKind(payload);
    if (!kind.ok()) return kind.status();
    if (*kind != RecordKind::kPurge) continue;
    AppliedPurge out;
    out.lsn = keys::GetBig64(it->key().data() + 1);
    QUIPU_RETURN_IF_ERROR(DecodePurge(payload, &out.rec));
    return std::optional<AppliedPurge>(std::move(out));
  }
  QUIPU_RETURN_IF_ERROR(FromRocks(it->status(), "read purge records"));
  return std::optional<AppliedPurge>();
}

Result<std::optional<AppliedPurge>> FinishPurge(IndexDb* db, Log* log) {
  IndexSnapshot snap(db);
  auto purge = LastPurge(snap);
  if (!purge.ok() || !*purge || log == nullptr) return purge;
  const AppliedPurge& last = **purge;
  if (last.rec.first_kept > log->FirstLsn()) {
    QUIPU_RETURN_IF_ERROR(log->DropSegmentsBefore(last.rec.first_kept, PurgeNote(last.lsn)));
  }
  return purge;
}

Status DropPurgedEntries(IndexDb* db, uint64_t last_log_id, const Protector* protector) {
  for (;;) {
    auto more = DropSomeRows(db, last_log_id, protector);
    if (!more.ok()) return more.status();
    if (!*more) return Status::OK();
  }
}

Status DropRetentionRecordsBefore(IndexDb* db, Lsn first_kept) {
  rocksdb::WriteBatch batch;
  batch.DeleteRange(keys::Purge(0), keys::Purge(first_kept));
  return db->Write(&batch, /*sync=*/false);
}

Status CollectCarried(const IndexSnapshot& snap, Lsn first_kept, uint64_t last_log_id,
                      size_t max_bytes, const std::function<Status(const CarryRecord&)>& emit) {
  CarryBuilder out(first_kept, max_bytes, emit);
  {
    BoundedIterator it(snap, keys::Catalog(0), keys::Catalog(first_kept));
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
      QUIPU_RETURN_IF_ERROR(
          out.AddCatalog(keys::GetBig64(it->key().data() + 1), std::string(View(it->value()))));
    }
    QUIPU_RETURN_IF_ERROR(FromRocks(it->status(), "read catalog"));
  }
  const std::string lower(1, keys::kEntity);
  BoundedIterator it(snap, lower, keys::Successor(lower));
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    std::string_view key = View(it->key());
    CarriedEntity e;
    e.type = keys::GetBig32(key.data() + 1);
    key.remove_prefix(5);
    if (!keys::GetTerminated(&key, &e.id)) return Status::Corruption("index: bad entity key");
    EntityEntry entry;
    QUIPU_RETURN_IF_ERROR(DecodeEntity(View(it->value()), &entry));
    auto versions = Versions(snap, e.type, e.id);
    if (!versions.ok()) return versions.status();
    const size_t base = BaseOf(*versions, last_log_id);
    if (base == versions->size()) continue;  // created after the purged rows
    auto& [number, version] = (*versions)[base];
    e.seq = entry.seq;
    e.number = number;
    e.log_id = version.log_id;
    e.micros = version.micros;
    e.fields = std::move(version.fields);
    QUIPU_RETURN_IF_ERROR(out.AddEntity(std::move(e)));
  }
  QUIPU_RETURN_IF_ERROR(FromRocks(it->status(), "read entities"));
  // Keys that forget records before the cut destroyed: the records go, and
  // a rebuild must still know that their tokens match nothing.
  const std::string forgotten(1, keys::kForgotten);
  BoundedIterator f(snap, forgotten, keys::Successor(forgotten));
  for (f->SeekToFirst(); f->Valid(); f->Next()) {
    if (f->value().size() != 8) return Status::Corruption("index: bad forgotten-key entry");
    if (keys::GetBig64(f->value().data()) >= first_kept) continue;
    QUIPU_RETURN_IF_ERROR(out.AddForgotten(std::string(View(f->key()).substr(1))));
  }
  QUIPU_RETURN_IF_ERROR(FromRocks(f->status(), "read forgotten keys"));
  return out.Finish();
}

}  // namespace quipu::audit
