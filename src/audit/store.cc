// audit/store.cc — AuditStore: the writer path over the log and the derived
// index, and the read API.
//
// The writer mutex (write_mu_) serializes "check against the current state
// -> build the record -> Append -> apply to the index", so log_ids and
// versions follow the order of records in the log, which is the order a
// rebuild applies them in.
// Concurrent Emits take write_mu_ once per batch, not once per event: they
// queue, and the head writes everything queued (audit/emit_queue.h).
// Waiting for durability happens after write_mu_ is released: that is what
// lets the next batch be written while this one's fdatasync runs.
//
// An idempotency key is looked up under write_mu_ too, between the check and
// the append, so of two concurrent Emits with one key the second finds the
// first's record applied and writes nothing.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <optional>
#include <thread>

#include "audit/catalog.h"
#include "audit/emit_queue.h"
#include "audit/forget.h"
#include "audit/idempotency.h"
#include "audit/index_open.h"
#include "audit/index_purge.h"
#include "audit/index_read.h"
#include "audit/prepare.h"
#include "audit/retention.h"
#include "quipu/audit.h"
#include "quipu/inspect.h"
#include "quipu/reader.h"
#include "util/quote.h"

namespace quipu {

namespace {

int64_t NowMicros() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

class AuditStoreImpl final : public AuditStore {
 public:
  // `log` is nullptr for a read-only store.
  AuditStoreImpl(std::unique_ptr<Log> log, const AuditOptions& options)
      : log_(std::move(log)),
        policy_(options.log.durability),
        window_{options.idempotency.max_keys,
                static_cast<int64_t>(options.idempotency.max_age.count())},
        sync_every_(options.index_sync_every),
        carry_bytes_(options.log.max_record_size / 2) {}
  ~AuditStoreImpl() override {
    if (!StopCommitter()) return;  // closed already
    if (log_ != nullptr) (void)log_->Close();
    if (index_.db != nullptr) (void)index_.db->Close();
  }

  Status OpenIndex(const std::string& dir, const AuditOptions& options) {
    protector_ = std::make_unique<audit::Protector>(
        options.keys, options.log.env != nullptr ? options.log.env : Env::Default(), dir,
        log_ != nullptr);
    QUIPU_RETURN_IF_ERROR(protector_->CheckMaster());
    auto opened =
        log_ != nullptr
            ? audit::OpenIndexForWriter(dir, log_.get(), &catalog_, protector_.get(), options)
            : audit::OpenIndexForReader(dir, &catalog_, protector_.get(), options);
    if (!opened.ok()) return opened.status();
    index_ = std::move(*opened);
    QUIPU_RETURN_IF_ERROR(
        audit::LoadForgotten(index_.db.get(), protector_.get(), /*finish=*/log_ != nullptr));
    last_log_id_.store(index_.applier->meta().last_log_id, std::memory_order_release);
    auto purge = audit::FinishPurge(index_.db.get(), log_.get());
    if (!purge.ok()) return purge.status();
    if (*purge) {
      purged_log_ids_.store((*purge)->rec.last_log_id, std::memory_order_release);
      first_lsn_.store((*purge)->rec.first_kept, std::memory_order_release);
    }
    if (log_ == nullptr) return Status::OK();
    QUIPU_RETURN_IF_ERROR(audit::TrimKeys(index_.db.get(), index_.applier->meta().keyed_count,
                                          window_.max_keys, log_->DurableLsn()));
    committer_ = std::thread([this] { CommitterLoop(); });
    if (options.retention.empty()) return Status::OK();
    return Retain(options.retention, /*dry_run=*/false).status();
  }

  Status DefineType(const TypeSchema& schema) override {
    std::unique_lock<std::mutex> lock(write_mu_);
    QUIPU_RETURN_IF_ERROR(UsableLocked());
    auto rec = catalog_.PrepareType(
        schema, [this](uint32_t type) { return index_.applier->HasEntities(type); });
    if (!rec.ok()) return rec.status();
    if (!*rec) return Status::OK();
    std::string payload;
    audit::EncodeType(**rec, &payload);
    return WriteLocked(lock, payload, Durability::kImmediate,
                       [&](Lsn at) { return index_.applier->ApplyType(**rec, payload, at); })
        .status();
  }

