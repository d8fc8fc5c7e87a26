// audit/record.cc — encoder and decoder of audit store records.
#include "audit/record.h"

#include <algorithm>
#include <bit>
#include <cstring>

#include "util/coding.h"

namespace quipu::audit {

namespace {

// Field flags in a TypeRecord.
constexpr uint8_t kRequired = 1;
constexpr uint8_t kIndexed = 2;

// Bits 2-3: the field's Protection; kEncryptedIndexed is followed by its
// prefix_tokens (varint).
constexpr int kProtectionShift = 2;
constexpr uint8_t kProtectionMask = 3 << kProtectionShift;

// Records that declare or hold protected values are version 4.
constexpr uint8_t kProtectedVersion = 4;

constexpr uint8_t kMaxFutureVersion = 15;

// --- writing ---

void PutVarint(std::string* out, uint64_t v) {
  while (v >= 0x80) {
    out->push_back(static_cast<char>(v | 0x80));
    v >>= 7;
  }
  out->push_back(static_cast<char>(v));
}

void PutString(std::string* out, std::string_view s) {
  PutVarint(out, s.size());
  out->append(s);
}

// The lowest version that defines `kind` (see record.h).
uint8_t VersionOf(RecordKind kind) {
  switch (kind) {
    case RecordKind::kKeyedEvent:
      return 2;
    case RecordKind::kPurge:
    case RecordKind::kCarry:
      return 3;
    case RecordKind::kForget:
      return kProtectedVersion;
    default:
      return 1;
  }
}

void PutHeader(std::string* out, RecordKind kind, bool protected_values = false) {
  const uint8_t version = VersionOf(kind);
  out->push_back(
      static_cast<char>(protected_values ? std::max(version, kProtectedVersion) : version));
  out->push_back(static_cast<char>(kind));
}

bool AnySealed(const OrdinalValues& values) {
  for (const auto& [ordinal, value] : values) {
    if (value.kind == FieldKind::kSealed) return true;
  }
  return false;
}

bool AnySealed(const EventRecord& rec) {
  for (const VersionRecord& v : rec.versions) {
    if (AnySealed(v.fields)) return true;
  }
  return AnySealed(rec.columns);
}

// kind byte, then a string (text, json) or 8 bytes of IEEE-754 (number).
void PutValue(std::string* out, const Value& v) {
  out->push_back(static_cast<char>(v.kind));
  if (v.kind == FieldKind::kNumber) {
    PutFixed64(out, std::bit_cast<uint64_t>(v.number));
  } else {
    PutString(out, v.text);
  }
}

void PutOrdinalValues(std::string* out, const OrdinalValues& values) {
  PutVarint(out, values.size());
  for (const auto& [ordinal, value] : values) {
    PutVarint(out, ordinal);
    PutValue(out, value);
  }
}

void PutRef(std::string* out, const RefRecord& ref) {
  PutVarint(out, ref.type);
  PutString(out, ref.id);
  PutVarint(out, ref.number);
}

// --- reading ---

// A cursor over a record; every Get* returns false once the bytes run out.
class Input {
 public:
  // `sealed`: whether values may be sealed (kind 4), which records of
  // version 4 and later and the index's own copies hold.
  explicit Input(std::string_view s, bool sealed = true) : s_(s), sealed_(sealed) {}

  bool Done() const { return s_.empty(); }

