// audit/index_read.cc — rows, versions, histories and entity pages.
#include "audit/index_read.h"

#include <charconv>
#include <cstdio>

#include "audit/index_keys.h"
#include "util/quote.h"

namespace quipu::audit {

namespace {

constexpr size_t kMaxEntityPage = 10000;

Status NoRow(uint64_t log_id) { return Status::NotFound("no log row " + std::to_string(log_id)); }

std::string EntityCursor(uint64_t seq) {
  char buf[24];
  std::snprintf(buf, sizeof buf, "e%016llx", static_cast<unsigned long long>(seq));
  return buf;
}

Result<uint64_t> ParseEntityCursor(std::string_view c) {
  uint64_t seq = 0;
  if (c.size() == 17 && c[0] == 'e') {
    auto [p, ec] = std::from_chars(c.data() + 1, c.data() + 17, seq, 16);
    if (ec == std::errc() && p == c.data() + 17) return seq;
  }
  return Status::InvalidArgument("malformed cursor " + QuoteInput(c) +
                                 " (use next_cursor of a page of the same listing)");
}

}  // namespace

IndexRead::IndexRead(IndexDb* db, const Catalog* catalog, const Protector* protector)
    : snap_(db), catalog_(catalog), protector_(protector) {}

Result<Value> IndexRead::ShowValue(const Value& stored, Scope scope) const {
  if (stored.kind != FieldKind::kSealed) return stored;
  if (protector_ != nullptr) return protector_->Show(stored, scope);
  return ShowSealedWithoutKeys(stored);
}

Result<Fields> IndexRead::Shown(const TypeSchema& schema, uint32_t type,
                                const OrdinalValues& fields) const {
  Fields out;
  for (const auto& [ordinal, value] : fields) {
    if (ordinal >= schema.fields.size()) continue;
    auto shown = ShowValue(value, Scope{'f', type, ordinal});
    if (!shown.ok()) {
      return shown.status().WithContext("field " + QuoteInput(schema.fields[ordinal].name));
    }
    out.emplace(schema.fields[ordinal].name, std::move(*shown));
  }
  return out;
}

Fields IndexRead::Named(const TypeSchema& schema, const OrdinalValues& fields) {
  Fields out;
  for (const auto& [ordinal, value] : fields) {
    if (ordinal < schema.fields.size()) out.emplace(schema.fields[ordinal].name, value);
  }
  return out;
}

Result<EntityVersion> IndexRead::Materialize(uint32_t type, const std::string& id,
                                             uint32_t number) {
  auto version = MaterializeIfPresent(type, id, number);
  if (!version.ok()) return version.status();
  if (!*version) {
    return Status::Corruption("index: version " + std::to_string(number) + " of " + QuoteInput(id) +
                              " of type ordinal " + std::to_string(type) + " is missing");
  }
  return std::move(**version);
}

Result<std::optional<EntityVersion>> IndexRead::MaterializeIfPresent(uint32_t type,
                                                                     const std::string& id,
                                                                     uint32_t number) {
  auto key = std::make_tuple(type, id, number);
  if (auto it = versions_.find(key); it != versions_.end()) {
    return std::optional<EntityVersion>(it->second);
  }
  auto view = catalog_->TypeAt(type);
  if (!view) return std::optional<EntityVersion>();
  auto version = ReadVersion(*this, type, id, number);
  if (!version.ok()) return version.status();
  if (!*version) return std::optional<EntityVersion>();
  auto fields = Shown(*view->schema, type, (*version)->fields);
  if (!fields.ok()) return fields.status();
  EntityVersion out{view->type->name,  id, number, (*version)->log_id, (*version)->micros,
                    std::move(*fields)};
  versions_.emplace(std::move(key), out);
  return std::optional<EntityVersion>(std::move(out));
}

Result<EventRecord> IndexRead::Record(uint64_t log_id, Lsn* lsn) {
  auto bytes = Get(keys::Row(log_id));
  if (!bytes.ok()) return bytes.status();
  if (!*bytes) return NoRow(log_id);
  RowEntry row;
  QUIPU_RETURN_IF_ERROR(DecodeRow(**bytes, &row));
  EventRecord rec;
  QUIPU_RETURN_IF_ERROR(
      DecodeEvent(row.payload, &rec).WithContext("index row " + std::to_string(log_id)));
  *lsn = row.lsn;
  return rec;
}

Result<Hit> IndexRead::ToHit(const EventRecord& rec, Lsn lsn) {
  Hit hit;
  hit.log_id = rec.log_id;
  hit.lsn = lsn;
  hit.timestamp_micros = rec.micros;
  // The row's pins were checked when it was applied; a version missing now
  // would be damage that the read reports as an empty version rather than
  // failing the whole page. A protected value that cannot be opened (a
  // wrong key, a value failing authentication) fails the read instead: it
  // must not pass for an erased one.
  Status failed;
  auto pinned = [&](const RefRecord& ref) {
    auto v = MaterializeIfPresent(ref.type, ref.id, ref.number);
    if (v.ok() && *v) return std::move(**v);
    if (!v.ok() && failed.ok()) failed = v.status();
    return EntityVersion{"", ref.id, ref.number, 0, 0, {}};
  };
  hit.actor = pinned(rec.actor);
  hit.method = rec.method;
  hit.url = rec.url;
  hit.content = rec.content;
  for (const auto& [ordinal, value] : rec.columns) {
    auto column = catalog_->ColumnAt(ordinal);
    if (!column) continue;
    auto shown = ShowValue(value, Scope{'c', 0, ordinal});
    if (!shown.ok()) return shown.status().WithContext("column " + QuoteInput(column->name));
    hit.columns[column->name] = std::move(*shown);
  }
  for (const RefRecord& t : rec.targets) hit.targets.push_back(pinned(t));
  if (!failed.ok()) return failed;
  return hit;
}

Result<Hit> IndexRead::Row(uint64_t log_id) {
  Lsn lsn = 0;
  auto rec = Record(log_id, &lsn);
  if (!rec.ok()) return rec.status();
  return ToHit(*rec, lsn);
}

Result<Lsn> IndexRead::LsnOf(uint64_t log_id) {
  auto bytes = Get(keys::Row(log_id));
  if (!bytes.ok()) return bytes.status();
  if (!*bytes) return NoRow(log_id);
  RowEntry row;
  QUIPU_RETURN_IF_ERROR(DecodeRow(**bytes, &row));
  return row.lsn;
}

Result<std::vector<EntityVersion>> IndexRead::History(std::string_view type, std::string_view id) {
  auto view = catalog_->LookupType(type);
  if (!view.ok()) return view.status();
  const uint32_t ordinal = view->type->ordinal;
  const std::string prefix = keys::VersionPrefix(ordinal, id);
  BoundedIterator it(snap_, prefix, keys::Successor(prefix));
  std::vector<EntityVersion> out;
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    VersionEntry v;
    QUIPU_RETURN_IF_ERROR(DecodeVersion(View(it->value()), &v));
    const uint32_t number = keys::GetBig32(it->key().data() + prefix.size());
    auto fields = Shown(*view->schema, ordinal, v.fields);
    if (!fields.ok()) return fields.status();
    out.push_back(EntityVersion{view->type->name, std::string(id), number, v.log_id, v.micros,
                                std::move(*fields)});
  }
  QUIPU_RETURN_IF_ERROR(FromRocks(it->status(), "read history"));
  if (out.empty()) {
    return Status::NotFound("no entity " + QuoteInput(id) + " of type " + QuoteInput(type));
  }
  return out;
}

