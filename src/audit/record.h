// audit/record.h — the binary encoding of audit store records.
//
// Every record the store appends to its log is one of these (layout in
// docs/format.md, "Audit store records"):
//
//   record := version:u8 kind:u8 body
//   kind 1  TypeRecord    a type's full schema after a DefineType
//   kind 2  ColumnRecord  a custom column registration
//   kind 3  EventRecord   one event: new versions, the row, its relations
//   kind 4  EventRecord   a keyed event: kind 3's body, then its
//                         idempotency section (key, fingerprint, write time)
//   kind 5  PurgeRecord   a retention purge: what went, and why
//   kind 6  CarryRecord   state the purged records held that later records
//                         build on, carried past the purge (retention.h)
//   kind 7  ForgetRecord  a subject forgotten: the data keys destroyed
//                         (AuditStore::Forget, docs/privacy.md)
//
// `version` is the lowest format version that defines the record's kind: 1
// for kinds 1-3, 2 for kind 4, 3 for kinds 5 and 6, 4 for kind 7 — and 4
// for any record that declares or holds a protected value (a protection in
// a schema or column, a sealed value). A store that never used idempotency
// keys is therefore still all version 1, readable by builds that predate
// them, and such a build refuses a keyed event as too new (NotSupported),
// not as damage.
//
// Records refer to types, fields and columns by ordinal (definition order),
// which schema evolution never changes because it only appends. This keeps
// events compact and makes rebuilding state at Open a matter of decoding.
//
// The codec is pure: it checks only that bytes decode; whether a record
// agrees with the state before it is audit/state.h's job.
#ifndef QUIPU_AUDIT_RECORD_H_
#define QUIPU_AUDIT_RECORD_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "quipu/audit_types.h"
#include "quipu/merkle.h"
#include "quipu/status.h"

namespace quipu::audit {

// The newest record version this build reads.
inline constexpr uint8_t kRecordVersion = 4;

enum class RecordKind : uint8_t {
  kType = 1,
  kColumn = 2,
  kEvent = 3,
  kKeyedEvent = 4,
  kPurge = 5,
  kCarry = 6,
  kForget = 7,
};

// (ordinal, value) pairs, ordinals ascending.
using OrdinalValues = std::vector<std::pair<uint32_t, Value>>;

struct TypeRecord {
  TypeSchema schema;
};

struct ColumnRecord {
  ColumnSpec column;
};

// A new version of an entity written by an event: its full field set.
struct VersionRecord {
  uint32_t type = 0;  // type ordinal
  std::string id;
  uint32_t number = 0;  // 1 for a new entity, else the previous number + 1
  OrdinalValues fields;
};

// A pin: entity `id` of `type` at version `number`.
struct RefRecord {
  uint32_t type = 0;
  std::string id;
  uint32_t number = 0;
};

// SHA-256 of an event as its caller gave it (audit/idempotency.h); a type of
// its own so that it is never mistaken for a tree hash.
struct Fingerprint {
  static constexpr size_t kSize = 32;
  std::array<uint8_t, kSize> bytes{};