  std::vector<TypeSchema> Types() const override { return catalog_.Types(); }

  Result<TypeSchema> GetType(std::string_view name) const override {
    auto view = catalog_.LookupType(name);
    if (!view.ok()) return view.status();
    return *view->schema;
  }

  Status RegisterColumn(const ColumnSpec& column) override {
    std::unique_lock<std::mutex> lock(write_mu_);
    QUIPU_RETURN_IF_ERROR(UsableLocked());
    auto rec = catalog_.PrepareColumn(column);
    if (!rec.ok()) return rec.status();
    if (!*rec) return Status::OK();
    std::string payload;
    audit::EncodeColumn(**rec, &payload);
    return WriteLocked(lock, payload, Durability::kImmediate,
                       [&](Lsn at) { return index_.applier->ApplyColumn(**rec, payload, at); })
        .status();
  }

  std::vector<ColumnSpec> Columns() const override { return catalog_.Columns(); }

  Result<EmitResult> Emit(const Event& event, Durability durability) override {
    audit::EmitSlot slot(event, durability);
    if (!event.idempotency_key.empty()) {
      QUIPU_RETURN_IF_ERROR(audit::CheckIdempotencyKey(event.idempotency_key));
      // Hashing reads nothing write_mu_ guards, and a large event takes a
      // while: it is done before queueing. (SHA-256 was checked usable when
      // the log opened its tree.)
      auto fingerprint = audit::FingerprintFor(catalog_, *protector_, event);
      if (!fingerprint.ok()) return fingerprint.status();
      slot.idempotency = audit::IdempotencyRecord{event.idempotency_key, *fingerprint, 0};
    }
    if (emit_queue_.Join(&slot)) LeadEmits();
    return std::move(slot.result);
  }

  Status CheckEvent(const Event& event) override {
    std::optional<audit::Fingerprint> fingerprint;
    if (!event.idempotency_key.empty()) {
      QUIPU_RETURN_IF_ERROR(audit::CheckIdempotencyKey(event.idempotency_key));
      auto keyed = audit::FingerprintFor(catalog_, *protector_, event);
      if (!keyed.ok()) return keyed.status();
      fingerprint = *keyed;
    }
    std::unique_lock<std::mutex> lock(write_mu_);
    QUIPU_RETURN_IF_ERROR(UsableLocked());
    const int64_t now = NowMicros();
    if (fingerprint) {
      auto seen = FindKeyLocked(event.idempotency_key, now);
      if (!seen.ok()) return seen.status();
      if (*seen) {
        if ((*seen)->fingerprint == *fingerprint) return Status::OK();
        return KeyConflict(event.idempotency_key, (*seen)->log_id);
      }
    }
    return audit::PrepareEvent(catalog_, *index_.applier, protector_.get(), NextLogIdLocked(),
                               event, now)
        .status();
  }

  Lsn DurableLsn() const override { return log_ != nullptr ? log_->DurableLsn() : 0; }
  Status WaitDurable(Lsn lsn) override {
    if (log_ == nullptr) return ReadOnlyError();
    return log_->WaitDurable(lsn);
  }
  Log* log() override { return log_.get(); }

