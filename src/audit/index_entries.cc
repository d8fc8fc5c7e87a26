// audit/index_entries.cc — codecs of the derived index's values.
#include "audit/index_entries.h"

#include <cstring>

#include "audit/index_keys.h"

namespace quipu::audit {

namespace {

Status Bad(std::string_view what) {
  return Status::Corruption("index: " + std::string(what) + " entry does not decode");
}

}  // namespace

std::string EncodeEntity(const EntityEntry& e) {
  std::string out;
  keys::PutBig64(&out, e.seq);
  keys::PutBig32(&out, e.count);
  return out;
}

Status DecodeEntity(std::string_view bytes, EntityEntry* e) {
  if (bytes.size() != 12) return Bad("entity");
  e->seq = keys::GetBig64(bytes.data());
  e->count = keys::GetBig32(bytes.data() + 8);
  return Status::OK();
}

std::string EncodeVersion(const VersionEntry& v) {
  std::string out;
  keys::PutBig64(&out, v.log_id);
  keys::PutBig64(&out, keys::SortableMicros(v.micros));
  EncodeOrdinalValues(v.fields, &out);
  return out;
}

Status DecodeVersion(std::string_view bytes, VersionEntry* v) {
  if (bytes.size() < 16) return Bad("version");
  v->log_id = keys::GetBig64(bytes.data());
  v->micros = keys::MicrosFromSortable(keys::GetBig64(bytes.data() + 8));
  v->fields.clear();
  if (!DecodeOrdinalValues(bytes.substr(16), &v->fields).ok()) return Bad("version");
  return Status::OK();
}

std::string EncodeRowHeader(Lsn lsn, uint64_t keyed_count) {
  std::string out;
  keys::PutBig64(&out, lsn);
  keys::PutBig64(&out, keyed_count);
  return out;
}

Status DecodeRow(std::string_view bytes, RowEntry* row) {
  if (bytes.size() < 16) return Bad("row");
  row->lsn = keys::GetBig64(bytes.data());
  row->keyed_count = keys::GetBig64(bytes.data() + 8);
  row->payload = bytes.substr(16);
  return Status::OK();
}

std::string EncodeKeyed(const KeyedEntry& k) {
  std::string out(reinterpret_cast<const char*>(k.fingerprint.bytes.data()), Fingerprint::kSize);
  keys::PutBig64(&out, keys::SortableMicros(k.written_micros));
  keys::PutBig64(&out, k.seq);
  return out;
}

Status DecodeKeyed(std::string_view bytes, KeyedEntry* k) {
  if (bytes.size() != Fingerprint::kSize + 16) return Bad("idempotency key");
  std::memcpy(k->fingerprint.bytes.data(), bytes.data(), Fingerprint::kSize);
  k->written_micros = keys::MicrosFromSortable(keys::GetBig64(bytes.data() + Fingerprint::kSize));
  k->seq = keys::GetBig64(bytes.data() + Fingerprint::kSize + 8);
  return Status::OK();
}

Result<std::optional<EntityEntry>> ReadEntity(const KeyReader& reader, uint32_t type,
                                              std::string_view id) {
  auto bytes = reader.Get(keys::Entity(type, id));
  if (!bytes.ok()) return bytes.status();
  if (!*bytes) return std::optional<EntityEntry>();
  EntityEntry e;
  QUIPU_RETURN_IF_ERROR(DecodeEntity(**bytes, &e));
  return std::optional<EntityEntry>(e);
}

Result<std::optional<VersionEntry>> ReadVersion(const KeyReader& reader, uint32_t type,
                                                std::string_view id, uint32_t number) {
  auto bytes = reader.Get(keys::Version(type, id, number));
  if (!bytes.ok()) return bytes.status();
  if (!*bytes) return std::optional<VersionEntry>();
  VersionEntry v;
  QUIPU_RETURN_IF_ERROR(DecodeVersion(**bytes, &v));
  return std::optional<VersionEntry>(std::move(v));
}

}  // namespace quipu::audit
