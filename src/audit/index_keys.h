// audit/index_keys.h — the keys of the audit store's derived index.
//
// The index (audit/index.h) keeps everything an audit store derives from its
// log in one RocksDB key space, each kind of entry under a one-byte tag. The
// layout is specified in docs/format.md, "Derived index"; in short:
//
//   M                                      meta: applied LSN and counters
//   S                                      sync point: an LSN whose batches,
//                                          and all before, are durable
//   C lsn                                  a type or column record, verbatim
//   R log_id                               a row: its LSN and event record
//   T micros log_id                        rows in time order
//   E type id                              an entity: creation seq, versions
//   O type seq                             entities in order of creation
//   V type id number                       a version: its event and fields
//   X type field value id                  field value -> entity (exact)
//   Y type field folded-value id           the same, ASCII case folded
//   P type id role micros log_id           rows naming an entity (a|t)
//   I key log_id                           an idempotency key's events
//   J seq                                  keyed events in log order
//   G lsn                                  a purge, carry or forget record,
//                                          verbatim
//   F key_id                               a data key a forget record
//                                          destroyed: the LSN of the record
//
// Integers are big-endian so that keys sort numerically; timestamps are
// offset so that negative ones sort first. Strings inside a key are escaped
// (0x00 -> 0x00 0xFF) and terminated (0x00 0x01), which keeps them in byte
// order, lets a string be followed by more key parts, and makes the escaped
// form of a prefix a prefix of the escaped value (prefix queries).
#ifndef QUIPU_AUDIT_INDEX_KEYS_H_
#define QUIPU_AUDIT_INDEX_KEYS_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "quipu/audit_types.h"

namespace quipu::audit::keys {

inline constexpr char kMeta = 'M';
inline constexpr char kSyncPoint = 'S';
inline constexpr char kCatalog = 'C';
inline constexpr char kRow = 'R';
inline constexpr char kTime = 'T';
inline constexpr char kEntity = 'E';
inline constexpr char kOrder = 'O';
inline constexpr char kVersion = 'V';
inline constexpr char kExact = 'X';
inline constexpr char kFolded = 'Y';
inline constexpr char kPosting = 'P';
inline constexpr char kKey = 'I';
inline constexpr char kKeySeq = 'J';
inline constexpr char kPurge = 'G';
inline constexpr char kForgotten = 'F';

// Roles in a posting key.
inline constexpr char kAsActor = 'a';
inline constexpr char kAsTarget = 't';

// The field number under which entity ids are indexed (no schema has that
// many fields).
inline constexpr uint32_t kIdField = 0xFFFFFFFF;

void PutBig32(std::string* out, uint32_t v);
void PutBig64(std::string* out, uint64_t v);
uint32_t GetBig32(const char* p);
uint64_t GetBig64(const char* p);

// Timestamps and doubles as unsigned integers in the same order.
uint64_t SortableMicros(int64_t micros);
int64_t MicrosFromSortable(uint64_t v);
uint64_t SortableDouble(double d);  // -0 sorts (and matches) as +0

// `s` escaped, without and with its terminator.
void PutEscaped(std::string* out, std::string_view s);
void PutTerminated(std::string* out, std::string_view s);
// Reads a terminated string from the front of `*in` into `*out`; false if
// `*in` holds no terminator.
bool GetTerminated(std::string_view* in, std::string* out);
// Drops the front of `*in` up to and including a terminator.
bool SkipTerminated(std::string_view* in);

// The bytes a field value is indexed by: the text of text and json values,
// the 8 sortable bytes of a number.
std::string IndexBytes(const Value& v);
// ASCII lower case (exact_ci matches on it).
std::string Folded(std::string_view s);

// The field entries a plain value is indexed under, as (tag, bytes): kExact
// with its index bytes and, for text and json, kFolded with their folded
// form. A sealed value yields nothing here: its blind tokens are inside its
// sealed body (audit/protect.h, TermsOf).
std::vector<std::pair<char, std::string>> FieldTerms(const Value& v);

// (timestamp, log_id), 16 bytes: the order of rows in queries.
std::string OrderKey(int64_t micros, uint64_t log_id);

std::string Meta();
std::string SyncPoint();
std::string Catalog(uint64_t lsn);
std::string Purge(uint64_t lsn);
std::string Forgotten(std::string_view key_id);
std::string Row(uint64_t log_id);
std::string Time(int64_t micros, uint64_t log_id);
std::string EntityPrefix(uint32_t type);
std::string Entity(uint32_t type, std::string_view id);
std::string OrderPrefix(uint32_t type);
std::string Order(uint32_t type, uint64_t seq);
std::string VersionPrefix(uint32_t type, std::string_view id);
std::string Version(uint32_t type, std::string_view id, uint32_t number);
// tag is kExact or kFolded.
std::string FieldPrefix(char tag, uint32_t type, uint32_t field);
std::string FieldEntry(char tag, uint32_t type, uint32_t field, std::string_view value,
                       std::string_view id);
std::string PostingPrefix(uint32_t type, std::string_view id, char role);
std::string Posting(uint32_t type, std::string_view id, char role, int64_t micros, uint64_t log_id);
std::string KeyPrefix(std::string_view key);
std::string KeyEntry(std::string_view key, uint64_t log_id);
std::string KeySeq(uint64_t seq);

// The smallest key greater than every key that starts with `prefix`
// (prefix is never all 0xFF here).
std::string Successor(std::string prefix);

}  // namespace quipu::audit::keys

#endif  // QUIPU_AUDIT_INDEX_KEYS_H_