  Result<std::vector<EntityVersion>> EntityHistory(std::string_view type,
                                                   std::string_view id) const override {
    QUIPU_RETURN_IF_ERROR(Readable());
    return Read().History(type, id);
  }
  Result<std::vector<EntityVersion>> ListEntities(std::string_view type) const override {
    QUIPU_RETURN_IF_ERROR(Readable());
    audit::IndexRead read = Read();
    std::vector<EntityVersion> out;
    std::string cursor;
    do {
      auto page = read.Entities(type, 10000, cursor);
      if (!page.ok()) return page.status();
      for (EntityVersion& v : page->entities) out.push_back(std::move(v));
      cursor = std::move(page->next_cursor);
    } while (!cursor.empty());
    return out;
  }
  Result<EntityPage> ListEntities(std::string_view type, size_t limit,
                                  std::string_view cursor) const override {
    QUIPU_RETURN_IF_ERROR(Readable());
    return Read().Entities(type, limit, cursor);
  }
  Result<QueryPage> Query(const quipu::Query& query) const override {
    QUIPU_RETURN_IF_ERROR(Readable());
    return Read().RunQuery(query);
  }
  Result<uint64_t> Count(const quipu::Query& query) const override {
    QUIPU_RETURN_IF_ERROR(Readable());
    return Read().Count(query);
  }

  Result<Hit> GetRow(uint64_t log_id) const override {
    QUIPU_RETURN_IF_ERROR(Readable());
    QUIPU_RETURN_IF_ERROR(NotPurged(log_id));
    return Read().Row(log_id);
  }
  Result<Lsn> LsnOfLogId(uint64_t log_id) const override {
    QUIPU_RETURN_IF_ERROR(Readable());
    QUIPU_RETURN_IF_ERROR(NotPurged(log_id));
    return Read().LsnOf(log_id);
  }
  uint64_t LastLogId() const override { return last_log_id_.load(std::memory_order_acquire); }
  Result<ForgetReport> Forget(std::string_view type, std::string_view id) override {
    std::unique_lock<std::mutex> lock(write_mu_);
    QUIPU_RETURN_IF_ERROR(UsableLocked());
    auto view = catalog_.LookupType(type);
    if (!view.ok()) return view.status();
    const uint32_t ordinal = view->type->ordinal;
    auto entity = index_.applier->Current(ordinal, id);
    if (!entity.ok()) return entity.status();
    if (!*entity) {
      return Status::NotFound("no entity " + QuoteInput(id) + " of type " + QuoteInput(type));
    }
    auto rec = audit::PrepareForget(protector_.get(), ordinal, id, NowMicros());
    if (!rec.ok()) return rec.status();
    std::string payload;
    audit::EncodeForget(*rec, &payload);
    // Durable before any key goes, and the keys gone before the lock is
    // released, so no write seals a new value with a key being destroyed.
    auto lsn = AppendLocked(payload, Durability::kBuffered,
                            [&](Lsn at) { return index_.applier->ApplyForget(*rec, payload, at); });
    if (!lsn.ok()) return lsn.status();
    QUIPU_RETURN_IF_ERROR(log_->WaitDurable(*lsn));
    if (!rec->key_ids.empty()) QUIPU_RETURN_IF_ERROR(CommitLocked());
    QUIPU_RETURN_IF_ERROR(audit::FinishForget(index_.db.get(), *protector_, *rec));
    return ForgetReport{*lsn, static_cast<uint32_t>(rec->key_ids.size())};
  }

  Result<KeyReport> KeyStatus() const override {
    return audit::KeyStatusOf(index_.db.get(), *protector_);
  }

  Result<uint64_t> RewrapKeys() override {
    std::unique_lock<std::mutex> lock(write_mu_);
    QUIPU_RETURN_IF_ERROR(UsableLocked());
    return audit::RewrapDataKeys(*protector_);
  }

  const IndexReport& index_report() const override { return index_.report; }
  Result<Lsn> AppliedLsn() const override {
    QUIPU_RETURN_IF_ERROR(Readable());
    return Read().AppliedLsn();
  }
  Status Export(const quipu::Query& filter, Lsn last_lsn,
                const std::function<Status(const ExportedRecord&)>& sink) const override {
    QUIPU_RETURN_IF_ERROR(Readable());
    return Read().Export(filter, last_lsn, sink);
  }

