// audit/index_entries.h — the values stored under the derived index's keys
// (audit/index_keys.h), and one interface to read them from wherever they
// are (a snapshot, a batch being built, the latest state).
#ifndef QUIPU_AUDIT_INDEX_ENTRIES_H_
#define QUIPU_AUDIT_INDEX_ENTRIES_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "audit/record.h"
#include "quipu/reader.h"
#include "quipu/status.h"

namespace quipu::audit {

// E: an entity.
struct EntityEntry {
  uint64_t seq = 0;    // order of creation within its type, from 1
  uint32_t count = 0;  // versions so far
};
std::string EncodeEntity(const EntityEntry& e);
Status DecodeEntity(std::string_view bytes, EntityEntry* e);

// V: one version of an entity.
struct VersionEntry {
  uint64_t log_id = 0;  // the event that wrote it
  int64_t micros = 0;   // that event's timestamp
  OrdinalValues fields;
};
std::string EncodeVersion(const VersionEntry& v);
Status DecodeVersion(std::string_view bytes, VersionEntry* v);

// R: a row. The event record is kept verbatim, as the log holds it.
struct RowEntry {
  Lsn lsn = 0;
  uint64_t keyed_count = 0;  // keyed events up to and including this one
  std::string_view payload;  // points into the decoded bytes
};
std::string EncodeRowHeader(Lsn lsn, uint64_t keyed_count);  // payload follows
Status DecodeRow(std::string_view bytes, RowEntry* row);

// I: one keyed event of an idempotency key.
struct KeyedEntry {
  Fingerprint fingerprint;
  int64_t written_micros = 0;
  uint64_t seq = 0;  // its place among keyed events, from 1
};
std::string EncodeKeyed(const KeyedEntry& k);
Status DecodeKeyed(std::string_view bytes, KeyedEntry* k);

// Point reads of the index, from a snapshot, a batch or the live database.
class KeyReader {
 public:
  virtual ~KeyReader() = default;
  // nullopt when absent.
  virtual Result<std::optional<std::string>> Get(std::string_view key) const = 0;
};

// An entity as the writer needs it: its creation seq, version count and
// the fields of its newest version.
struct EntityState {
  uint64_t seq = 0;
  uint32_t count = 0;
  OrdinalValues fields;
};

// Where the writer looks up entities' current state (IndexApplier, with a
// cache in front of the index).
class EntityLookup {
 public:
  virtual ~EntityLookup() = default;
  // nullopt when the entity does not exist.
  virtual Result<std::optional<EntityState>> Current(uint32_t type, std::string_view id) = 0;
};

// The entity and one of its versions, nullopt when absent; Corruption when
// stored bytes do not decode.
Result<std::optional<EntityEntry>> ReadEntity(const KeyReader& reader, uint32_t type,
                                              std::string_view id);
Result<std::optional<VersionEntry>> ReadVersion(const KeyReader& reader, uint32_t type,
                                                std::string_view id, uint32_t number);

}  // namespace quipu::audit

#endif  // QUIPU_AUDIT_INDEX_ENTRIES_H_
