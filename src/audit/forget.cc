// audit/forget.cc — forgetting subjects; keyed fingerprints.
#include "audit/forget.h"

#include <algorithm>
#include <cstring>

#include "audit/idempotency.h"
#include "audit/index_entries.h"
#include "audit/index_keys.h"

namespace quipu::audit {

namespace {

bool GivesProtected(const Catalog& catalog, const EntityInput& in) {
  if (in.fields.empty()) return false;
  auto view = catalog.LookupType(in.type);
  if (!view.ok()) return false;  // Emit refuses it later
  for (const FieldSpec& f : view->schema->fields) {
    if (f.protection != Protection::kPlain && in.fields.count(f.name) > 0) return true;
  }
  return false;
}

bool GivesProtected(const Catalog& catalog, const Event& event) {
  if (GivesProtected(catalog, event.actor)) return true;
  for (const EntityInput& t : event.targets) {
    if (GivesProtected(catalog, t)) return true;
  }
  for (const auto& [name, value] : event.columns) {
    auto column = catalog.LookupColumn(name);
    if (column.ok() && column->second.protection != Protection::kPlain) return true;
  }
  return false;
}

}  // namespace

Status LoadForgotten(IndexDb* db, Protector* protector, bool finish) {
  std::vector<std::string> forgotten;
  {
    IndexSnapshot snap(db);
    const std::string prefix(1, keys::kForgotten);
    BoundedIterator it(snap, prefix, keys::Successor(prefix));
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
      forgotten.emplace_back(View(it->key()).substr(1));
    }
    QUIPU_RETURN_IF_ERROR(FromRocks(it->status(), "read forgotten keys"));
  }
  for (const std::string& key_id : forgotten) protector->AddForgotten(key_id);
  if (!finish) return Status::OK();
  auto keys = protector->Keys(/*create=*/false);
  if (!keys.ok()) return keys.status();
  if (*keys == nullptr) return Status::OK();
  QUIPU_RETURN_IF_ERROR((*keys)->ForgetKeyIds(forgotten));
  for (const std::string& key_id : (*keys)->Damaged()) {
    return Status::Corruption((*keys)->path() + ": the data key slot at offset " +
                              std::to_string((*keys)->DamagedOffset(key_id)) +
                              " is damaged, and no forget record names it");
  }
  return Status::OK();
}

Status DropSubjectTokens(IndexDb* db, const Protector& protector, uint32_t type,
                         std::string_view id, const std::vector<std::string>& key_ids) {
  if (key_ids.empty() || !protector.has_master()) return Status::OK();
  rocksdb::WriteBatch batch;
  {
    IndexSnapshot snap(db);
    const std::string prefix = keys::VersionPrefix(type, id);
    BoundedIterator it(snap, prefix, keys::Successor(prefix));
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
      VersionEntry v;
      QUIPU_RETURN_IF_ERROR(DecodeVersion(View(it->value()), &v));
      for (const auto& [ordinal, value] : v.fields) {
        if (value.kind != FieldKind::kSealed) continue;
        SealedParts parts;
        QUIPU_RETURN_IF_ERROR(DecodeSealed(value.text, &parts));
        if (std::find(key_ids.begin(), key_ids.end(), parts.key_id) == key_ids.end()) continue;
        auto opened = protector.Open(value, Scope{'f', type, ordinal}, /*ignore_forgotten=*/true);
        if (!opened.ok()) return opened.status();
        for (const std::string& token : opened->tokens) {
          const char tag = token[0] == kFoldedToken ? keys::kFolded : keys::kExact;
          batch.Delete(keys::FieldEntry(tag, type, ordinal, token, id));
        }
      }
    }
    QUIPU_RETURN_IF_ERROR(FromRocks(it->status(), "read versions"));
  }
  return db->Write(&batch, /*sync=*/false);
}