  Result<RetainReport> Retain(const RetentionPolicy& policy, bool dry_run) override {
    if (policy.empty()) return Status::InvalidArgument("a retention policy needs a bound");
    std::unique_lock<std::mutex> lock(write_mu_);
    QUIPU_RETURN_IF_ERROR(UsableLocked());
    QUIPU_RETURN_IF_ERROR(CommitLocked());
    audit::IndexSnapshot snap(index_.db.get());
    auto start = audit::StartRetain(log_.get(), snap, policy, NowMicros(), NextLogIdLocked() - 1);
    if (!start.ok()) return start.status();
    RetainReport report = start->report;
    if (dry_run || start->plan.first_kept == 0) return report;
    const audit::RetentionPlan& plan = start->plan;
    auto root = log_->tree()->Root(plan.first_kept - 1);
    if (!root.ok()) return root.status();
    // Carry records first, each applied as it is appended; the purge record
    // is applied only once it is durable (its drops cannot be taken back).
    Status carried = audit::CollectCarried(
        snap, plan.first_kept, start->cut.last_log_id, carry_bytes_,
        [&](const audit::CarryRecord& rec) {
          std::string payload;
          audit::EncodeCarry(rec, &payload);
          ++report.carry_records;
          return AppendLocked(payload, Durability::kBuffered,
                              [&](Lsn at) { return index_.applier->ApplyCarry(payload, at); })
              .status();
        });
    QUIPU_RETURN_IF_ERROR(carried);
    const audit::PurgeRecord rec =
        audit::MakePurgeRecord(*start, *root, policy, NowMicros(), report.carry_records);
    std::string payload;
    audit::EncodePurge(rec, &payload);
    auto lsn = log_->Append(payload, Durability::kImmediate);
    if (!lsn.ok()) return BreakOnError(lsn.status());
    // The purge is durable: readers hear "purged" from here on, so none sees a
    // dropped row reported as one that never existed while the drops apply.
    purged_log_ids_.store(rec.last_log_id, std::memory_order_release);
    auto apply = [&](Lsn at) { return index_.applier->ApplyPurge(rec, payload, at); };
    QUIPU_RETURN_IF_ERROR(ApplyOrBreak(apply, *lsn));
    first_lsn_.store(rec.first_kept, std::memory_order_release);
    QUIPU_RETURN_IF_ERROR(log_->DropSegmentsBefore(rec.first_kept, audit::PurgeNote(*lsn)));
    report.purged = true;
    report.purge_lsn = *lsn;
    return report;
  }

  Result<Lsn> AppendReplicated(Lsn first, const std::vector<std::string>& records,
                               Durability durability) override {
    std::unique_lock<std::mutex> lock(write_mu_);
    QUIPU_RETURN_IF_ERROR(UsableLocked());
    if (first != log_->LastLsn() + 1) {
      return Status::InvalidArgument("replicated records start at LSN " + std::to_string(first) +
                                     " but this store's next LSN is " +
                                     std::to_string(log_->LastLsn() + 1));
    }
    for (size_t i = 0; i < records.size(); ++i) {
      Status s = audit::CheckReplicable(records[i]);
      if (!s.ok()) return s.WithContext("LSN " + std::to_string(first + i));
    }
    Lsn last = first - 1;
    for (const std::string& payload : records) {
      auto lsn = AppendLocked(payload, Durability::kBuffered,
                              [&](Lsn at) { return index_.applier->ApplyPayload(payload, at); });
      if (!lsn.ok()) return lsn.status();
      last = *lsn;
    }
    lock.unlock();
    if (last >= first && WaitsForDurable(durability)) {
      QUIPU_RETURN_IF_ERROR(log_->WaitDurable(last));
    }
    return last;
  }

  uint64_t PurgedLogIds() const override { return purged_log_ids_.load(std::memory_order_acquire); }
  Lsn FirstLsn() const override { return first_lsn_.load(std::memory_order_acquire); }

