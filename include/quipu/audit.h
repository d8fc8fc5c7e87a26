// quipu/audit.h — an embedded audit store on top of the quipu log.
//
// An AuditStore records who did what, to which entities, through which API,
// and answers "what happened to/by this entity" later, starting from any
// entity involved. It lives in the caller's process; its only storage is a
// quipu Log in one directory (quipu/log.h). Values and vocabulary:
// quipu/audit_types.h. Record layout: docs/format.md, "Audit store records".
//
// Writes. Every change is ONE log record: a type definition, a column
// registration, or an event. An event record carries the new registry
// versions the event creates, its log row and the row's relations, so after
// any crash an event is either wholly present or wholly absent, and a row
// never refers to a version that is not durable with it. log_ids and version
// numbers are assigned in the order records enter the log.
//
// Durability. Every write follows LogOptions::durability (quipu/options.h),
// with the same per-call override as Log::Append:
//   kPolicy     Always/GroupCommit: durable before the call returns;
//               concurrent emitters share fdatasyncs (group commit).
//               EveryN/EveryNOrInterval/OsManaged: as the policy says.
//   kImmediate  durable (with everything before it) before the call returns.
//   kBuffered   returns once appended; the caller learns durability through
//               DurableLsn() / WaitDurable(result.lsn).
// If a write's record was appended but the wait for durability then failed
// (failed fdatasync), the call returns that error; the log is poisoned and
// every later write fails (see quipu/log.h). The event stays visible to
// queries in this process; whether it survives a power loss is unknown.
//
// Reads. Queries, EntityHistory and ListEntities see a consistent snapshot:
// every write whose record was appended before the read began (durable or
// not yet), and nothing half-applied. Each read works on a snapshot of the
// derived index (below). Writers gather their records' index entries into a
// batch written within 2 ms; a read that finds such a batch pending takes
// the writer lock once to write it first, and otherwise takes no lock but
// the small type catalog's for a lookup — never while matching, sorting or
// materializing hits.
//
// Idempotency. An event may carry an idempotency key (Event::
// idempotency_key). The key, a SHA-256 fingerprint of the event as the
// caller gave it, and the wall-clock time of the write are stored in the
// event's own record, so a key is exactly as durable as its event: one
// lost at a power cut (never made durable) is forgotten with it, and its
// retry writes it anew. The store remembers recent keys in a window bounded
// by count and age (AuditOptions::idempotency), kept in the derived index
// (below); Emit says how a key is answered.
//
// Derived index. The log is the only source of truth; everything a read
// needs (entity registries and their versions, the values of every field of
// every version, the rows naming each entity, rows in time order, log_id ->
// LSN, the idempotency window, the catalog) is derived from it into an index
// kept on disk in DIR/index (RocksDB; layout in docs/format.md, "Derived
// index"). Open does not read the log: it opens the index, and applies only
// the records the index has not seen yet, so its cost does not grow with the
// history. The writer applies each record to the index right after
// appending it. After a crash the index may be behind the log (Open catches
// up from the log) or, after a power cut, ahead of what survived of it
// (Open takes back the lost records' entries); an index that is missing,
// damaged, of another format, or from another log is rebuilt from the log.
// AuditStore::index_report() says which of these Open did. Memory is bounded
// by the index's caches (about 100 MB), not by the store's size. For an Open
// whose cost does not grow with the log at all, also set
// log.verify_sealed_segments = false (as `quipu` and `quipu serve` do):
// otherwise Log::Open reads every sealed segment.
//
// Errors (Status codes, quipu/status.h):
//   InvalidArgument  bad request: unknown type/field/column, a missing
//                    required field, a value of the wrong kind, invalid JSON
//                    in a json field, a query on a field that is not
//                    indexed, a refused schema change, a bad cursor, a
//                    malformed idempotency key, a window bound that is not
//                    positive (Open). Nothing is written.
//   Conflict         an idempotency key reused, within its window, for a
//                    different event (Emit). Nothing is written.
//   Corruption       the log holds a record this store cannot have written.
//   NotSupported     a record from a newer encoding version.
//   others           from the log (IOError, NoSpace, Busy, FailedPrecondition
//                    after Close or poison).
//
// Thread safety: every method may be called concurrently from any thread,
// except that nothing may run concurrently with Close() or the destructor.
#ifndef QUIPU_AUDIT_H_
#define QUIPU_AUDIT_H_

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "quipu/audit_types.h"
#include "quipu/keys.h"
#include "quipu/log.h"
#include "quipu/options.h"
#include "quipu/status.h"

