// audit/idempotency.cc — key rules, fingerprints and the key window.
#include "audit/idempotency.h"

#include <cstdio>
#include <cstring>
#include <limits>

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

KeyWindow::KeyWindow(size_t max_keys, int64_t max_age_micros)
    : max_keys_(max_keys), max_age_micros_(max_age_micros) {}

bool KeyWindow::Fresh(const KeyedEvent& e, int64_t now_micros) const {
  // now - written < max_age, without overflow whatever a record holds.
  int64_t cutoff;
  if (__builtin_sub_overflow(now_micros, max_age_micros_, &cutoff)) {
    cutoff = std::numeric_limits<int64_t>::min();
  }
  return e.written_micros > cutoff;
}

void KeyWindow::PopFront() {
  const Slot& slot = fifo_.front();
  // A stale slot's entry belongs to a later Add of the same key, whose slot
  // is behind this one: its iterator is still valid, and the entry stays.
  if (slot.entry->second.log_id == slot.log_id) by_key_.erase(slot.entry);
  fifo_.pop_front();
}

const KeyedEvent* KeyWindow::Find(std::string_view key, int64_t now_micros) {
  // Only the front is dropped: the FIFO is in log order, and wall-clock
  // times written by a clock that stepped back need not be. An aged entry
  // behind a fresh one is simply not found.
  while (!fifo_.empty()) {
    const Slot& front = fifo_.front();
    const KeyedEvent& e = front.entry->second;
    if (e.log_id == front.log_id && Fresh(e, now_micros)) break;
    PopFront();
  }
  auto it = by_key_.find(key);
  if (it == by_key_.end() || !Fresh(it->second, now_micros)) return nullptr;
  return &it->second;
}

void KeyWindow::Add(std::string_view key, const KeyedEvent& event) {
  if (max_keys_ == 0) return;
  auto it = by_key_.find(key);
  if (it == by_key_.end()) {
    it = by_key_.emplace(std::string(key), event).first;
  } else {
    it->second = event;
  }
  fifo_.push_back(Slot{it, event.log_id});
  while (fifo_.size() > max_keys_) PopFront();
}

}  // namespace quipu::audit