  Status Close() override {
    if (!StopCommitter()) return Status::FailedPrecondition("audit store is closed");
    std::lock_guard<std::mutex> lock(write_mu_);
    Status s;
    if (log_ != nullptr) {
      if (broken_.ok()) s = CommitLocked();
      s = FirstError(s, log_->Close());
      // Everything applied is now durable (if the close synced it).
      if (s.ok()) {
        const audit::IndexMeta& meta = index_.applier->meta();
        s = audit::TrimKeys(index_.db.get(), meta.keyed_count, window_.max_keys, meta.applied_lsn);
        // A clean close leaves nothing for the next open to check again,
        // and no RocksDB log for a read-only open to replay.
        if (s.ok()) s = index_.applier->MarkSynced();
        if (s.ok()) s = index_.db->Flush();
      }
    }
    return FirstError(s, index_.db->Close());
  }

 private:
  Status NotPurged(uint64_t log_id) const {
    if (log_id == 0 || log_id > PurgedLogIds()) return Status::OK();
    return Status::NotFound("log_id " + std::to_string(log_id) +
                            " was purged (retention dropped rows 1.." +
                            std::to_string(PurgedLogIds()) + ")");
  }

  static Status ReadOnlyError() { return Status::FailedPrecondition("audit store is read-only"); }

  static Status FirstError(const Status& a, const Status& b) { return a.ok() ? b : a; }

  Status Readable() const {
    if (closed_flag_.load(std::memory_order_acquire)) {
      return Status::FailedPrecondition("audit store is closed");
    }
    return Status::OK();
  }

  // A read of everything appended before it: writes the pending and sealed
  // batches first, if any. (Reads are const; writing is what makes the
  // store's own writes visible to them, not a change of state.)
  audit::IndexRead Read() const {
    if (Unwritten()) {
      auto* self = const_cast<AuditStoreImpl*>(this);
      std::lock_guard<std::mutex> lock(self->write_mu_);
      if (!closed_ && broken_.ok()) (void)self->CommitLocked();  // an error is kept in broken_
    }
    return audit::IndexRead(index_.db.get(), &catalog_, protector_.get());
  }

  // The same for the writer, which holds write_mu_.
  audit::IndexRead ReadLocked() {
    if (Unwritten()) (void)CommitLocked();
    return audit::IndexRead(index_.db.get(), &catalog_, protector_.get());
  }

  // Whether something applied may not be in RocksDB yet. A batch is counted
  // as sealed before it stops being pending, and until after it is written.
  bool Unwritten() const {
    return pending_.load(std::memory_order_acquire) || index_.applier->sealed() > 0;
  }

  // Writes the pending batch and every sealed one to the index, and a sync
  // point when one is due.
  Status CommitLocked() {
    Status s = SealLocked();
    if (s.ok()) s = index_.applier->WriteSealed(sync_every_);
    return BreakOnError(s);
  }

  Status SealLocked() {
    Status s = index_.applier->Seal();
    pending_.store(false, std::memory_order_release);
    return s;
  }

  // A failed index write stops all writes (broken_): the index no longer
  // holds what the log does until a reopen catches it up.
  Status BreakOnError(const Status& s) {
    if (!s.ok() && broken_.ok()) {
      broken_ =
          Status::FailedPrecondition("audit store index diverged from its log: " + s.ToString());
    }
    return s;
  }

  // Writes sealed batches to RocksDB outside write_mu_, so the writer
  // applies the next records meanwhile; and seals a pending batch
  // kCommitDelay after it began, unless a read or a full batch came first:
  // many records per RocksDB write under load, and a record visible to
  // other processes within milliseconds.
  void CommitterLoop() {
    std::unique_lock<std::mutex> lock(write_mu_);
    while (!stop_committer_) {
      commit_cv_.wait(lock,
                      [this] { return stop_committer_ || pending_.load() || sealed_waiting_; });
      if (stop_committer_) break;
      if (!sealed_waiting_) {
        commit_cv_.wait_for(lock, kCommitDelay,
                            [this] { return stop_committer_ || sealed_waiting_; });
        if (stop_committer_) break;
        if (pending_.load() && broken_.ok()) (void)BreakOnError(SealLocked());
      }
      sealed_waiting_ = false;
      lock.unlock();
      Status s = index_.applier->WriteSealed(sync_every_);
      lock.lock();
      (void)BreakOnError(s);
    }
  }

