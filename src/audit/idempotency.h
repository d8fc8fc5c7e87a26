// audit/idempotency.h — idempotency keys: checking one, fingerprinting the
// event it names, and the window of recent keys an Emit is checked against.
//
// A keyed event's record carries its key, its fingerprint and the wall-clock
// time it was written (audit/record.h), so the window is derived data: Open
// rebuilds it by feeding every keyed record, in log order, to Add — the same
// call the writer makes after each append. The writer's window and the one a
// reopen builds therefore hold the same keys (see KeyWindow for why age
// checks do not break this).
//
// Concurrency: a KeyWindow belongs to the single writer (the store's writer
// mutex, or Open before the store is shared); readers never touch it.
#ifndef QUIPU_AUDIT_IDEMPOTENCY_H_
#define QUIPU_AUDIT_IDEMPOTENCY_H_

#include <cstddef>
#include <cstdint>
#include <deque>
#include <map>
#include <string>
#include <string_view>

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

// What the window remembers of one keyed event. The row at log_id holds the
// rest (its LSN and timestamp).
struct KeyedEvent {
  uint64_t log_id = 0;
  Fingerprint fingerprint;
  int64_t written_micros = 0;
};

// The most recent keyed events by key, bounded two ways:
//   count  at most max_keys entries; adding one more evicts the oldest in log
//          order (FIFO), whatever its age;
//   age    an entry written max_age or longer before `now` is not found, and
//          is dropped when it reaches the front of the FIFO.
// max_keys == 0 makes a window that keeps nothing (read-only stores).
//
// Why a reopen finds the same keys: count eviction depends only on the
// sequence of Adds, which is the log; age is judged against the `now` of
// each Find from the written time stored in the record, so dropping aged
// entries early (the writer) or late (a replay) changes no answer.
class KeyWindow {
 public:
  KeyWindow(size_t max_keys, int64_t max_age_micros);
  KeyWindow(const KeyWindow&) = delete;
  KeyWindow& operator=(const KeyWindow&) = delete;

  // The entry for `key` if it is in the window at `now_micros`, else
  // nullptr. Drops aged entries from the front first. The pointer is valid
  // until the next Add or Find.
  const KeyedEvent* Find(std::string_view key, int64_t now_micros);

  // Records the keyed event applied last (it replaces an entry with the same
  // key, which the writer only adds once that entry has left the window).
  void Add(std::string_view key, const KeyedEvent& event);

  size_t size() const { return by_key_.size(); }

 private:
  using Map = std::map<std::string, KeyedEvent, std::less<>>;
  // One FIFO slot per Add. A key added again leaves its older slot behind
  // as stale (log_id no longer matching); stale slots count toward
  // max_keys, so memory stays bounded by it, and are skipped on eviction.
  struct Slot {
    Map::iterator entry;
    uint64_t log_id;
  };

  bool Fresh(const KeyedEvent& e, int64_t now_micros) const;
  void PopFront();

  const size_t max_keys_;
  const int64_t max_age_micros_;
  // A tree, not a hash table: keys come from clients, and an unseeded hash
  // would let one craft colliding keys that make every Emit slow while it
  // holds the writer mutex. Map iterators also stay valid as others come
  // and go, which the FIFO relies on.
  Map by_key_;
  std::deque<Slot> fifo_;
};

}  // namespace quipu::audit

#endif  // QUIPU_AUDIT_IDEMPOTENCY_H_