Result<EntityPage> IndexRead::Entities(std::string_view type, size_t limit,
                                       std::string_view cursor) {
  if (limit < 1 || limit > kMaxEntityPage) {
    return Status::InvalidArgument("entity page limit must be 1..10000");
  }
  auto view = catalog_->LookupType(type);
  if (!view.ok()) return view.status();
  uint64_t after = 0;
  if (!cursor.empty()) {
    auto seq = ParseEntityCursor(cursor);
    if (!seq.ok()) return seq.status();
    after = *seq;
  }
  const uint32_t ordinal = view->type->ordinal;
  BoundedIterator it(snap_, keys::Order(ordinal, after + 1),
                     keys::Successor(keys::OrderPrefix(ordinal)));
  EntityPage page;
  uint64_t last = 0;
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    if (page.entities.size() == limit) {
      page.next_cursor = EntityCursor(last);
      break;
    }
    const std::string id(View(it->value()));
    auto entity = ReadEntity(*this, ordinal, id);
    if (!entity.ok()) return entity.status();
    if (!*entity)
      return Status::Corruption("index: entity " + QuoteInput(id) + " is listed but missing");
    auto latest = Materialize(ordinal, id, (*entity)->count);
    if (!latest.ok()) return latest.status();
    page.entities.push_back(std::move(*latest));
    last = keys::GetBig64(it->key().data() + 5);
  }
  QUIPU_RETURN_IF_ERROR(FromRocks(it->status(), "list entities"));
  return page;
}

}  // namespace quipu::audit
