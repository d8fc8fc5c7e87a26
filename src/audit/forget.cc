// audit/forget.cc — forgetting subjects; keyed fingerprints.
#include "audit/forget.h"

#include <cstring>

#include "audit/idempotency.h"
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
