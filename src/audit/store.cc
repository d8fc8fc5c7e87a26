// audit/store.cc — AuditStore: the writer path over the log, Open's replay,
// and the read API.
//
// The writer mutex (write_mu_) serializes "check against the current state
// -> build the record -> Append -> apply", so log_ids and versions follow the
// order of records in the log, which is the order Open replays them in.
// Waiting for durability happens after write_mu_ is released: that is what
// lets concurrent emitters share one fdatasync (the log's group commit).
//
// An idempotency key is looked up under write_mu_ too, between the check and
// the append, so of two concurrent Emits with one key the second finds the
// first's record applied and writes nothing.
#include <chrono>
#include <optional>

#include "audit/idempotency.h"
#include "audit/query.h"
#include "audit/state.h"
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
  // `log` is nullptr for a read-only store. The last two bound the window
  // of idempotency keys (AuditState; max_keys 0 keeps none).
  AuditStoreImpl(std::unique_ptr<Log> log, DurabilityPolicy policy, size_t max_keys,
                 int64_t max_key_age_micros)
      : log_(std::move(log)), policy_(policy), state_(max_keys, max_key_age_micros) {}
  ~AuditStoreImpl() override {
    if (!closed_ && log_ != nullptr) (void)log_->Close();
  }

  // Replays the whole log into state_: through the writer's own reader, or
  // (read-only) straight from the files in `dir`.
  Status Rebuild(const std::string& dir, Env* env) {
    auto reader = log_ != nullptr ? log_->NewReader(1) : OpenLogReader(dir, 1, env);
    if (!reader.ok()) return reader.status();
    while (true) {
      auto more = (*reader)->Next();
      if (!more.ok()) return more.status();
      if (!*more) return Status::OK();
      QUIPU_RETURN_IF_ERROR(state_.ApplyPayload((*reader)->payload(), (*reader)->lsn()));
    }
  }

  Status DefineType(const TypeSchema& schema) override {
    std::unique_lock<std::mutex> lock(write_mu_);
    QUIPU_RETURN_IF_ERROR(UsableLocked());
    auto rec = state_.catalog().PrepareType(schema);
    if (!rec.ok()) return rec.status();
    if (!*rec) return Status::OK();
    std::string payload;
    audit::EncodeType(**rec, &payload);
    return WriteLocked(lock, payload, Durability::kImmediate,
                       [&](Lsn) { return state_.catalog().ApplyType(**rec); })
        .status();
  }

  std::vector<TypeSchema> Types() const override { return state_.catalog().Types(); }

  Result<TypeSchema> GetType(std::string_view name) const override {
    auto view = state_.catalog().LookupType(name);
    if (!view.ok()) return view.status();
    return *view->schema;
  }

  Status RegisterColumn(const ColumnSpec& column) override {
    std::unique_lock<std::mutex> lock(write_mu_);
    QUIPU_RETURN_IF_ERROR(UsableLocked());
    auto rec = state_.catalog().PrepareColumn(column);
    if (!rec.ok()) return rec.status();
    if (!*rec) return Status::OK();
    std::string payload;
    audit::EncodeColumn(**rec, &payload);
    return WriteLocked(lock, payload, Durability::kImmediate,
                       [&](Lsn) { return state_.catalog().ApplyColumn(**rec); })
        .status();
  }

  std::vector<ColumnSpec> Columns() const override { return state_.catalog().Columns(); }

  Result<EmitResult> Emit(const Event& event, Durability durability) override {
    std::optional<audit::IdempotencyRecord> idem;
    if (!event.idempotency_key.empty()) {
      QUIPU_RETURN_IF_ERROR(audit::CheckIdempotencyKey(event.idempotency_key));
      // Hashing reads nothing write_mu_ guards, and a large event takes a
      // while: other writers need not wait for it. (SHA-256 was checked
      // usable when the log opened its tree.)
      idem = audit::IdempotencyRecord{event.idempotency_key, audit::FingerprintOf(event), 0};
    }
    std::unique_lock<std::mutex> lock(write_mu_);
    QUIPU_RETURN_IF_ERROR(UsableLocked());
    const int64_t now = NowMicros();
    if (idem) {
      if (const audit::KeyedEvent* seen = state_.FindKey(idem->key, now)) {
        return AnswerRetryLocked(lock, *idem, *seen, durability);
      }
      idem->written_micros = now;
    }
    auto rec = state_.PrepareEvent(event, now);
    if (!rec.ok()) return rec.status();
    rec->idempotency = std::move(idem);
    std::string payload;
    audit::EncodeEvent(*rec, &payload);
    const uint64_t log_id = rec->log_id;
    const int64_t micros = rec->micros;
    auto lsn = WriteLocked(lock, payload, durability,
                           [&](Lsn at) { return state_.ApplyEvent(std::move(*rec), at); });
    if (!lsn.ok()) return lsn.status();
    return EmitResult{log_id, *lsn, micros, /*duplicate=*/false};
  }

  Status CheckEvent(const Event& event) override {
    std::optional<audit::Fingerprint> fingerprint;
    if (!event.idempotency_key.empty()) {
      QUIPU_RETURN_IF_ERROR(audit::CheckIdempotencyKey(event.idempotency_key));
      fingerprint = audit::FingerprintOf(event);
    }
    std::unique_lock<std::mutex> lock(write_mu_);
    QUIPU_RETURN_IF_ERROR(UsableLocked());
    const int64_t now = NowMicros();
    if (fingerprint) {
      if (const audit::KeyedEvent* seen = state_.FindKey(event.idempotency_key, now)) {
        if (seen->fingerprint == *fingerprint) return Status::OK();
        return KeyConflict(event.idempotency_key, seen->log_id);
      }
    }
    return state_.PrepareEvent(event, now).status();
  }

  Lsn DurableLsn() const override { return log_ != nullptr ? log_->DurableLsn() : 0; }
  Status WaitDurable(Lsn lsn) override {
    if (log_ == nullptr) return ReadOnlyError();
    return log_->WaitDurable(lsn);
  }
  Log* log() override { return log_.get(); }

  Result<std::vector<EntityVersion>> EntityHistory(std::string_view type,
                                                   std::string_view id) const override {
    return audit::History(state_, type, id);
  }
  Result<std::vector<EntityVersion>> ListEntities(std::string_view type) const override {
    return audit::Latest(state_, type);
  }
  Result<QueryPage> Query(const quipu::Query& query) const override {
    return audit::RunQuery(state_, query);
  }

  Result<Hit> GetRow(uint64_t log_id) const override {
    QUIPU_RETURN_IF_ERROR(CheckLogId(log_id));
    return audit::MaterializeRow(state_, log_id - 1);
  }
  Result<Lsn> LsnOfLogId(uint64_t log_id) const override {
    QUIPU_RETURN_IF_ERROR(CheckLogId(log_id));
    return state_.row(log_id - 1).lsn;
  }
  uint64_t LastLogId() const override { return state_.RowCount(); }

  Status Close() override {
    std::lock_guard<std::mutex> lock(write_mu_);
    if (closed_) return Status::FailedPrecondition("audit store is closed");
    closed_ = true;
    return log_ != nullptr ? log_->Close() : Status::OK();
  }

 private:
  static Status ReadOnlyError() { return Status::FailedPrecondition("audit store is read-only"); }

  Status CheckLogId(uint64_t log_id) const {
    if (log_id == 0 || log_id > state_.RowCount()) {
      return Status::NotFound("no log row " + std::to_string(log_id));
    }
    return Status::OK();
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

  // A retry whose key is in the window: the original event if the request
  // is the same, else Conflict. Waits, outside the mutex, exactly as a write
  // with `durability` would have waited for its own record.
  static Status KeyConflict(std::string_view key, uint64_t log_id) {
    return Status::Conflict("idempotency key " + QuoteInput(key) + " was used for log_id " +
                            std::to_string(log_id) + ", a different event");
  }

  Result<EmitResult> AnswerRetryLocked(std::unique_lock<std::mutex>& lock,
                                       const audit::IdempotencyRecord& request,
                                       const audit::KeyedEvent& original, Durability durability) {
    if (original.fingerprint != request.fingerprint) {
      return KeyConflict(request.key, original.log_id);
    }
    const audit::Row& row = state_.row(original.log_id - 1);
    const EmitResult result{original.log_id, row.lsn, row.micros, /*duplicate=*/true};
    lock.unlock();
    if (WaitsForDurable(durability)) QUIPU_RETURN_IF_ERROR(log_->WaitDurable(result.lsn));
    return result;
  }

  // Appends `payload`, applies it to the state with `apply`, releases the
  // writer mutex and waits for durability as `durability` and the policy
  // require. Returns the record's LSN.
  template <typename Apply>
  Result<Lsn> WriteLocked(std::unique_lock<std::mutex>& lock, const std::string& payload,
                          Durability durability, Apply&& apply) {
    const bool wait = WaitsForDurable(durability);
    // EveryN and friends decide inside Append which append syncs, so they
    // get kPolicy; everything that waits does so below, outside the mutex.
    const Durability mode =
        durability == Durability::kPolicy && !wait ? Durability::kPolicy : Durability::kBuffered;
    const Lsn before = log_->LastLsn();
    auto lsn = log_->Append(payload, mode);
    if (!lsn.ok()) {
      // A failed policy sync still leaves the record in the log (with an
      // LSN); keep memory in step with what a reopen would replay.
      if (log_->LastLsn() == before + 1) (void)ApplyOrBreak(apply, before + 1);  // kept in broken_
      return lsn.status();
    }
    QUIPU_RETURN_IF_ERROR(ApplyOrBreak(apply, *lsn));
    lock.unlock();
    if (wait) QUIPU_RETURN_IF_ERROR(log_->WaitDurable(*lsn));
    return *lsn;
  }

  // A record that was checked cannot fail to apply; if it does anyway the
  // memory no longer matches the log, so no further writes are accepted.
  template <typename Apply>
  Status ApplyOrBreak(Apply& apply, Lsn lsn) {
    Status s = apply(lsn);
    if (!s.ok())
      broken_ = Status::FailedPrecondition("audit store state diverged: " + s.ToString());
    return s;
  }

  std::unique_ptr<Log> log_;
  const DurabilityPolicy policy_;
  audit::AuditState state_;
  std::mutex write_mu_;
  // --- guarded by write_mu_ ---
  bool closed_ = false;
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
  // A read-only store cannot Emit, so it keeps no keys (max_keys 0).
  auto store = std::make_unique<AuditStoreImpl>(std::move(writer), options.log.durability,
                                                options.read_only ? 0 : window.max_keys,
                                                window.max_age.count());
  Status s = store->Rebuild(dir, options.log.env);
  if (!s.ok()) return s.WithContext("rebuilding audit store " + dir);
  return std::unique_ptr<AuditStore>(std::move(store));
}

}  // namespace quipu
