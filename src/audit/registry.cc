// audit/registry.cc — entity versions, append-only.
#include "audit/registry.h"

namespace quipu::audit {

std::optional<uint32_t> Registry::Find(std::string_view id) const {
  std::lock_guard<std::mutex> lock(ids_mu_);
  auto it = ids_.find(id);
  if (it == ids_.end()) return std::nullopt;
  return it->second;
}

std::optional<uint32_t> Registry::FindAsWriter(std::string_view id) const {
  auto it = ids_.find(id);
  if (it == ids_.end()) return std::nullopt;
  return it->second;
}

std::optional<uint32_t> Registry::VersionIndex(uint32_t e, uint32_t number) const {
  const Entity& ent = entities_[e];
  if (number == 0 || number > ent.count.load(std::memory_order_acquire)) return std::nullopt;
  // Events nearly always pin the newest version; only old pins walk the list.
  const uint32_t latest = ent.latest.load(std::memory_order_acquire);
  if (versions_[latest].number == number) return latest;
  std::optional<uint32_t> found;
  ent.versions.ForEach([&](uint32_t v) {
    if (versions_[v].number == number) found = v;
  });
  return found;
}

uint32_t Registry::AddEntity(std::string id) {
  const auto index = static_cast<uint32_t>(entities_.Size());
  Entity& e = entities_.Next();
  e.id = id;
  entities_.Publish();
  std::lock_guard<std::mutex> lock(ids_mu_);
  ids_.emplace(std::move(id), index);
  return index;
}

uint32_t Registry::AddVersion(StoredVersion v) {
  const auto index = static_cast<uint32_t>(versions_.Size());
  const uint32_t e = v.entity;
  versions_.Next() = std::move(v);
  versions_.Publish();
  Entity& ent = entities_.Mutable(e);
  ent.versions.Push(index);
  ent.latest.store(index, std::memory_order_release);
  ent.count.fetch_add(1, std::memory_order_release);
  return index;
}

}  // namespace quipu::audit