namespace quipu {

// Which idempotency keys an AuditStore remembers (see AuditStore::Emit). A
// retry is recognised only while its key is in this window; after that it
// is written as a new event.
//
// Both bounds hold at once. The window is the newest `max_keys` keyed
// events in log order (one more evicts the oldest, whatever its age), less
// those the writer wrote `max_age` or longer ago by its wall clock (the
// time of the Emit, never the event's own timestamp, which a caller may set
// in the past). The window lives in the derived index, on disk: about 150
// bytes per key of 36 bytes (a UUID), so roughly 150 MB of disk at the
// default, and no memory. Both must be positive (InvalidArgument).
//
// The bounds apply from the next Open: a reopen with the same options
// remembers the same keys, and a key ages from its original write, not from
// the reopen. A read-only store never Emits and ignores these.
struct IdempotencyWindow {
  size_t max_keys = 1'000'000;
  std::chrono::microseconds max_age = std::chrono::hours(24);
};

// What Open did to the derived index before the store could be used.
struct IndexReport {
  enum class Action {
    kNone,      // it was up to date with the log
    kCaughtUp,  // it applied the records it had not seen (after a crash)
    kRepaired,  // it took back records a power cut removed from the log
    kRebuilt,   // it was (re)built from the whole log; `reason` says why
  };
  Action action = Action::kNone;
  uint64_t records_applied = 0;
  uint64_t records_undone = 0;
  std::string reason;  // for kRebuilt: "missing", "damaged: ...", ...
};

// How long a store keeps its history (AuditStore::Retain). Either bound
// triggers; 0 leaves a bound unset. Only whole sealed segments of the log
// go, oldest first; the active segment never does.
struct RetentionPolicy {
  // A segment goes once its newest event's timestamp is older than this.
  // (A segment holding no event goes with the segments before it.)
  std::chrono::microseconds max_age{0};
  // Segments go, oldest first, while the log holds more bytes than this.
  uint64_t max_bytes = 0;

  bool empty() const { return max_age.count() <= 0 && max_bytes == 0; }
};

// What Retain did, or with dry_run would do.
struct RetainReport {
  bool purged = false;  // false when nothing was due, or for a dry run
  Lsn first_kept = 0;   // where the log starts after it
  uint64_t segments = 0;
  uint64_t bytes = 0;
  uint64_t records = 0;      // log records that go
  uint64_t rows = 0;         // events among them
  uint64_t last_log_id = 0;  // rows 1..last_log_id are gone after it
  Lsn purge_lsn = 0;         // the purge record (0 for a dry run)
  uint64_t carry_records = 0;
};

// What Forget did.
struct ForgetReport {
  Lsn lsn = 0;        // of the forget record
  uint32_t keys = 0;  // data keys destroyed (0: the subject had nothing sealed)
};

// What the subject key file holds (`quipu keys status`).
struct KeyReport {
  // Live data keys by the master key version that wraps them.
  std::map<uint32_t, uint64_t> live_by_version;
  // Stored hashed and blind-indexed values (versions' fields and rows'
  // columns) by the master key version their tokens were made with: queries
  // match them only while that version is given. (Counting reads every
  // version and row of the store.)
  std::map<uint32_t, uint64_t> tokens_by_version;
  uint64_t forgotten = 0;  // keys destroyed by Forget
  // The master key versions this store was opened with (empty: none).
  std::vector<uint32_t> master_versions;
};

struct AuditOptions {
  // The underlying log (durability policy, Env, recovery mode, its Merkle
  // tree's signing key ...). Its kind is set to LogKind::kAuditStore: a
  // plain log is refused (FailedPrecondition), and so the log of an audit
  // store is refused by a plain writer.
  LogOptions log;
  // Open for reading only: no writer lock, no recovery, no file changed, so
  // it can run beside the process that writes the store. The state is a
  // snapshot of the derived index as that process had written it when this
  // open read it (every record it had applied). An index that a writer has
  // never built (a store from before the index existed) is
  // FailedPrecondition: open the store once for writing, or `quipu reindex`.
  // Writes and WaitDurable return FailedPrecondition, DurableLsn() is 0 (a
  // reader cannot know what was synced) and log() is nullptr. Only
  // log.env is used from `log`; a missing directory is NotFound.
  bool read_only = false;
  // Which idempotency keys are remembered; see IdempotencyWindow.
  IdempotencyWindow idempotency;
  // Discard the derived index and rebuild it from the log (`quipu reindex`).
  // Not with read_only.
  bool rebuild_index = false;
  // Called now and then while Open applies records to the index (catching
  // up or rebuilding) with the LSN reached and the log's last LSN.
  std::function<void(Lsn applied, Lsn last)> on_index_progress;
  // When set, Open applies it once (Retain) after bringing the index up to
  // date; a long-running writer (`quipu serve`) applies it periodically.
  RetentionPolicy retention;
  // The master keys of protected fields (quipu/keys.h, docs/privacy.md).
  // Without them the store still opens and reads: encrypted values read as
  // Hidden::kLocked, and writing or matching a protected field is
  // FailedPrecondition.
  std::shared_ptr<const MasterKeys> keys;
  // Bytes of the index's block cache.
  size_t index_cache_bytes = 32 << 20;
  // Records between two sync points of the index: one fsync of the index's
  // own log per this many records. After a crash Open takes back what
  // followed the last sync point and applies it again from the log, so this
  // also bounds that work. At least 1.
  uint64_t index_sync_every = 8192;
};

class AuditStore {
 public:
  // Opens (creating if log.create_if_missing) the store in `dir` — the log's
  // directory — and brings its derived index up to date with the log.
  // Errors: as Log::Open; Corruption/NotSupported for records that do not
  // decode or contradict the state before them (naming the LSN).
  static Result<std::unique_ptr<AuditStore>> Open(const std::string& dir,
                                                  const AuditOptions& options);

