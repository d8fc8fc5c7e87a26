// audit/state.h — the in-memory state of an audit store, and how records
// change it.
//
// The same Apply* functions run when the store writes a record and when Open
// replays the log, so the state after a reopen is the state before it by
// construction. Prepare* turn a caller's request into a record, checking it
// against the current state; they change nothing.
//
// Concurrency: Prepare* and Apply* are for the single writer (the store's
// writer mutex, or Open before the store is shared). Readers use catalog(),
// RowCount() and row() concurrently: rows are append-only and a row is
// published only after every version and relation it refers to.
#ifndef QUIPU_AUDIT_STATE_H_
#define QUIPU_AUDIT_STATE_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "audit/append_only.h"
#include "audit/catalog.h"
#include "audit/idempotency.h"
#include "audit/record.h"
#include "quipu/audit_types.h"
#include "quipu/reader.h"

namespace quipu::audit {

// An entity as a row pins it.
struct PinnedEntity {
  uint32_t type = 0;     // type ordinal
  uint32_t entity = 0;   // index in the type's registry
  uint32_t version = 0;  // index of the StoredVersion in that registry
};

struct Row {
  uint64_t log_id = 0;
  Lsn lsn = 0;
  int64_t micros = 0;
  PinnedEntity actor;
  std::string method;
  std::string url;
  std::optional<Value> content;
  OrdinalValues columns;  // column ordinals
  std::vector<PinnedEntity> targets;
};

// Earliest and latest timestamps an event may carry: 0000-01-01 .. 9999-12-31.
inline constexpr int64_t kMinMicros = -62167219200LL * 1000000;
inline constexpr int64_t kMaxMicros = 253402300799LL * 1000000 + 999999;

class AuditState {
 public:
  // Keyed events are remembered as KeyWindow(max_keys, max_age_micros)
  // says; max_keys == 0 remembers none.
  AuditState(size_t max_keys, int64_t max_age_micros) : keys_(max_keys, max_age_micros) {}
  AuditState(const AuditState&) = delete;
  AuditState& operator=(const AuditState&) = delete;

  Catalog& catalog() { return catalog_; }
  const Catalog& catalog() const { return catalog_; }

  // --- readers ---
  // Rows [0, RowCount()) are complete; row i has log_id i + 1.
  size_t RowCount() const { return rows_.Size(); }
  const Row& row(size_t i) const { return rows_[i]; }

  // --- the writer ---
  // Validates `event` and builds its record: assigns the next log_id, new
  // version numbers and pins. `now` is used when the event has no time.
  // The idempotency key is not looked at (the caller sets
  // rec.idempotency). InvalidArgument on any validation failure.
  Result<EventRecord> PrepareEvent(const Event& event, int64_t now) const;
  // The keyed event `key` names if it is still in the window at `now`
  // (wall-clock micros); nullptr otherwise. Valid until the next Apply.
  const KeyedEvent* FindKey(std::string_view key, int64_t now) { return keys_.Find(key, now); }
  // Applies an event record at `lsn`, moving its strings and values into
  // the state (Open replays millions; copies would double its cost), and
  // adds a keyed event to the window. Corruption when it contradicts the
  // state (wrong log_id, unknown type, a version out of sequence, a key no
  // Emit accepts, ...).
  Status ApplyEvent(EventRecord&& rec, Lsn lsn);
  // Decodes and applies any record (used by Open); errors name the LSN.
  Status ApplyPayload(std::string_view payload, Lsn lsn);

 private:
  Status ApplyVersion(VersionRecord&& v, uint64_t log_id, int64_t micros);
  Result<PinnedEntity> ResolvePin(const RefRecord& ref) const;
  Status FillRow(EventRecord&& rec, Lsn lsn, Row* row) const;

  Catalog catalog_;
  ChunkedVector<Row> rows_;
  KeyWindow keys_;  // the writer's alone
};

}  // namespace quipu::audit

#endif  // QUIPU_AUDIT_STATE_H_