  // Marks the store closed and ends the committer. False if it was closed.
  bool StopCommitter() {
    {
      std::lock_guard<std::mutex> lock(write_mu_);
      if (closed_) return false;
      closed_ = true;
      closed_flag_.store(true, std::memory_order_release);
      stop_committer_ = true;
    }
    commit_cv_.notify_all();
    if (committer_.joinable()) committer_.join();
    return true;
  }

  uint64_t NextLogIdLocked() const { return index_.applier->meta().last_log_id + 1; }

  Result<std::optional<audit::KeyedEvent>> FindKeyLocked(std::string_view key, int64_t now) {
    // Unwritten keys first: a batch written after this lookup is in the snapshot.
    const auto pending = index_.applier->PendingKey(key);
    audit::IndexSnapshot snap(index_.db.get());
    return audit::FindKey(snap, pending ? &*pending : nullptr, index_.applier->meta().keyed_count,
                          window_, key, now);
  }

  // As the head of emit_queue_: writes the queued events in order under one
  // hold of write_mu_, waits once for everything the batch must have
  // durable, passes the head on and wakes each follower with its answer.
  void LeadEmits() {
    const std::vector<audit::EmitSlot*> batch = emit_queue_.Batch();
    Lsn wait_for = 0;
    {
      std::lock_guard<std::mutex> lock(write_mu_);
      for (audit::EmitSlot* slot : batch) {
        slot->result = EmitLocked(slot);
        wait_for = std::max(wait_for, slot->wait_for);
      }
    }
    if (wait_for == 0) emit_queue_.PassLead(batch.size());
    // Whoever waits for nothing has its answer now (and its slot may be
    // gone right after: only the waiting ones are looked at below).
    std::vector<audit::EmitSlot*> waiting;
    std::vector<audit::EmitSlot*> answered;
    for (size_t i = 1; i < batch.size(); ++i) {
      (batch[i]->wait_for == 0 ? answered : waiting).push_back(batch[i]);
    }
    if (!answered.empty()) emit_queue_.Finish(answered);
    if (wait_for == 0) return;
    const auto start = std::chrono::steady_clock::now();
    const Status durable = log_->WaitDurable(wait_for);
    const auto waited = std::chrono::steady_clock::now() - start;
    emit_queue_.PassLead(
        batch.size(), waiting.size() + 1,
        std::min<std::chrono::steady_clock::duration>(waited / 4, std::chrono::milliseconds(1)));
    if (!durable.ok() && batch[0]->wait_for > 0) batch[0]->result = durable;
    if (!durable.ok()) {
      for (audit::EmitSlot* slot : waiting) slot->result = durable;
    }
    if (!waiting.empty()) emit_queue_.Finish(waiting);
  }

  // Checks and writes one queued event; sets slot->wait_for when the answer
  // holds only once that LSN is durable.
  Result<EmitResult> EmitLocked(audit::EmitSlot* slot) {
    QUIPU_RETURN_IF_ERROR(UsableLocked());
    const int64_t now = NowMicros();
    std::optional<audit::IdempotencyRecord>& idem = slot->idempotency;
    if (idem) {
      auto seen = FindKeyLocked(idem->key, now);
      if (!seen.ok()) return seen.status();
      if (*seen) return AnswerRetryLocked(slot, **seen);
      idem->written_micros = now;
    }
    auto rec = audit::PrepareEvent(catalog_, *index_.applier, protector_.get(), NextLogIdLocked(),
                                   *slot->event, now);
    if (!rec.ok()) return rec.status();
    rec->idempotency = std::move(idem);
    std::string payload;
    audit::EncodeEvent(*rec, &payload);
    auto lsn = AppendLocked(payload, slot->durability,
                            [&](Lsn at) { return index_.applier->ApplyEvent(*rec, payload, at); });
    if (!lsn.ok()) return lsn.status();
    if (WaitsForDurable(slot->durability)) slot->wait_for = *lsn;
    return EmitResult{rec->log_id, *lsn, rec->micros, /*duplicate=*/false};
  }

