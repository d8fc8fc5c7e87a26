// audit/index_apply.cc — applying records to the derived index.
#include "audit/index_apply.h"

#include "audit/idempotency.h"
#include "audit/index_keys.h"
#include "audit/index_purge.h"
#include "util/crc32c.h"
#include "util/quote.h"

namespace quipu::audit {

namespace {

Status Bad(const std::string& what) { return Status::Corruption("audit event record: " + what); }

// Whether `value` may be stored in field `spec`: a plain field holds its
// kind, a protected one a sealed value of its kind and protection.
bool Fits(const FieldSpec& spec, const Value& value) {
  if (spec.protection == Protection::kPlain) return value.kind == spec.kind;
  SealedParts parts;
  return value.kind == FieldKind::kSealed && DecodeSealed(value.text, &parts).ok() &&
         parts.kind == spec.kind && parts.protection == spec.protection;
}

// A type or column record into `catalog`, as a replay: "has entities"
// only matters for refusing a change a writer asks for.
Status ReplayCatalogRecord(Catalog* catalog, std::string_view payload) {
  const audit::HasEntities replaying = [](uint32_t) { return false; };
  auto kind = PeekKind(payload);
  if (!kind.ok()) return kind.status();
  if (*kind == RecordKind::kType) {
    TypeRecord rec;
    QUIPU_RETURN_IF_ERROR(DecodeType(payload, &rec));
    return catalog->ApplyType(rec, replaying);
  }
  if (*kind == RecordKind::kColumn) {
    ColumnRecord rec;
    QUIPU_RETURN_IF_ERROR(DecodeColumn(payload, &rec));
    return catalog->ApplyColumn(rec);
  }
  return Status::Corruption("not a type or column record");
}

}  // namespace

IndexApplier::IndexApplier(IndexDb* db, Catalog* catalog)
    : db_(db), catalog_(catalog), reader_(db) {}

std::optional<std::pair<uint64_t, KeyedEntry>> IndexApplier::PendingKey(
    std::string_view key) const {
  if (auto it = pending_keys_.find(key); it != pending_keys_.end()) return it->second;
  std::lock_guard<std::mutex> lock(sealed_mu_);
  for (auto b = sealed_.rbegin(); b != sealed_.rend(); ++b) {
    if (auto it = (*b)->keys.find(key); it != (*b)->keys.end()) return it->second;
  }
  return std::nullopt;
}

Status IndexApplier::Load() {
  auto meta = db_->ReadMeta();
  if (!meta.ok()) return meta.status();
  meta_ = sealed_meta_ = *meta;
  {
    std::lock_guard<std::mutex> lock(write_mu_);
    written_ = *meta;
  }
  auto synced = db_->ReadSyncPoint();
  if (!synced.ok()) return synced.status();
  synced_lsn_.store(*synced, std::memory_order_release);
  cache_.clear();
  seqs_.clear();
  sealed_seqs_.clear();
  return Status::OK();
}

Status IndexApplier::LoadCatalog() {
  const std::string lower(1, keys::kCatalog);
  IndexSnapshot snap(db_);
  BoundedIterator it(snap, lower, keys::Successor(lower));
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    const Lsn lsn = keys::GetBig64(it->key().data() + 1);
    Status s = ReplayCatalogRecord(catalog_, View(it->value()));
    if (!s.ok()) return s.WithContext("index catalog entry of LSN " + std::to_string(lsn));
  }
  return FromRocks(it->status(), "read catalog");
}

Result<std::optional<EntityState>> IndexApplier::Current(uint32_t type, std::string_view id) {
  if (auto it = cache_.find(std::make_pair(type, std::string(id))); it != cache_.end()) {
    return std::optional<EntityState>(it->second);
  }
  auto entity = ReadEntity(reader_, type, id);
  if (!entity.ok()) return entity.status();
  if (!*entity) return std::optional<EntityState>();
  auto version = ReadVersion(reader_, type, id, (*entity)->count);
  if (!version.ok()) return version.status();
  if (!*version) {
    return Status::Corruption("index: the newest version of " + QuoteInput(id) + " is missing");
  }
  EntityState state{(*entity)->seq, (*entity)->count, std::move((*version)->fields)};
  Remember(type, id, state);
  return std::optional<EntityState>(std::move(state));
}