Status FinishForget(IndexDb* db, const Protector& protector, const ForgetRecord& rec) {
  if (rec.key_ids.empty()) return Status::OK();
  QUIPU_RETURN_IF_ERROR(DropSubjectTokens(db, protector, rec.type, rec.id, rec.key_ids));
  auto keys = protector.Keys(/*create=*/false);
  if (!keys.ok()) return keys.status();
  if (*keys == nullptr) return Status::OK();
  return (*keys)->ForgetKeyIds(rec.key_ids);
}

Result<KeyReport> KeyStatusOf(IndexDb* db, const Protector& protector) {
  KeyReport report;
  if (protector.master() != nullptr) report.master_versions = protector.master()->Versions();
  {
    IndexSnapshot snap(db);
    auto tokens = CountTokenVersions(snap);
    if (!tokens.ok()) return tokens.status();
    report.tokens_by_version = std::move(*tokens);
  }
  auto keys = protector.Keys(/*create=*/false);
  if (!keys.ok()) return keys.status();
  if (*keys == nullptr) return report;
  const privacy::KeyUsage usage = (*keys)->Usage();
  report.live_by_version = usage.live_by_version;
  report.forgotten = usage.forgotten;
  return report;
}

Result<uint64_t> RewrapDataKeys(const Protector& protector) {
  if (protector.master() == nullptr) {
    return Status::FailedPrecondition("re-wrapping data keys needs the master keys");
  }
  auto keys = protector.Keys(/*create=*/false);
  if (!keys.ok()) return keys.status();
  if (*keys == nullptr) return uint64_t{0};
  return (*keys)->Rewrap(privacy::Impl(*protector.master()));
}

Result<ForgetRecord> PrepareForget(Protector* protector, uint32_t type, std::string_view id,
                                   int64_t now) {
  ForgetRecord rec;
  rec.type = type;
  rec.id = std::string(id);
  rec.micros = now;
  auto keys = protector->Keys(/*create=*/false);
  if (!keys.ok()) return keys.status();
  if (*keys != nullptr) rec.key_ids = (*keys)->LiveKeyIds(type, id);
  return rec;
}

namespace {

void CountSealed(const OrdinalValues& values, std::map<uint32_t, uint64_t>* out) {
  for (const auto& [ordinal, value] : values) {
    if (value.kind != FieldKind::kSealed) continue;
    SealedParts parts;
    if (!DecodeSealed(value.text, &parts).ok()) continue;
    if (parts.protection != Protection::kEncrypted) (*out)[parts.index_version] += 1;
  }
}

}  // namespace

Result<std::map<uint32_t, uint64_t>> CountTokenVersions(const IndexSnapshot& snap) {
  std::map<uint32_t, uint64_t> out;
  {
    const std::string prefix(1, keys::kVersion);
    BoundedIterator it(snap, prefix, keys::Successor(prefix));
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
      VersionEntry v;
      QUIPU_RETURN_IF_ERROR(DecodeVersion(View(it->value()), &v));
      CountSealed(v.fields, &out);
    }
    QUIPU_RETURN_IF_ERROR(FromRocks(it->status(), "read versions"));
  }
  const std::string prefix(1, keys::kRow);
  BoundedIterator it(snap, prefix, keys::Successor(prefix));
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    RowEntry row;
    QUIPU_RETURN_IF_ERROR(DecodeRow(View(it->value()), &row));
    EventRecord rec;
    QUIPU_RETURN_IF_ERROR(DecodeEvent(row.payload, &rec));
    CountSealed(rec.columns, &out);
  }
  QUIPU_RETURN_IF_ERROR(FromRocks(it->status(), "read rows"));
  return out;
}

Result<Fingerprint> FingerprintFor(const Catalog& catalog, const Protector& protector,
                                   const Event& event) {
  if (!GivesProtected(catalog, event)) return FingerprintOf(event);
  std::string input;
  EncodeFingerprintInput(event, &input);
  auto mac = protector.KeyedFingerprint(input);
  if (!mac.ok()) return mac.status();
  Fingerprint fp;
  std::memcpy(fp.bytes.data(), mac->data(), Fingerprint::kSize);
  return fp;
}

}  // namespace quipu::audit
