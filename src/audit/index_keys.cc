// audit/index_keys.cc — encoding the derived index's keys.
#include "audit/index_keys.h"

#include <bit>

namespace quipu::audit::keys {

namespace {

constexpr uint64_t kSignBit = uint64_t{1} << 63;

std::string Tagged(char tag) { return std::string(1, tag); }

std::string EntityKeyOf(char tag, uint32_t type, std::string_view id) {
  std::string k = Tagged(tag);
  PutBig32(&k, type);
  PutTerminated(&k, id);
  return k;
}

}  // namespace

void PutBig32(std::string* out, uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) out->push_back(static_cast<char>(v >> shift));
}

void PutBig64(std::string* out, uint64_t v) {
  for (int shift = 56; shift >= 0; shift -= 8) out->push_back(static_cast<char>(v >> shift));
}

uint32_t GetBig32(const char* p) {
  uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v = (v << 8) | static_cast<uint8_t>(p[i]);
  return v;
}

uint64_t GetBig64(const char* p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | static_cast<uint8_t>(p[i]);
  return v;
}

uint64_t SortableMicros(int64_t micros) { return static_cast<uint64_t>(micros) ^ kSignBit; }

int64_t MicrosFromSortable(uint64_t v) { return static_cast<int64_t>(v ^ kSignBit); }

uint64_t SortableDouble(double d) {
  if (d == 0) d = 0;  // -0 == +0
  const uint64_t bits = std::bit_cast<uint64_t>(d);
  // Positive: set the sign bit so they follow the negatives; negative: flip
  // everything so that larger magnitudes sort first.
  return (bits & kSignBit) != 0 ? ~bits : bits | kSignBit;
}

void PutEscaped(std::string* out, std::string_view s) {
  for (char c : s) {
    out->push_back(c);
    if (c == '\0') out->push_back('\xff');
  }
}

void PutTerminated(std::string* out, std::string_view s) {
  PutEscaped(out, s);
  out->push_back('\0');
  out->push_back('\x01');
}

bool GetTerminated(std::string_view* in, std::string* out) {
  out->clear();
  for (size_t i = 0; i < in->size(); ++i) {
    const char c = (*in)[i];
    if (c != '\0') {
      out->push_back(c);
      continue;
    }
    if (i + 1 >= in->size()) return false;
    if ((*in)[i + 1] == '\x01') {
      in->remove_prefix(i + 2);
      return true;
    }
    out->push_back('\0');
    ++i;  // the 0xFF of an escaped zero
  }
  return false;
}

bool SkipTerminated(std::string_view* in) {
  for (size_t i = 0; i + 1 < in->size(); ++i) {
    if ((*in)[i] != '\0') continue;
    if ((*in)[i + 1] == '\x01') {
      in->remove_prefix(i + 2);
      return true;
    }
    ++i;
  }
  return false;
}

std::string IndexBytes(const Value& v) {
  if (v.kind != FieldKind::kNumber) return v.text;
  std::string out;
  PutBig64(&out, SortableDouble(v.number));
  return out;
}

std::string Folded(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

std::vector<std::pair<char, std::string>> FieldTerms(const Value& v) {
  std::vector<std::pair<char, std::string>> out;
  if (v.kind == FieldKind::kSealed) return out;  // its tokens are sealed: audit/protect.h TermsOf
  std::string bytes = IndexBytes(v);
  if (v.kind != FieldKind::kNumber) out.emplace_back(kFolded, Folded(bytes));
  out.emplace_back(kExact, std::move(bytes));
  return out;
}

std::string OrderKey(int64_t micros, uint64_t log_id) {
  std::string k;
  PutBig64(&k, SortableMicros(micros));
  PutBig64(&k, log_id);
  return k;
}

std::string Meta() { return Tagged(kMeta); }

std::string SyncPoint() { return Tagged(kSyncPoint); }

std::string Catalog(uint64_t lsn) {
  std::string k = Tagged(kCatalog);
  PutBig64(&k, lsn);
  return k;
}

std::string Forgotten(std::string_view key_id) {
  std::string k = Tagged(kForgotten);
  k.append(key_id);
  return k;
}

std::string Purge(uint64_t lsn) {
  std::string k = Tagged(kPurge);
  PutBig64(&k, lsn);
  return k;
}

std::string Row(uint64_t log_id) {
  std::string k = Tagged(kRow);
  PutBig64(&k, log_id);
  return k;
}

std::string Time(int64_t micros, uint64_t log_id) {
  return Tagged(kTime) + OrderKey(micros, log_id);
}

std::string EntityPrefix(uint32_t type) {
  std::string k = Tagged(kEntity);
  PutBig32(&k, type);
  return k;
}

std::string Entity(uint32_t type, std::string_view id) { return EntityKeyOf(kEntity, type, id); }

std::string OrderPrefix(uint32_t type) {
  std::string k = Tagged(kOrder);
  PutBig32(&k, type);
  return k;
}

std::string Order(uint32_t type, uint64_t seq) {
  std::string k = OrderPrefix(type);
  PutBig64(&k, seq);
  return k;
}

std::string VersionPrefix(uint32_t type, std::string_view id) {
  return EntityKeyOf(kVersion, type, id);
}

std::string Version(uint32_t type, std::string_view id, uint32_t number) {
  std::string k = VersionPrefix(type, id);
  PutBig32(&k, number);
  return k;
}

std::string FieldPrefix(char tag, uint32_t type, uint32_t field) {
  std::string k = Tagged(tag);
  PutBig32(&k, type);
  PutBig32(&k, field);
  return k;
}

std::string FieldEntry(char tag, uint32_t type, uint32_t field, std::string_view value,
                       std::string_view id) {
  std::string k = FieldPrefix(tag, type, field);
  PutTerminated(&k, value);
  PutTerminated(&k, id);
  return k;
}

std::string PostingPrefix(uint32_t type, std::string_view id, char role) {
  std::string k = EntityKeyOf(kPosting, type, id);
  k.push_back(role);
  return k;
}

std::string Posting(uint32_t type, std::string_view id, char role, int64_t micros,
                    uint64_t log_id) {
  return PostingPrefix(type, id, role) + OrderKey(micros, log_id);
}

std::string KeyPrefix(std::string_view key) {
  std::string k = Tagged(kKey);
  PutTerminated(&k, key);
  return k;
}

std::string KeyEntry(std::string_view key, uint64_t log_id) {
  std::string k = KeyPrefix(key);
  PutBig64(&k, log_id);
  return k;
}

std::string KeySeq(uint64_t seq) {
  std::string k = Tagged(kKeySeq);
  PutBig64(&k, seq);
  return k;
}

std::string Successor(std::string prefix) {
  while (!prefix.empty() && static_cast<uint8_t>(prefix.back()) == 0xFF) prefix.pop_back();
  if (!prefix.empty()) prefix.back() = static_cast<char>(static_cast<uint8_t>(prefix.back()) + 1);
  return prefix;
}

}  // namespace quipu::audit::keys