  Status UsableLocked() const {
    if (closed_) return Status::FailedPrecondition("audit store is closed");
    if (log_ == nullptr) return ReadOnlyError();
    return broken_;
  }

  // True when a write with `durability` returns only once its record is
  // durable, which Emit then waits for outside write_mu_.
  bool WaitsForDurable(Durability durability) const {
    return durability == Durability::kImmediate ||
           (durability == Durability::kPolicy && policy_.SyncsEveryAppend());
  }

  static Status KeyConflict(std::string_view key, uint64_t log_id) {
    return Status::Conflict("idempotency key " + QuoteInput(key) + " was used for log_id " +
                            std::to_string(log_id) + ", a different event");
  }

  // A retry whose key is in the window: the original event if the request
  // is the same, else Conflict. Waits exactly as a write with the slot's
  // durability would have waited for its own record.
  Result<EmitResult> AnswerRetryLocked(audit::EmitSlot* slot, const audit::KeyedEvent& original) {
    const audit::IdempotencyRecord& request = *slot->idempotency;
    if (original.fingerprint != request.fingerprint) {
      return KeyConflict(request.key, original.log_id);
    }
    Lsn lsn = 0;
    auto rec = ReadLocked().Record(original.log_id, &lsn);
    if (!rec.ok()) return rec.status();
    if (WaitsForDurable(slot->durability)) slot->wait_for = lsn;
    return EmitResult{original.log_id, lsn, rec->micros, /*duplicate=*/true};
  }

  // Appends `payload` and applies it to the index with `apply`. Returns the
  // record's LSN; the caller waits for durability (WaitsForDurable).
  template <typename Apply>
  Result<Lsn> AppendLocked(const std::string& payload, Durability durability, Apply&& apply) {
    // EveryN and friends decide inside Append which append syncs, so they
    // get kPolicy; everything that waits does so outside write_mu_.
    const Durability mode = durability == Durability::kPolicy && !WaitsForDurable(durability)
                                ? Durability::kPolicy
                                : Durability::kBuffered;
    const Lsn before = log_->LastLsn();
    auto lsn = log_->Append(payload, mode);
    if (!lsn.ok()) {
      // A failed policy sync still leaves the record in the log (with an
      // LSN); keep memory in step with what a reopen would replay.
      if (log_->LastLsn() == before + 1) (void)ApplyOrBreak(apply, before + 1);  // kept in broken_
      return lsn.status();
    }
    QUIPU_RETURN_IF_ERROR(ApplyOrBreak(apply, *lsn));
    return *lsn;
  }

  // AppendLocked, then releases the writer mutex and waits for durability
  // as `durability` and the policy require.
  template <typename Apply>
  Result<Lsn> WriteLocked(std::unique_lock<std::mutex>& lock, const std::string& payload,
                          Durability durability, Apply&& apply) {
    auto lsn = AppendLocked(payload, durability, apply);
    if (!lsn.ok()) return lsn.status();
    lock.unlock();
    if (WaitsForDurable(durability)) QUIPU_RETURN_IF_ERROR(log_->WaitDurable(*lsn));
    return *lsn;
  }

