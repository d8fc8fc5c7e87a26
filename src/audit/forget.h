// audit/forget.h — the store's side of protected fields: forgetting a
// subject, finishing a forget a crash interrupted, and keyed fingerprints.
//
// A forget (AuditStore::Forget) goes in four steps under the writer lock:
//   1. a forget record naming the subject's live key ids is appended and
//      made durable (so no power cut can erase without a record);
//   2. applying it marks the key ids forgotten in the index (F entries)
//      and in the Protector, so reads show the values erased and queries
//      skip their tokens at once;
//   3. the index's entries of the subject's tokens are deleted;
//   4. the keys' slots in the subject key file are overwritten and synced.
// A power cut between 1 and 3 leaves a durable record whose keys may still
// be live (or torn): FinishForgets, at every writer open, destroys every
// key an F entry names. So a subject is either readable (no durable record)
// or wholly forgotten.
#ifndef QUIPU_AUDIT_FORGET_H_
#define QUIPU_AUDIT_FORGET_H_

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "audit/catalog.h"
#include "audit/index_db.h"
#include "audit/protect.h"
#include "audit/record.h"
#include "quipu/audit.h"

namespace quipu::audit {

// Reads the index's F entries into `protector`; with `finish` (a writer),
// destroys each such key the subject key file still holds, then refuses
// (Corruption naming file and offset) a damaged slot no forget names.
Status LoadForgotten(IndexDb* db, Protector* protector, bool finish);

// Steps 3 and 4 of a forget whose record is durable (and committed to the
// index): the subject's tokens leave the index, then its keys are destroyed.
Status FinishForget(IndexDb* db, const Protector& protector, const ForgetRecord& rec);

// AuditStore::KeyStatus and RewrapKeys.
Result<KeyReport> KeyStatusOf(IndexDb* db, const Protector& protector);
Result<uint64_t> RewrapDataKeys(const Protector& protector);

// Deletes the derived index's field entries of subject (type, id) sealed
// under `key_ids` (its blind tokens), opening its versions with keys not
// destroyed yet. Derived data: a crash that loses this leaves entries that
// queries already ignore (F entries), and no rebuild brings them back.
Status DropSubjectTokens(IndexDb* db, const Protector& protector, uint32_t type,
                         std::string_view id, const std::vector<std::string>& key_ids);

// The record that forgets subject (type, id): its live key ids.
Result<ForgetRecord> PrepareForget(Protector* protector, uint32_t type, std::string_view id,
                                   int64_t now);

// Sealed values holding tokens (hashed, encrypted+indexed), in versions
// and in rows' columns, by the master version of their tokens.
Result<std::map<uint32_t, uint64_t>> CountTokenVersions(const IndexSnapshot& snap);

// The idempotency fingerprint of `event`: SHA-256 of its encoding
// (audit/idempotency.h) unless it gives a value to a protected field or
// column, which would let anyone who reads the log test guesses of that
// value against a plain hash; then HMAC-SHA-256 under a key derived from
// the newest master key (FailedPrecondition without one).
Result<Fingerprint> FingerprintFor(const Catalog& catalog, const Protector& protector,
                                   const Event& event);

}  // namespace quipu::audit

#endif  // QUIPU_AUDIT_FORGET_H_