void IndexApplier::Remember(uint32_t type, std::string_view id, EntityState state) {
  cache_.insert_or_assign(std::make_pair(type, std::string(id)), std::move(state));
}

void IndexApplier::Put(const std::string& key, std::string_view value) {
  batch_.Put(key, rocksdb::Slice(value.data(), value.size()));
}

size_t IndexApplier::pending_bytes() const { return batch_.GetDataSize(); }

bool IndexApplier::HasEntities(uint32_t type) const {
  auto it = seqs_.find(type);
  if (it != seqs_.end()) return it->second > 0;
  IndexSnapshot snap(db_);
  BoundedIterator order(snap, keys::OrderPrefix(type), keys::Successor(keys::OrderPrefix(type)));
  order->SeekToFirst();
  return order->Valid();
}

Result<uint64_t> IndexApplier::NextSeq(uint32_t type) {
  auto it = seqs_.find(type);
  if (it == seqs_.end()) {
    // The first new entity of this type since Load: its last seq is the last
    // O key of the type (committed; the batch holds none yet).
    IndexSnapshot snap(db_);
    const std::string prefix = keys::OrderPrefix(type);
    BoundedIterator order(snap, prefix, keys::Successor(prefix));
    order->SeekToLast();
    QUIPU_RETURN_IF_ERROR(FromRocks(order->status(), "read entity order"));
    const uint64_t last = order->Valid() ? keys::GetBig64(order->key().data() + 5) : 0;
    it = seqs_.emplace(type, last).first;
  }
  return ++it->second;
}

void IndexApplier::Applied(Lsn lsn, std::string_view payload) {
  meta_.applied_lsn = lsn;
  meta_.applied_crc = crc32c::Value(payload);
  ++pending_;
}

void IndexApplier::PutCreation(uint32_t type, std::string_view id, uint64_t seq) {
  Put(keys::Order(type, seq), id);
  Put(keys::FieldEntry(keys::kExact, type, keys::kIdField, id, id), {});
  Put(keys::FieldEntry(keys::kFolded, type, keys::kIdField, keys::Folded(id), id), {});
}

Status IndexApplier::PutVersion(const VersionRecord& v, uint64_t log_id, int64_t micros) {
  auto view = catalog_->TypeAt(v.type);
  if (!view) return Bad("unknown type ordinal " + std::to_string(v.type));
  const TypeSchema& schema = *view->schema;
  uint32_t previous = 0;
  for (size_t i = 0; i < v.fields.size(); ++i) {
    const auto& [ordinal, value] = v.fields[i];
    if (ordinal >= schema.fields.size() || !Fits(schema.fields[ordinal], value) ||
        (i > 0 && ordinal <= previous)) {
      return Bad("field ordinal " + std::to_string(ordinal) + " does not fit type '" + schema.name +
                 "'");
    }
    previous = ordinal;
  }
  auto entity = Current(v.type, v.id);
  if (!entity.ok()) return entity.status();
  EntityEntry e;
  if (*entity) e = EntityEntry{(*entity)->seq, (*entity)->count};
  if (v.number != e.count + 1) {
    return Bad("version " + std::to_string(v.number) + " of " + QuoteInput(v.id) +
               " follows version " + std::to_string(e.count));
  }
  if (e.count == 0) {
    auto seq = NextSeq(v.type);
    if (!seq.ok()) return seq.status();
    e.seq = *seq;
    PutCreation(v.type, v.id, e.seq);
  }
  e.count = v.number;
  Put(keys::Entity(v.type, v.id), EncodeEntity(e));
  Put(keys::Version(v.type, v.id, v.number), EncodeVersion(VersionEntry{log_id, micros, v.fields}));
  QUIPU_RETURN_IF_ERROR(PutFieldEntries(v.type, v.id, v.fields));
  Remember(v.type, v.id, EntityState{e.seq, e.count, v.fields});
  return Status::OK();
}