  bool GetByte(uint8_t* v) {
    if (s_.empty()) return false;
    *v = static_cast<uint8_t>(s_[0]);
    s_.remove_prefix(1);
    return true;
  }
  bool GetVarint(uint64_t* v) {
    uint64_t result = 0;
    for (int shift = 0; shift <= 63; shift += 7) {
      uint8_t b;
      if (!GetByte(&b)) return false;
      result |= uint64_t{b & 0x7fu} << shift;
      if ((b & 0x80) == 0) {
        *v = result;
        return true;
      }
    }
    return false;
  }
  bool GetVarint32(uint32_t* v) {
    uint64_t w;
    if (!GetVarint(&w) || w > UINT32_MAX) return false;
    *v = static_cast<uint32_t>(w);
    return true;
  }
  bool GetFixed64(uint64_t* v) {
    if (s_.size() < 8) return false;
    *v = DecodeFixed64(s_.data());
    s_.remove_prefix(8);
    return true;
  }
  bool GetBytes(size_t n, std::string_view* v) {
    if (s_.size() < n) return false;
    *v = s_.substr(0, n);
    s_.remove_prefix(n);
    return true;
  }
  bool GetString(std::string* v) {
    uint64_t n;
    if (!GetVarint(&n) || n > s_.size()) return false;
    v->assign(s_.data(), n);
    s_.remove_prefix(n);
    return true;
  }
  bool GetKind(FieldKind* kind) {
    uint8_t b;
    if (!GetByte(&b) || b < 1 || b > 3) return false;
    *kind = static_cast<FieldKind>(b);
    return true;
  }
  bool GetValueKind(FieldKind* kind) {
    if (sealed_ && !s_.empty() && static_cast<uint8_t>(s_[0]) == 4) {
      s_.remove_prefix(1);
      *kind = FieldKind::kSealed;
      return true;
    }
    return GetKind(kind);
  }
  bool GetValue(Value* v) {
    if (!GetValueKind(&v->kind)) return false;
    if (v->kind != FieldKind::kNumber) return GetString(&v->text);
    uint64_t bits;
    if (!GetFixed64(&bits)) return false;
    v->number = std::bit_cast<double>(bits);
    return true;
  }
  bool GetOrdinalValues(OrdinalValues* values) {
    uint64_t n;
    if (!GetVarint(&n) || n > s_.size()) return false;
    values->resize(n);
    for (auto& [ordinal, value] : *values) {
      if (!GetVarint32(&ordinal) || !GetValue(&value)) return false;
    }
    return true;
  }
  bool GetRef(RefRecord* ref) {
    return GetVarint32(&ref->type) && GetString(&ref->id) && GetVarint32(&ref->number);
  }

