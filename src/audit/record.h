// audit/record.h — the binary encoding of audit store records.
//
// Every record the store appends to its log is one of these (layout in
// docs/format.md, "Audit store records"):
//
//   record := version:u8 (=1) kind:u8 body
//   kind 1  TypeRecord    a type's full schema after a DefineType
//   kind 2  ColumnRecord  a custom column registration
//   kind 3  EventRecord   one event: new versions, the row, its relations
//
// Records refer to types, fields and columns by ordinal (definition order),
// which schema evolution never changes because it only appends. This keeps
// events compact and makes rebuilding state at Open a matter of decoding.
//
// The codec is pure: it checks only that bytes decode; whether a record
// agrees with the state before it is audit/state.h's job.
#ifndef QUIPU_AUDIT_RECORD_H_
#define QUIPU_AUDIT_RECORD_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "quipu/audit_types.h"
#include "quipu/status.h"

namespace quipu::audit {

inline constexpr uint8_t kRecordVersion = 1;

enum class RecordKind : uint8_t { kType = 1, kColumn = 2, kEvent = 3 };

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
};

void EncodeType(const TypeRecord& rec, std::string* out);
void EncodeColumn(const ColumnRecord& rec, std::string* out);
void EncodeEvent(const EventRecord& rec, std::string* out);

// Reads the two header bytes. NotSupported for a newer version, Corruption
// for an unknown kind or a short record.
Result<RecordKind> PeekKind(std::string_view payload);

// Each decodes a whole record of its kind (header included); Corruption when
// the bytes are short, have trailing garbage or hold an unknown value tag.
Status DecodeType(std::string_view payload, TypeRecord* rec);
Status DecodeColumn(std::string_view payload, ColumnRecord* rec);
Status DecodeEvent(std::string_view payload, EventRecord* rec);

}  // namespace quipu::audit

#endif  // QUIPU_AUDIT_RECORD_H_