// Every field of every version is indexed, whether or not its schema marks it
// `indexed` today: a schema may mark it later, and matching covers every
// version ever written. A sealed value's tokens name its data key, so that
// a query can tell the tokens of a forgotten subject.
Status IndexApplier::PutFieldEntries(uint32_t type, std::string_view id,
                                     const OrdinalValues& fields) {
  for (const auto& [ordinal, value] : fields) {
    std::string key_id;
    if (value.kind == FieldKind::kSealed) {
      SealedParts parts;
      QUIPU_RETURN_IF_ERROR(DecodeSealed(value.text, &parts));
      key_id.assign(parts.key_id);
    }
    auto terms = TermsOf(protector_, value, Scope{'f', type, ordinal});
    if (!terms.ok()) return terms.status();
    for (const auto& [tag, bytes] : *terms) {
      Put(keys::FieldEntry(tag, type, ordinal, bytes, id), key_id);
    }
  }
  return Status::OK();
}

void IndexApplier::PutForgotten(const std::string& key_id, Lsn lsn) {
  std::string value;
  keys::PutBig64(&value, lsn);
  Put(keys::Forgotten(key_id), value);
  if (protector_ != nullptr) protector_->AddForgotten(key_id);
}

Status IndexApplier::ApplyForget(const ForgetRecord& rec, std::string_view payload, Lsn lsn) {
  if (!catalog_->TypeAt(rec.type)) {
    return Bad("forget record of unknown type ordinal " + std::to_string(rec.type));
  }
  for (const std::string& key_id : rec.key_ids) PutForgotten(key_id, lsn);
  Put(keys::Purge(lsn), payload);
  Applied(lsn, payload);
  return Status::OK();
}

Status IndexApplier::CheckPin(const RefRecord& ref) {
  if (!catalog_->TypeAt(ref.type)) {
    return Bad("pin of unknown type ordinal " + std::to_string(ref.type));
  }
  auto entity = Current(ref.type, ref.id);
  if (!entity.ok()) return entity.status();
  if (!*entity || ref.number == 0 || ref.number > (*entity)->count) {
    return Bad("pin of missing version " + std::to_string(ref.number) + " of " +
               QuoteInput(ref.id));
  }
  return Status::OK();
}

Status IndexApplier::CheckColumns(const OrdinalValues& columns) const {
  for (const auto& [ordinal, value] : columns) {
    auto column = catalog_->ColumnAt(ordinal);
    if (!column ||
        !Fits(FieldSpec{column->name, column->kind, false, false, column->protection, 0}, value)) {
      return Bad("column ordinal " + std::to_string(ordinal) + " does not fit");
    }
  }
  return Status::OK();
}

Status IndexApplier::ApplyEvent(const EventRecord& rec, std::string_view payload, Lsn lsn) {
  if (rec.log_id != meta_.last_log_id + 1) {
    return Bad("log_id " + std::to_string(rec.log_id) + " where " +
               std::to_string(meta_.last_log_id + 1) + " was due");
  }
  if (rec.idempotency && !CheckIdempotencyKey(rec.idempotency->key).ok()) {
    return Bad("malformed idempotency key");
  }
  for (const VersionRecord& v : rec.versions) {
    QUIPU_RETURN_IF_ERROR(PutVersion(v, rec.log_id, rec.micros));
  }
  QUIPU_RETURN_IF_ERROR(CheckPin(rec.actor));
  for (const RefRecord& t : rec.targets) QUIPU_RETURN_IF_ERROR(CheckPin(t));
  QUIPU_RETURN_IF_ERROR(CheckColumns(rec.columns));

  const uint64_t keyed = meta_.keyed_count + (rec.idempotency ? 1 : 0);
  std::string row = EncodeRowHeader(lsn, keyed);
  row.append(payload);
  Put(keys::Row(rec.log_id), row);
  Put(keys::Time(rec.micros, rec.log_id), {});
  Put(keys::Posting(rec.actor.type, rec.actor.id, keys::kAsActor, rec.micros, rec.log_id), {});
  // An entity named twice as a target gets one posting (same key).
  for (const RefRecord& t : rec.targets) {
    Put(keys::Posting(t.type, t.id, keys::kAsTarget, rec.micros, rec.log_id), {});
  }
  if (rec.idempotency) {
    const IdempotencyRecord& idem = *rec.idempotency;
    const KeyedEntry entry{idem.fingerprint, idem.written_micros, keyed};
    Put(keys::KeyEntry(idem.key, rec.log_id), EncodeKeyed(entry));
    pending_keys_.insert_or_assign(idem.key, std::make_pair(rec.log_id, entry));
    std::string seq_value;
    keys::PutTerminated(&seq_value, idem.key);
    keys::PutBig64(&seq_value, rec.log_id);
    Put(keys::KeySeq(keyed), seq_value);
  }
  meta_.last_log_id = rec.log_id;
  meta_.keyed_count = keyed;
  Applied(lsn, payload);
  return Status::OK();
}