 private:
  std::string_view s_;
  bool sealed_;
};

Status Truncated(std::string_view what) {
  return Status::Corruption("audit " + std::string(what) + " record does not decode");
}

// Skips the two header bytes already checked by PeekKind.
Input BodyOf(std::string_view payload) {
  return Input(payload.substr(2), static_cast<uint8_t>(payload[0]) >= kProtectedVersion);
}

bool GetVersion(Input* in, VersionRecord* v) {
  return in->GetVarint32(&v->type) && in->GetString(&v->id) && in->GetVarint32(&v->number) &&
         in->GetOrdinalValues(&v->fields);
}

// key:string fingerprint:32 bytes written:fixed64
void PutIdempotency(std::string* out, const IdempotencyRecord& idem) {
  PutString(out, idem.key);
  out->append(reinterpret_cast<const char*>(idem.fingerprint.bytes.data()), Fingerprint::kSize);
  PutFixed64(out, static_cast<uint64_t>(idem.written_micros));
}

bool GetIdempotency(Input* in, IdempotencyRecord* idem) {
  std::string_view fp;
  uint64_t written;
  if (!in->GetString(&idem->key) || !in->GetBytes(Fingerprint::kSize, &fp) ||
      !in->GetFixed64(&written)) {
    return false;
  }
  std::memcpy(idem->fingerprint.bytes.data(), fp.data(), Fingerprint::kSize);
  idem->written_micros = static_cast<int64_t>(written);
  return true;
}

}  // namespace

void EncodeType(const TypeRecord& rec, std::string* out) {
  bool any_protected = false;
  for (const FieldSpec& f : rec.schema.fields) {
    any_protected = any_protected || f.protection != Protection::kPlain;
  }
  PutHeader(out, RecordKind::kType, any_protected);
  PutString(out, rec.schema.name);
  PutVarint(out, rec.schema.fields.size());
  for (const FieldSpec& f : rec.schema.fields) {
    PutString(out, f.name);
    out->push_back(static_cast<char>(f.kind));
    const uint8_t protection = static_cast<uint8_t>(f.protection) << kProtectionShift;
    out->push_back(
        static_cast<char>((f.required ? kRequired : 0) | (f.indexed ? kIndexed : 0) | protection));
    if (f.protection == Protection::kEncryptedIndexed) PutVarint(out, f.prefix_tokens);
  }
}

void EncodeColumn(const ColumnRecord& rec, std::string* out) {
  const bool is_protected = rec.column.protection != Protection::kPlain;
  PutHeader(out, RecordKind::kColumn, is_protected);
  PutString(out, rec.column.name);
  out->push_back(static_cast<char>(rec.column.kind));
  if (is_protected) {
    out->push_back(static_cast<char>(rec.column.protection));
    PutString(out, rec.column.subject);
  }
}

void EncodeEvent(const EventRecord& rec, std::string* out) {
  PutHeader(out, rec.idempotency ? RecordKind::kKeyedEvent : RecordKind::kEvent, AnySealed(rec));
  PutVarint(out, rec.log_id);
  PutFixed64(out, static_cast<uint64_t>(rec.micros));
  PutVarint(out, rec.versions.size());
  for (const VersionRecord& v : rec.versions) {
    PutVarint(out, v.type);
    PutString(out, v.id);
    PutVarint(out, v.number);
    PutOrdinalValues(out, v.fields);
  }
  PutRef(out, rec.actor);
  PutString(out, rec.method);
  PutString(out, rec.url);
  if (rec.content) {
    PutValue(out, *rec.content);
  } else {
    out->push_back(0);
  }
  PutOrdinalValues(out, rec.columns);
  PutVarint(out, rec.targets.size());
  for (const RefRecord& t : rec.targets) PutRef(out, t);
  if (rec.idempotency) PutIdempotency(out, *rec.idempotency);
}

namespace {

void PutNamedValues(std::string* out, const Fields& values) {
  PutVarint(out, values.size());
  for (const auto& [name, value] : values) {  // std::map: ascending bytes
    PutString(out, name);
    PutValue(out, value);
  }
}

void PutEntityInput(std::string* out, const EntityInput& in) {
  PutString(out, in.type);
  PutString(out, in.id);
  PutNamedValues(out, in.fields);
}

}  // namespace

void EncodeFingerprintInput(const Event& event, std::string* out) {
  out->append(kFingerprintDomain);
  out->push_back('\0');
  PutEntityInput(out, event.actor);
  PutVarint(out, event.targets.size());
  for (const EntityInput& t : event.targets) PutEntityInput(out, t);
  PutString(out, event.method);
  PutString(out, event.url);
  if (event.content) {
    PutValue(out, *event.content);
  } else {
    out->push_back(0);
  }
  PutNamedValues(out, event.columns);
  // "No timestamp" must stay distinct from every timestamp: Emit fills it
  // with its own clock, which a retry cannot repeat.
  if (event.timestamp_micros) {
    out->push_back(1);
    PutFixed64(out, static_cast<uint64_t>(*event.timestamp_micros));
  } else {
    out->push_back(0);
  }
}

Result<RecordKind> PeekKind(std::string_view payload) {
  if (payload.size() < 2) return Status::Corruption("audit record shorter than its header");
  const uint8_t version = static_cast<uint8_t>(payload[0]);
  // Versions up to kMaxFutureVersion are "too new"; anything else in the
  // first byte means the record was not written by an audit store at all.
  if (version > kRecordVersion && version <= kMaxFutureVersion) {
    return Status::NotSupported("audit record version " + std::to_string(version) +
                                " is newer than this build understands (" +
                                std::to_string(kRecordVersion) + ")");
  }
  const uint8_t kind = static_cast<uint8_t>(payload[1]);
  // A kind newer than the record's version (kind 4 marked 1) was not
  // written by any audit store either.
  const bool known = version >= 1 && version <= kRecordVersion && kind >= 1 && kind <= 7 &&
                     VersionOf(static_cast<RecordKind>(kind)) <= version;
  if (!known) {
    return Status::Corruption("not an audit store record (version " + std::to_string(version) +
                              ", kind " + std::to_string(kind) + ")");
  }
  return static_cast<RecordKind>(kind);
}

Status CheckReplicable(std::string_view payload) {
  auto kind = PeekKind(payload);
  if (!kind.ok()) return kind.status();
  switch (*kind) {
    case RecordKind::kType: {
      TypeRecord rec;
      return DecodeType(payload, &rec);
    }
    case RecordKind::kColumn: {
      ColumnRecord rec;
      return DecodeColumn(payload, &rec);
    }
    case RecordKind::kEvent:
    case RecordKind::kKeyedEvent: {
      EventRecord rec;
      return DecodeEvent(payload, &rec);
    }
    default:
      // Purge, carry and forget records act beyond the log (segments
      // dropped, keys destroyed), which a copied record would not do.
      return Status::NotSupported("a replica cannot take a record of kind " +
                                  std::to_string(static_cast<int>(*kind)) +
                                  " (purge, carry or forget): its effects reach beyond the log");
  }
}

Status DecodeType(std::string_view payload, TypeRecord* rec) {
  Input in = BodyOf(payload);
  uint64_t n;
  if (!in.GetString(&rec->schema.name) || !in.GetVarint(&n) || n > payload.size()) {
    return Truncated("type");
  }
  rec->schema.fields.resize(n);
  for (FieldSpec& f : rec->schema.fields) {
    uint8_t flags;
    if (!in.GetString(&f.name) || !in.GetKind(&f.kind) || !in.GetByte(&flags)) {
      return Truncated("type");
    }
    f.required = flags & kRequired;
    f.indexed = flags & kIndexed;
    f.protection = static_cast<Protection>((flags & kProtectionMask) >> kProtectionShift);
    f.prefix_tokens = 0;
    if ((flags & ~(kRequired | kIndexed | kProtectionMask)) != 0 ||
        (f.protection != Protection::kPlain && payload[0] < kProtectedVersion)) {
      return Truncated("type");
    }
    if (f.protection == Protection::kEncryptedIndexed &&
        (!in.GetVarint32(&f.prefix_tokens) || f.prefix_tokens > kMaxPrefixTokens)) {
      return Truncated("type");
    }
  }
  return in.Done() ? Status::OK() : Truncated("type");
}

Status DecodeColumn(std::string_view payload, ColumnRecord* rec) {
  Input in = BodyOf(payload);
  if (!in.GetString(&rec->column.name) || !in.GetKind(&rec->column.kind)) {
    return Truncated("column");
  }
  rec->column.protection = Protection::kPlain;
  rec->column.subject.clear();
  if (static_cast<uint8_t>(payload[0]) >= kProtectedVersion && !in.Done()) {
    uint8_t protection;
    if (!in.GetByte(&protection) || protection < 1 ||
        protection > static_cast<uint8_t>(Protection::kEncrypted) ||
        !in.GetString(&rec->column.subject)) {
      return Truncated("column");
    }
    rec->column.protection = static_cast<Protection>(protection);
  }
  return in.Done() ? Status::OK() : Truncated("column");
}

Status DecodeEvent(std::string_view payload, EventRecord* rec) {
  Input in = BodyOf(payload);
  uint64_t micros, n;
  if (!in.GetVarint(&rec->log_id) || !in.GetFixed64(&micros) || !in.GetVarint(&n) ||
      n > payload.size()) {
    return Truncated("event");
  }
  rec->micros = static_cast<int64_t>(micros);
  rec->versions.resize(n);
  for (VersionRecord& v : rec->versions) {
    if (!GetVersion(&in, &v)) return Truncated("event");
  }
  uint8_t content_kind;
  if (!in.GetRef(&rec->actor) || !in.GetString(&rec->method) || !in.GetString(&rec->url) ||
      !in.GetByte(&content_kind)) {
    return Truncated("event");
  }
  if (content_kind != 0) {
    Value v;
    v.kind = static_cast<FieldKind>(content_kind);
    if (content_kind > 3 || v.kind == FieldKind::kNumber || !in.GetString(&v.text)) {
      return Truncated("event");
    }
    rec->content = std::move(v);
  }
  if (!in.GetOrdinalValues(&rec->columns) || !in.GetVarint(&n) || n > payload.size()) {
    return Truncated("event");
  }
  rec->targets.resize(n);
  for (RefRecord& t : rec->targets) {
    if (!in.GetRef(&t)) return Truncated("event");
  }
  rec->idempotency.reset();
  if (static_cast<RecordKind>(payload[1]) == RecordKind::kKeyedEvent) {
    rec->idempotency.emplace();
    if (!GetIdempotency(&in, &*rec->idempotency)) return Truncated("event");
  }
  return in.Done() ? Status::OK() : Truncated("event");
}

void EncodePurge(const PurgeRecord& rec, std::string* out) {
  PutHeader(out, RecordKind::kPurge);
  PutVarint(out, rec.first_kept);
  out->append(rec.purged_root.AsBytes());
  PutVarint(out, rec.last_log_id);
  PutVarint(out, rec.keyed_count);
  PutFixed64(out, static_cast<uint64_t>(rec.micros));
  PutFixed64(out, static_cast<uint64_t>(rec.max_age_micros));
  PutVarint(out, rec.max_bytes);
  PutVarint(out, rec.segments);
  PutVarint(out, rec.bytes);
  PutVarint(out, rec.carried);
}

Status DecodePurge(std::string_view payload, PurgeRecord* rec) {
  Input in = BodyOf(payload);
  std::string_view root;
  uint64_t micros, max_age;
  if (!in.GetVarint(&rec->first_kept) || !in.GetBytes(merkle::Hash::kSize, &root) ||
      !in.GetVarint(&rec->last_log_id) || !in.GetVarint(&rec->keyed_count) ||
      !in.GetFixed64(&micros) || !in.GetFixed64(&max_age) || !in.GetVarint(&rec->max_bytes) ||
      !in.GetVarint(&rec->segments) || !in.GetVarint(&rec->bytes) ||
      !in.GetVarint32(&rec->carried) || !in.Done() || rec->first_kept < 2) {
    return Truncated("purge");
  }
  rec->purged_root = *merkle::Hash::FromBytes(root);
  rec->micros = static_cast<int64_t>(micros);
  rec->max_age_micros = static_cast<int64_t>(max_age);
  return Status::OK();
}

namespace {
constexpr uint8_t kCarriedCatalog = 1;
constexpr uint8_t kCarriedEntity = 2;
constexpr uint8_t kCarriedForgotten = 3;
constexpr size_t kKeyIdSize = 16;
}  // namespace

void EncodeCarry(const CarryRecord& rec, std::string* out) {
  bool sealed = !rec.forgotten.empty();
  for (const CarriedEntity& e : rec.entities) sealed = sealed || AnySealed(e.fields);
  PutHeader(out, RecordKind::kCarry, sealed);
  PutVarint(out, rec.first_kept);
  PutVarint(out, rec.catalog.size() + rec.entities.size() + rec.forgotten.size());
  for (const auto& [lsn, payload] : rec.catalog) {
    out->push_back(static_cast<char>(kCarriedCatalog));
    PutVarint(out, lsn);
    PutString(out, payload);
  }
  for (const CarriedEntity& e : rec.entities) {
    out->push_back(static_cast<char>(kCarriedEntity));
    PutVarint(out, e.type);
    PutString(out, e.id);
    PutVarint(out, e.seq);
    PutVarint(out, e.number);
    PutVarint(out, e.log_id);
    PutFixed64(out, static_cast<uint64_t>(e.micros));
    PutOrdinalValues(out, e.fields);
  }
  for (const std::string& key_id : rec.forgotten) {
    out->push_back(static_cast<char>(kCarriedForgotten));
    PutString(out, key_id);
  }
}

Status DecodeCarry(std::string_view payload, CarryRecord* rec) {
  Input in = BodyOf(payload);
  uint64_t n;
  if (!in.GetVarint(&rec->first_kept) || !in.GetVarint(&n) || n > payload.size()) {
    return Truncated("carry");
  }
  rec->catalog.clear();
  rec->entities.clear();
  rec->forgotten.clear();
  for (uint64_t i = 0; i < n; ++i) {
    uint8_t tag;
    if (!in.GetByte(&tag)) return Truncated("carry");
    if (tag == kCarriedForgotten) {
      std::string& key_id = rec->forgotten.emplace_back();
      if (!in.GetString(&key_id) || key_id.size() != kKeyIdSize) return Truncated("carry");
      continue;
    }
    if (tag == kCarriedCatalog) {
      auto& [lsn, bytes] = rec->catalog.emplace_back();
      if (!in.GetVarint(&lsn) || !in.GetString(&bytes) || lsn >= rec->first_kept) {
        return Truncated("carry");
      }
      continue;
    }
    CarriedEntity& e = rec->entities.emplace_back();
    uint64_t micros;
    if (tag != kCarriedEntity || !in.GetVarint32(&e.type) || !in.GetString(&e.id) ||
        !in.GetVarint(&e.seq) || !in.GetVarint32(&e.number) || !in.GetVarint(&e.log_id) ||
        !in.GetFixed64(&micros) || !in.GetOrdinalValues(&e.fields) || e.number == 0) {
      return Truncated("carry");
    }
    e.micros = static_cast<int64_t>(micros);
  }
  return in.Done() ? Status::OK() : Truncated("carry");
}

void EncodeForget(const ForgetRecord& rec, std::string* out) {
  PutHeader(out, RecordKind::kForget);
  PutVarint(out, rec.type);
  PutString(out, rec.id);
  PutVarint(out, rec.key_ids.size());
  for (const std::string& key_id : rec.key_ids) PutString(out, key_id);
  PutFixed64(out, static_cast<uint64_t>(rec.micros));
}

Status DecodeForget(std::string_view payload, ForgetRecord* rec) {
  Input in = BodyOf(payload);
  uint64_t n, micros;
  if (!in.GetVarint32(&rec->type) || !in.GetString(&rec->id) || !in.GetVarint(&n) ||
      n > payload.size()) {
    return Truncated("forget");
  }
  rec->key_ids.resize(n);
  for (std::string& key_id : rec->key_ids) {
    if (!in.GetString(&key_id) || key_id.size() != kKeyIdSize) return Truncated("forget");
  }
  if (!in.GetFixed64(&micros) || !in.Done()) return Truncated("forget");
  rec->micros = static_cast<int64_t>(micros);
  return Status::OK();
}

}  // namespace quipu::audit

namespace quipu::audit {

void EncodeOrdinalValues(const OrdinalValues& values, std::string* out) {
  PutOrdinalValues(out, values);
}

Status DecodeOrdinalValues(std::string_view bytes, OrdinalValues* values) {
  Input in(bytes);
  if (!in.GetOrdinalValues(values) || !in.Done()) {
    return Status::Corruption("field values do not decode");
  }
  return Status::OK();
}

}  // namespace quipu::audit
