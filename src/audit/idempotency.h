// audit/idempotency.h — idempotency keys: checking one, fingerprinting the
// event it names, and the window of recent keys an Emit is checked against.
//
// A keyed event's record carries its key, its fingerprint and the wall-clock
// time it was written (audit/record.h); the derived index keeps them per key
// (audit/index_keys.h, I and J entries), so the window survives a reopen
// without replaying anything.
#ifndef QUIPU_AUDIT_IDEMPOTENCY_H_
#define QUIPU_AUDIT_IDEMPOTENCY_H_

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "audit/index_db.h"
#include "audit/index_entries.h"
#include "audit/record.h"
#include "quipu/audit_types.h"
#include "quipu/status.h"

namespace quipu::audit {

inline constexpr size_t kMaxIdempotencyKeyBytes = 128;

// OK for 1..128 bytes, each visible ASCII (0x21..0x7E); otherwise
// InvalidArgument saying which rule the key breaks. (Empty means "no key"
// to Emit, which does not call this then.)
Status CheckIdempotencyKey(std::string_view key);

// SHA-256 of EncodeFingerprintInput(event). Requires merkle::CheckSha256()
// to have passed (see integrity/hash.h).
Fingerprint FingerprintOf(const Event& event);

// A keyed event as the window answers it. The row at log_id holds the
// rest (its LSN and timestamp).
struct KeyedEvent {
  uint64_t log_id = 0;
  Fingerprint fingerprint;
  int64_t written_micros = 0;
};

// The window of recent keys (quipu/audit.h, IdempotencyWindow), bounded two
// ways at once:
//   count  the newest max_keys keyed events in log order (a key used again
//          later counts again; only its newest event is looked at);
//   age    an event written max_age or longer before `now` is not found.
// max_keys == 0 keeps nothing (read-only stores).
//
// The window is derived data: every keyed event's index entries carry its
// place among keyed events (seq) and its write time, so whether it is in
// the window follows from the count of keyed events so far and the clock,
// and a reopen or a rebuild from the log answers exactly as the writer did.
struct KeyWindowBounds {
  size_t max_keys = 0;
  int64_t max_age_micros = 0;
};

// Whether the keyed event number `seq` (written at `written_micros`) is in
// the window when `keyed_count` keyed events exist.
bool InKeyWindow(const KeyWindowBounds& bounds, uint64_t keyed_count, uint64_t seq,
                 int64_t written_micros, int64_t now_micros);

// The newest keyed event of `key`, if it is in the window at `now_micros`:
// `pending` if given (applied, not yet committed), else the index's.
Result<std::optional<KeyedEvent>> FindKey(const IndexSnapshot& snap,
                                          const std::pair<uint64_t, KeyedEntry>* pending,
                                          uint64_t keyed_count, const KeyWindowBounds& bounds,
                                          std::string_view key, int64_t now_micros);

// Removes the index entries of keyed events that have left the window by
// count, stopping at the first whose row is not yet durable (at or below
// `durable`), so that the space they take stays bounded by max_keys.
Status TrimKeys(IndexDb* db, uint64_t keyed_count, size_t max_keys, Lsn durable);

}  // namespace quipu::audit

#endif  // QUIPU_AUDIT_IDEMPOTENCY_H_