Status IndexApplier::ApplyType(const TypeRecord& rec, std::string_view payload, Lsn lsn) {
  QUIPU_RETURN_IF_ERROR(
      catalog_->ApplyType(rec, [this](uint32_t type) { return HasEntities(type); }));
  Put(keys::Catalog(lsn), payload);
  Applied(lsn, payload);
  return Status::OK();
}

Status IndexApplier::ApplyColumn(const ColumnRecord& rec, std::string_view payload, Lsn lsn) {
  QUIPU_RETURN_IF_ERROR(catalog_->ApplyColumn(rec));
  Put(keys::Catalog(lsn), payload);
  Applied(lsn, payload);
  return Status::OK();
}

Status IndexApplier::ApplyCarry(std::string_view payload, Lsn lsn) {
  Put(keys::Purge(lsn), payload);
  Applied(lsn, payload);
  return Status::OK();
}

Status IndexApplier::ApplyPurge(const PurgeRecord& rec, std::string_view payload, Lsn lsn) {
  if (rec.first_kept > lsn || rec.last_log_id > meta_.last_log_id || rec.carried >= lsn) {
    return Status::Corruption("audit purge record: it purges past itself (first kept LSN " +
                              std::to_string(rec.first_kept) + ", log_id " +
                              std::to_string(rec.last_log_id) + ")");
  }
  // The drop reads what is written, and must not be undone by RocksDB
  // losing an unlogged catch-up batch from before it.
  QUIPU_RETURN_IF_ERROR(Commit());
  QUIPU_RETURN_IF_ERROR(db_->Flush());
  QUIPU_RETURN_IF_ERROR(DropPurgedEntries(db_, rec.last_log_id, protector_));
  QUIPU_RETURN_IF_ERROR(DropRetentionRecordsBefore(db_, rec.first_kept));
  Put(keys::Purge(lsn), payload);
  Applied(lsn, payload);
  QUIPU_RETURN_IF_ERROR(Commit());
  return MarkSynced();
}

Status IndexApplier::ApplyCarried(const CarryRecord& c) {
  if (meta_.applied_lsn != 0) {
    return Status::FailedPrecondition("a purge's carried state goes into an empty index only");
  }
  for (const auto& [lsn, payload] : c.catalog) {
    Status s = ReplayCatalogRecord(catalog_, payload);
    if (!s.ok()) return s.WithContext("carried record of LSN " + std::to_string(lsn));
    Put(keys::Catalog(lsn), payload);
  }
  for (const CarriedEntity& e : c.entities) {
    if (!catalog_->TypeAt(e.type)) {
      return Status::Corruption("carried entity " + QuoteInput(e.id) + " of unknown type " +
                                std::to_string(e.type));
    }
    PutCreation(e.type, e.id, e.seq);
    Put(keys::Entity(e.type, e.id), EncodeEntity(EntityEntry{e.seq, e.number}));
    Put(keys::Version(e.type, e.id, e.number),
        EncodeVersion(VersionEntry{e.log_id, e.micros, e.fields}));
    QUIPU_RETURN_IF_ERROR(PutFieldEntries(e.type, e.id, e.fields));
  }
  for (const std::string& key_id : c.forgotten) PutForgotten(key_id, 0);
  // Written as it goes, with a meta that still says "nothing applied": a
  // crash midway leaves entries the next attempt writes again.
  ++pending_;
  return pending_bytes() >= (8 << 20) ? Commit(/*wal=*/false) : Status::OK();
}

Status IndexApplier::FinishBase(const PurgeRecord& purge) {
  meta_.applied_lsn = purge.first_kept - 1;
  meta_.applied_crc = 0;
  meta_.last_log_id = purge.last_log_id;
  meta_.keyed_count = purge.keyed_count;
  ++pending_;
  return Commit(/*wal=*/false);
}

