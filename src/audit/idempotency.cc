// audit/idempotency.cc — key rules, fingerprints and the key window.
#include "audit/idempotency.h"

#include <cstdio>
#include <cstring>
#include <limits>

#include "audit/index_entries.h"
#include "audit/index_keys.h"
#include "integrity/hash.h"
#include "util/quote.h"

namespace quipu::audit {

Status CheckIdempotencyKey(std::string_view key) {
  if (key.empty() || key.size() > kMaxIdempotencyKeyBytes) {
    return Status::InvalidArgument("idempotency key must be 1..128 bytes, got " +
                                   std::to_string(key.size()));
  }
  for (size_t i = 0; i < key.size(); ++i) {
    const auto c = static_cast<unsigned char>(key[i]);
    if (c < 0x21 || c > 0x7e) {
      char hex[8];
      std::snprintf(hex, sizeof hex, "0x%02X", c);
      return Status::InvalidArgument("idempotency key " + QuoteInput(key) + " has byte " + hex +
                                     " at offset " + std::to_string(i) +
                                     "; keys are visible ASCII, 0x21..0x7E (no space)");
    }
  }
  return Status::OK();
}

Fingerprint FingerprintOf(const Event& event) {
  std::string input;
  EncodeFingerprintInput(event, &input);
  const merkle::Hash digest = merkle::Sha256Of(input);
  Fingerprint fp;
  static_assert(Fingerprint::kSize == merkle::Hash::kSize);
  std::memcpy(fp.bytes.data(), digest.bytes().data(), Fingerprint::kSize);
  return fp;
}

bool InKeyWindow(const KeyWindowBounds& bounds, uint64_t keyed_count, uint64_t seq,
                 int64_t written_micros, int64_t now_micros) {
  if (keyed_count < seq || keyed_count - seq >= bounds.max_keys) return false;
  // now - written < max_age, without overflow whatever a record holds.
  int64_t cutoff;
  if (__builtin_sub_overflow(now_micros, bounds.max_age_micros, &cutoff)) {
    cutoff = std::numeric_limits<int64_t>::min();
  }
  return written_micros > cutoff;
}

Result<std::optional<KeyedEvent>> FindKey(const IndexSnapshot& snap,
                                          const std::pair<uint64_t, KeyedEntry>* pending,
                                          uint64_t keyed_count, const KeyWindowBounds& bounds,
                                          std::string_view key, int64_t now_micros) {
  if (bounds.max_keys == 0) return std::optional<KeyedEvent>();
  uint64_t log_id = 0;
  KeyedEntry entry;
  if (pending != nullptr) {
    log_id = pending->first;
    entry = pending->second;
  } else {
    const std::string prefix = keys::KeyPrefix(key);
    BoundedIterator it(snap, prefix, keys::Successor(prefix));
    it->SeekToLast();  // the key's newest event
    QUIPU_RETURN_IF_ERROR(FromRocks(it->status(), "read idempotency key"));
    if (!it->Valid()) return std::optional<KeyedEvent>();
    QUIPU_RETURN_IF_ERROR(DecodeKeyed(View(it->value()), &entry));
    log_id = keys::GetBig64(it->key().data() + prefix.size());
  }
  if (!InKeyWindow(bounds, keyed_count, entry.seq, entry.written_micros, now_micros)) {
    return std::optional<KeyedEvent>();
  }
  return std::optional<KeyedEvent>(KeyedEvent{log_id, entry.fingerprint, entry.written_micros});
}

Status TrimKeys(IndexDb* db, uint64_t keyed_count, size_t max_keys, Lsn durable) {
  if (keyed_count <= max_keys) return Status::OK();
  const uint64_t last = keyed_count - max_keys;  // seqs 1..last left the window
  IndexSnapshot snap(db);
  BoundedIterator it(snap, keys::KeySeq(1), keys::KeySeq(last + 1));
  rocksdb::WriteBatch batch;
  std::string key;
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    std::string_view value = View(it->value());
    if (!keys::GetTerminated(&value, &key) || value.size() != 8) {
      return Status::Corruption("index: a keyed event entry does not decode");
    }
    const uint64_t log_id = keys::GetBig64(value.data());
    // Only rows that are durable: a power cut may take back a record that is
    // not, and the repair would then need the entries it evicted.
    auto row = snap.Get(keys::Row(log_id));
    if (!row.ok()) return row.status();
    RowEntry entry;
    if (*row && DecodeRow(**row, &entry).ok() && entry.lsn > durable) break;
    batch.Delete(std::string(View(it->key())));
    batch.Delete(keys::KeyEntry(key, log_id));
  }
  QUIPU_RETURN_IF_ERROR(FromRocks(it->status(), "read keyed events"));
  return db->Write(&batch, /*sync=*/false);
}

}  // namespace quipu::audit
