// audit/registry.h — the versions of the entities of one type.
//
// A registry never overwrites: each change to an entity appends an immutable
// StoredVersion. Alongside, every entity keeps the rows that name it (as a
// target, as the actor), which is how queries start from an entity.
//
// Concurrency: one writer at a time (the store's writer mutex) calls the
// non-const methods; readers use the const ones concurrently with it. All
// storage is append-only (audit/append_only.h). The id -> entity table is a
// hash map under a small mutex held only for one lookup or insert.
#ifndef QUIPU_AUDIT_REGISTRY_H_
#define QUIPU_AUDIT_REGISTRY_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "audit/append_only.h"
#include "quipu/audit_types.h"

namespace quipu::audit {

struct StoredVersion {
  uint32_t entity = 0;  // index in its registry
  uint32_t number = 0;  // 1, 2, ...
  uint64_t log_id = 0;  // the event that wrote it
  int64_t micros = 0;   // that event's timestamp
  Fields fields;
};

struct Entity {
  std::string id;
  AppendList<uint32_t> versions;   // indexes of its StoredVersions, oldest first
  AppendList<uint32_t> as_target;  // row indexes (log_id - 1), ascending
  AppendList<uint32_t> as_actor;
  std::atomic<uint32_t> latest{0};  // index of its newest StoredVersion
  std::atomic<uint32_t> count{0};   // number of versions
};

class Registry {
 public:
  Registry() = default;
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  // --- readers ---
  std::optional<uint32_t> Find(std::string_view id) const;
  size_t EntityCount() const { return entities_.Size(); }
  const Entity& entity(uint32_t i) const { return entities_[i]; }
  size_t VersionCount() const { return versions_.Size(); }
  const StoredVersion& version(uint32_t i) const { return versions_[i]; }
  // Index of version `number` of entity `e`, if it exists.
  std::optional<uint32_t> VersionIndex(uint32_t e, uint32_t number) const;

  // --- the writer ---
  // As Find, without the lock: only the writer inserts, so the writer may
  // read the table unlocked (Open's replay does this once per pin).
  std::optional<uint32_t> FindAsWriter(std::string_view id) const;
  uint32_t AddEntity(std::string id);
  // Appends `v` (whose number must be the entity's count + 1).
  uint32_t AddVersion(StoredVersion v);
  Entity& MutableEntity(uint32_t i) { return entities_.Mutable(i); }

 private:
  struct Hash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>()(s); }
  };

  ChunkedVector<Entity> entities_;
  ChunkedVector<StoredVersion> versions_;
  mutable std::mutex ids_mu_;
  std::unordered_map<std::string, uint32_t, Hash, std::equal_to<>> ids_;  // guarded by ids_mu_
};

}  // namespace quipu::audit

#endif  // QUIPU_AUDIT_REGISTRY_H_