  friend bool operator==(const Fingerprint&, const Fingerprint&) = default;
};

// What a keyed event remembers of the request that wrote it.
struct IdempotencyRecord {
  std::string key;  // 1..128 bytes of 0x21..0x7E
  Fingerprint fingerprint;
  // The wall clock when Emit wrote the event (UTC microseconds). The window
  // ages keys by it, never by the event's own timestamp, which a caller may
  // set in the past.
  int64_t written_micros = 0;
};

struct EventRecord {
  uint64_t log_id = 0;
  int64_t micros = 0;
  std::vector<VersionRecord> versions;  // written before the row refers to them
  RefRecord actor;
  std::string method;
  std::string url;
  std::optional<Value> content;
  OrdinalValues columns;  // column ordinals
  std::vector<RefRecord> targets;
  // Present: the record is a keyed event (kind 4); absent: kind 3.
  std::optional<IdempotencyRecord> idempotency;
};

// A retention purge (AuditStore::Retain): records before `first_kept` were
// dropped, with rows 1..last_log_id. Written after the `carried` carry
// records it depends on, and before any segment goes.
struct PurgeRecord {
  Lsn first_kept = 0;
  // The root of the tree of records 1..first_kept-1: what was dropped.
  merkle::Hash purged_root{};
  uint64_t last_log_id = 0;
  uint64_t keyed_count = 0;  // keyed events among rows 1..last_log_id
  int64_t micros = 0;        // wall clock of the purge
  // The policy that asked for it (0: that bound was not set).
  int64_t max_age_micros = 0;
  uint64_t max_bytes = 0;
  uint64_t segments = 0;  // segment files removed
  uint64_t bytes = 0;     // their size
  uint32_t carried = 0;   // carry records right before this one
};

// An entity as it stood just before `first_kept`: its newest version then.
struct CarriedEntity {
  uint32_t type = 0;
  std::string id;
  uint64_t seq = 0;  // creation order within its type
  uint32_t number = 0;
  uint64_t log_id = 0;  // the event that wrote that version
  int64_t micros = 0;
  OrdinalValues fields;
};

// What the records before `first_kept` established: the catalog records
// among them (verbatim, with their LSNs) and every entity's version as of
// then. A rebuild of the derived index starts from these.
struct CarryRecord {
  Lsn first_kept = 0;
  std::vector<std::pair<Lsn, std::string>> catalog;
  std::vector<CarriedEntity> entities;
  // Data keys that forget records before first_kept destroyed: tokens
  // sealed under them must keep not matching after a rebuild.
  std::vector<std::string> forgotten;
};

// A subject forgotten (AuditStore::Forget): its data keys, named by key id,
// are destroyed once this record is durable.
struct ForgetRecord {
  uint32_t type = 0;  // the subject: an entity
  std::string id;
  std::vector<std::string> key_ids;  // each 16 bytes
  int64_t micros = 0;                // wall clock of the Forget
};

void EncodeType(const TypeRecord& rec, std::string* out);
void EncodeColumn(const ColumnRecord& rec, std::string* out);
// Kind 4 when rec.idempotency is set, else kind 3.
void EncodeEvent(const EventRecord& rec, std::string* out);

// Starts what a fingerprint hashes, so that a later encoding can never
// produce the same bytes as this one.
inline constexpr std::string_view kFingerprintDomain = "quipu idempotency fingerprint v1";

// The bytes an idempotency fingerprint hashes (docs/format.md, "Idempotency
// fingerprint"): `event` exactly as its caller gave it, entity inputs and
// names rather than the versions and ordinals they resolve to, and without
// its idempotency key. Every part is length-prefixed or tagged, so two
// different events never encode alike.
void EncodeFingerprintInput(const Event& event, std::string* out);

void EncodePurge(const PurgeRecord& rec, std::string* out);
void EncodeCarry(const CarryRecord& rec, std::string* out);
void EncodeForget(const ForgetRecord& rec, std::string* out);

// Field values alone (the derived index stores versions this way).
void EncodeOrdinalValues(const OrdinalValues& values, std::string* out);
Status DecodeOrdinalValues(std::string_view bytes, OrdinalValues* values);

// Reads the two header bytes. NotSupported for a newer version, Corruption
// for an unknown kind, a kind its version does not define (kind 4 marked
// version 1) or a short record.
Result<RecordKind> PeekKind(std::string_view payload);

// OK when `payload` decodes as a record a replica may append as it is
// (AuditStore::AppendReplicated): a type, column or event record.
// Corruption when it does not decode; NotSupported for the other kinds.
Status CheckReplicable(std::string_view payload);

// Each decodes a whole record of its kind (header included); Corruption when
// the bytes are short, have trailing garbage or hold an unknown value tag.
Status DecodeType(std::string_view payload, TypeRecord* rec);
Status DecodeColumn(std::string_view payload, ColumnRecord* rec);
// DecodeEvent reads kinds 3 and 4.
Status DecodeEvent(std::string_view payload, EventRecord* rec);
Status DecodePurge(std::string_view payload, PurgeRecord* rec);
Status DecodeCarry(std::string_view payload, CarryRecord* rec);
Status DecodeForget(std::string_view payload, ForgetRecord* rec);

}  // namespace quipu::audit

#endif  // QUIPU_AUDIT_RECORD_H_