  // Closes the store if Close() was not called (errors are lost).
  virtual ~AuditStore() = default;

  // --- schema ---

  // Defines a new entity type, or evolves an existing one. Evolution is
  // additive: the new schema must list every existing field with the same
  // kind (new fields may be appended anywhere). Refused (InvalidArgument):
  //   - removing a field, or changing its kind;
  //   - a new required field, or making an optional field required, once
  //     the type has entities (their versions could not satisfy it);
  //   - field "id", duplicate or malformed names.
  // Allowed: new optional fields, new required fields on a type without
  // entities, required -> optional, changing `indexed` either way (matching
  // covers every version ever written, so no reindexing is needed).
  // Redefining a type identically writes nothing and returns OK. Durable
  // before it returns (Durability::kImmediate).
  virtual Status DefineType(const TypeSchema& schema) = 0;
  // Every type, built-ins first, then in definition order.
  virtual std::vector<TypeSchema> Types() const = 0;
  virtual Result<TypeSchema> GetType(std::string_view name) const = 0;

  // Registers a custom column for log rows. Registering an existing column
  // with the same kind is a no-op; with another kind, InvalidArgument.
  // Durable before it returns.
  virtual Status RegisterColumn(const ColumnSpec& column) = 0;
  virtual std::vector<ColumnSpec> Columns() const = 0;

  // --- events ---

  // Validates and records one event (see EntityInput for how fields become
  // versions). On any validation error nothing is written.
  //
  // With an idempotency key (checked first: InvalidArgument if malformed),
  // under the writer lock, so that of concurrent calls with one key exactly
  // one writes:
  //   - key in the window, same fingerprint: nothing is written; returns the
  //     original event's log_id, lsn and timestamp with duplicate = true,
  //     without validating the event again. The call's durability still
  //     holds: where a write would wait for its record to be durable, this
  //     waits for the original's (which may still be in flight in another
  //     thread), and returns the error if that fails.
  //   - key in the window, different fingerprint: Conflict naming the key
  //     and the original log_id; nothing is written.
  //   - key not in the window (never used, or evicted by count or age; see
  //     IdempotencyWindow): written as a new event, which then holds the key.
  // The fingerprint covers the event as given: actor and targets (type, id,
  // fields), method, url, content, columns, and the timestamp only if the
  // caller set one. An event without a timestamp gets the time of the Emit
  // that writes it, and its retries, also without one, still match it; a
  // retry that sets a timestamp where the original had none is a different
  // request (Conflict).
  virtual Result<EmitResult> Emit(const Event& event,
                                  Durability durability = Durability::kPolicy) = 0;