Status IndexApplier::ApplyPayload(std::string_view payload, Lsn lsn) {
  auto kind = PeekKind(payload);
  Status s = kind.status();
  if (s.ok()) {
    switch (*kind) {
      case RecordKind::kType: {
        TypeRecord rec;
        s = DecodeType(payload, &rec);
        if (s.ok()) s = ApplyType(rec, payload, lsn);
        break;
      }
      case RecordKind::kColumn: {
        ColumnRecord rec;
        s = DecodeColumn(payload, &rec);
        if (s.ok()) s = ApplyColumn(rec, payload, lsn);
        break;
      }
      case RecordKind::kEvent:
      case RecordKind::kKeyedEvent: {
        EventRecord rec;
        s = DecodeEvent(payload, &rec);
        if (s.ok()) s = ApplyEvent(rec, payload, lsn);
        break;
      }
      case RecordKind::kPurge: {
        PurgeRecord rec;
        s = DecodePurge(payload, &rec);
        if (s.ok()) s = ApplyPurge(rec, payload, lsn);
        break;
      }
      case RecordKind::kCarry: {
        CarryRecord rec;  // decoded to check it; what it holds is for a rebuild
        s = DecodeCarry(payload, &rec);
        if (s.ok()) s = ApplyCarry(payload, lsn);
        break;
      }
      case RecordKind::kForget: {
        ForgetRecord rec;
        s = DecodeForget(payload, &rec);
        if (s.ok()) s = ApplyForget(rec, payload, lsn);
        break;
      }
    }
  }
  return s.WithContext("LSN " + std::to_string(lsn));
}

Status IndexApplier::MarkSynced() {
  std::lock_guard<std::mutex> lock(write_mu_);
  return MarkSyncedLocked();
}

Status IndexApplier::MarkSyncedLocked() {
  rocksdb::WriteBatch batch;
  std::string value;
  keys::PutBig64(&value, written_.applied_lsn);
  batch.Put(keys::SyncPoint(), value);
  QUIPU_RETURN_IF_ERROR(db_->Write(&batch, /*sync=*/true));
  synced_lsn_.store(written_.applied_lsn, std::memory_order_release);
  return Status::OK();
}

void IndexApplier::Abandon() {
  cache_.clear();
  pending_keys_.clear();
  batch_.Clear();
  pending_ = 0;
  meta_ = sealed_meta_;
  seqs_ = sealed_seqs_;
}

Status IndexApplier::Seal() {
  if (pending_ > 0) {
    Put(keys::Meta(), EncodeMeta(meta_));
    auto sealed = std::make_shared<SealedBatch>();
    sealed->batch = std::move(batch_);
    batch_.Clear();
    sealed->meta = meta_;
    sealed->keys = std::move(pending_keys_);
    pending_keys_.clear();
    pending_ = 0;
    sealed_meta_ = meta_;
    sealed_seqs_ = seqs_;
    {
      std::lock_guard<std::mutex> lock(sealed_mu_);
      sealed_.push_back(std::move(sealed));
      sealed_count_.store(sealed_.size(), std::memory_order_release);
    }
  }
  if (cache_.size() <= kCachedEntities) return Status::OK();
  // Only once nothing unwritten depends on the cache may it forget.
  QUIPU_RETURN_IF_ERROR(WriteSealed());
  cache_.clear();
  return Status::OK();
}

Status IndexApplier::WriteSealed(uint64_t sync_every, bool wal) {
  std::lock_guard<std::mutex> lock(write_mu_);
  for (;;) {
    std::shared_ptr<SealedBatch> next;
    {
      std::lock_guard<std::mutex> sealed_lock(sealed_mu_);
      if (sealed_.empty()) break;
      next = sealed_.front();
    }
    Status s = db_->Write(&next->batch, /*sync=*/false, wal);
    std::lock_guard<std::mutex> sealed_lock(sealed_mu_);
    if (!s.ok()) {
      sealed_.clear();
      sealed_count_.store(0, std::memory_order_release);
      return s;
    }
    // Popped only now: until the write returned, PendingKey found its keys here.
    sealed_.pop_front();
    sealed_count_.store(sealed_.size(), std::memory_order_release);
    written_ = next->meta;
  }
  // A sync point now and then bounds what a crash makes Open redo.
  if (written_.applied_lsn - synced_lsn() >= sync_every) return MarkSyncedLocked();
  return Status::OK();
}

Status IndexApplier::Commit(bool wal) {
  QUIPU_RETURN_IF_ERROR(Seal());
  return WriteSealed(UINT64_MAX, wal);
}

}  // namespace quipu::audit