  // A record that was checked cannot fail to apply; if it does anyway the
  // index no longer matches the log, so no further writes are accepted.
  //
  // The record joins the pending batch (see CommitterLoop); a full batch is
  // sealed here for the committer to write (or written here, when the
  // committer is kMaxSealed batches behind). Index writes are not synced:
  // the log is the source of truth, and Open catches a lagging index up (or
  // takes back one that got ahead).
  template <typename Apply>
  Status ApplyOrBreak(Apply& apply, Lsn lsn) {
    Status s = apply(lsn);
    if (!s.ok()) {
      index_.applier->Abandon();
      pending_.store(false, std::memory_order_release);
      broken_ =
          Status::FailedPrecondition("audit store index diverged from its log: " + s.ToString());
      return s;
    }
    last_log_id_.store(index_.applier->meta().last_log_id, std::memory_order_release);
    if (index_.applier->pending() >= kCommitRecords ||
        index_.applier->pending_bytes() >= kCommitBytes) {
      if (index_.applier->sealed() >= kMaxSealed) return CommitLocked();
      QUIPU_RETURN_IF_ERROR(BreakOnError(SealLocked()));
      sealed_waiting_ = true;
      commit_cv_.notify_one();
      return Status::OK();
    }
    if (!pending_.exchange(true, std::memory_order_acq_rel)) commit_cv_.notify_one();
    return Status::OK();
  }

  static constexpr size_t kCommitRecords = 1024;
  static constexpr size_t kCommitBytes = 4 << 20;
  static constexpr size_t kMaxSealed = 2;
  static constexpr std::chrono::milliseconds kCommitDelay{2};

  std::unique_ptr<Log> log_;
  const DurabilityPolicy policy_;
  const audit::KeyWindowBounds window_;
  const uint64_t sync_every_;
  const size_t carry_bytes_;  // bound of one carry record
  // The catalog is loaded from the index; it is small and in memory.
  audit::Catalog catalog_;
  audit::OpenedIndex index_;
  // Protected fields: master keys given, subject keys, forgotten key ids.
  std::unique_ptr<audit::Protector> protector_;
  std::atomic<uint64_t> last_log_id_{0};
  std::atomic<uint64_t> purged_log_ids_{0};
  std::atomic<Lsn> first_lsn_{1};
  std::atomic<bool> closed_flag_{false};  // closed_, for reads
  // Set while the index has a pending (applied, not sealed) batch; written
  // under write_mu_.
  std::atomic<bool> pending_{false};
  std::thread committer_;  // writers only
  std::condition_variable commit_cv_;
  audit::EmitQueue emit_queue_;
  std::mutex write_mu_;
  // --- guarded by write_mu_ ---
  bool closed_ = false;
  bool stop_committer_ = false;
  bool sealed_waiting_ = false;  // a batch was sealed for the committer
  Status broken_;
};

}  // namespace

Result<std::unique_ptr<AuditStore>> AuditStore::Open(const std::string& dir,
                                                     const AuditOptions& options) {
  const IdempotencyWindow& window = options.idempotency;
  if (!options.read_only && (window.max_keys == 0 || window.max_age.count() <= 0)) {
    return Status::InvalidArgument("idempotency window needs max_keys >= 1 and a positive max_age");
  }
  std::unique_ptr<Log> writer;
  if (options.read_only) {
    // A writer checks the kind as it opens the log; a reader looks itself.
    auto kind = ReadLogKind(dir, options.log.env);
    if (!kind.ok()) return kind.status();
    if (*kind == LogKind::kPlain) {
      return Status::FailedPrecondition(dir + ": this is a plain log, not an audit store");
    }
  } else {
    LogOptions log_options = options.log;
    log_options.kind = LogKind::kAuditStore;
    auto log = Log::Open(dir, log_options);
    if (!log.ok()) return log.status();
    writer = std::move(*log);
  }
  if (options.index_sync_every == 0) {
    return Status::InvalidArgument("index_sync_every must be at least 1");
  }
  if (options.read_only && options.rebuild_index) {
    return Status::InvalidArgument("a read-only store cannot rebuild its index");
  }
  auto store = std::make_unique<AuditStoreImpl>(std::move(writer), options);
  Status s = store->OpenIndex(dir, options);
  if (!s.ok()) return s.WithContext("opening audit store " + dir);
  return std::unique_ptr<AuditStore>(std::move(store));
}

}  // namespace quipu