  // Checks `event` as Emit would, against the current state, and writes
  // nothing: OK when Emit would now write it (or answer it as a duplicate),
  // else the error Emit would return. Another thread's write may change the
  // answer before the caller's own Emit. (The server checks a whole batch
  // this way before writing any of it.)
  virtual Status CheckEvent(const Event& event) = 0;

  // The log's durable watermark: events whose EmitResult::lsn is at or below
  // it are on stable storage. Lock-free.
  virtual Lsn DurableLsn() const = 0;
  // Blocks until `lsn` is durable (joining or starting a group sync).
  virtual Status WaitDurable(Lsn lsn) = 0;
  // The underlying log, e.g. for Stats() or AwaitDurableAbove(). Do not
  // Append to it: a record the store did not write makes the next Open fail
  // with Corruption. Owned by the store. nullptr when opened read_only.
  virtual Log* log() = 0;

  // --- registries ---

  // Every version of one entity, oldest first.
  // Errors: InvalidArgument for an unknown type; NotFound for an unknown id.
  virtual Result<std::vector<EntityVersion>> EntityHistory(std::string_view type,
                                                           std::string_view id) const = 0;
  // The latest version of every entity of `type`, in order of creation.
  virtual Result<std::vector<EntityVersion>> ListEntities(std::string_view type) const = 0;
  // The same one page at a time: at most `limit` (1..10000) entities after
  // `cursor` (empty for the first page, else the previous page's
  // next_cursor). InvalidArgument for a bad limit or cursor.
  virtual Result<EntityPage> ListEntities(std::string_view type, size_t limit,
                                          std::string_view cursor) const = 0;

  // --- log rows ---

  // Rows matching `query`, one page at a time, ordered by (timestamp,
  // log_id) (newest first unless Query::order says otherwise). Paging is
  // stable while writes continue: following next_cursor never repeats a row
  // and never skips one that existed when the first page was read (rows
  // written later appear if they sort after the cursor).
  // Errors: InvalidArgument for an unknown type/field/column, a field that
  // is not indexed ("field 'email' of type 'user' is not indexed; ..."), an
  // operator other than exact on a number field, a limit out of range, a
  // malformed cursor.
  virtual Result<QueryPage> Query(const quipu::Query& query) const = 0;

  // How many rows match `query` (limit and order are ignored; a cursor
  // counts the rows after it). Reads no row when the query has only time
  // bounds or one entity filter of few entities.
  virtual Result<uint64_t> Count(const quipu::Query& query) const = 0;

  // One row by log_id. NotFound if there is none (for a purged row, the
  // message says "purged").
  virtual Result<Hit> GetRow(uint64_t log_id) const = 0;
  // The LSN of the record that holds row `log_id` (for integrity proofs).
  // NotFound as GetRow.
  virtual Result<Lsn> LsnOfLogId(uint64_t log_id) const = 0;
  // The highest log_id written so far (0 if none).
  virtual uint64_t LastLogId() const = 0;

  // The LSN of the last record whose state reads see (0 for a new store).
  virtual Result<Lsn> AppliedLsn() const = 0;

  // --- export ---

  // Streams the store's records up to `last_lsn` (0: up to AppliedLsn())
  // to `sink`, in log order, from one snapshot: every type and column
  // record (after a purge, those before the log's first LSN too: their
  // leaves are still in the tree), every purge and carry record of
  // retention, and each event that matches `filter` (its conditions only;
  // order, limit and cursor are ignored). Events are read in log_id order
  // and checked one by one, so the cost is that of reading every row up to
  // `last_lsn`; memory stays that of one record (and of the entities a
  // filter too wide to list them checked). Stops at, and returns, the
  // first error of `sink`; InvalidArgument as Query for a bad filter.
  virtual Status Export(const quipu::Query& filter, Lsn last_lsn,
                        const std::function<Status(const ExportedRecord&)>& sink) const = 0;

  // --- retention ---

  // Drops the log segments `policy` says have expired, keeping every
  // promise of a store whose history starts later (docs/audit.md,
  // "Retention"): first it appends, durably, carry records holding what
  // later records build on (the catalog; each entity's version current at
  // the cut, with its creation order) and a purge record saying what goes
  // (first retained LSN, the root of the purged records' tree, rows, time,
  // policy); then the derived index drops the purged rows with their
  // postings and idempotency entries, and versions they superseded; then
  // the segments go. Roots, consistency proofs and inclusion proofs of
  // retained records keep verifying; GetRow, LsnOfLogId and proofs of a
  // purged row say "purged". A power cut at any point leaves a store that
  // opens and verifies and has purged or not (Open finishes a purge whose
  // record is durable). Holds the writer lock throughout: writes wait.
  // With dry_run, only says what would go. Errors: InvalidArgument for an
  // empty policy; as Emit.
  virtual Result<RetainReport> Retain(const RetentionPolicy& policy, bool dry_run = false) = 0;
  // Rows 1..PurgedLogIds() were purged (0 if none ever was).
  virtual uint64_t PurgedLogIds() const = 0;
  // The first LSN whose record the store still holds: 1, or where the last
  // purge left the log. (Type and column records before it are still read
  // and exported: carried past the purge, their leaves still in the tree.)
  virtual Lsn FirstLsn() const = 0;

  // --- protected fields (docs/privacy.md) ---

  // Forgets subject `id` of `type` (an existing entity): appends a forget
  // record, durably, then destroys every data key of the subject in the
  // subject key file (overwritten in place and synced). From then on every
  // value sealed for it — in any version, any row's protected columns, any
  // later export — reads as Hidden::kErased and its blind index tokens match
  // nothing, while the log, its Merkle tree, checkpoints and proofs verify
  // as before (leaves hash ciphertext). A later write for the subject gets a
  // new key. A power cut at any point leaves the subject readable (no
  // durable forget record) or forgotten (Open finishes a recorded forget).
  // Holds the writer lock throughout. NotFound for an unknown entity.
  virtual Result<ForgetReport> Forget(std::string_view type, std::string_view id) = 0;
  // What the subject key file holds, which master versions were given, and
  // what each version's index tokens still serve (a scan of the store).
  virtual Result<KeyReport> KeyStatus() const = 0;
  // Re-wraps every data key under the newest master key version given
  // (after MasterKeys gained one: `quipu keys rotate`), rewriting only the
  // subject key file, atomically. Returns how many were re-wrapped.
  // FailedPrecondition without keys or when read-only.
  virtual Result<uint64_t> RewrapKeys() = 0;

  // --- replication (docs/replication.md) ---

  // Appends records that another store of the same history wrote — read
  // byte for byte from its log — at the LSNs they hold there, and applies
  // them as Open applies records it catches up with: a replica's copy of
  // its writer's log, with the same leaves, roots and state. `first` must be
  // the LSN after this store's last (InvalidArgument otherwise). Every
  // record is decoded before any is appended: one that does not decode is
  // Corruption, and a purge, carry or forget record NotSupported (their
  // effects reach beyond the log: segments dropped, keys destroyed); then
  // nothing is written. A record that decodes but contradicts this store's
  // state (a replica that diverged) stops the store as a failed index write
  // does. Durability as for Emit: kBuffered returns once appended. Returns
  // the last record's LSN.
  virtual Result<Lsn> AppendReplicated(Lsn first, const std::vector<std::string>& records,
                                       Durability durability = Durability::kBuffered) = 0;

  // What Open did to the derived index.
  virtual const IndexReport& index_report() const = 0;

  // Closes the log (syncing everything). Returns the first error; later
  // calls other than reads of already-built state return FailedPrecondition.
  virtual Status Close() = 0;
};

// For `quipu verify` of an audit store: OK when its log starts at LSN 1, or
// where its newest purge record (AuditStore::Retain) says it does, with the
// root of the purged records that record states. Corruption otherwise,
// saying so: the log lost its front without the store recording it. Takes
// no lock and changes nothing. `env` nullptr means Env::Default().
Status CheckRecordedPurge(const std::string& dir, Env* env = nullptr);

}  // namespace quipu

#endif  // QUIPU_AUDIT_H_
