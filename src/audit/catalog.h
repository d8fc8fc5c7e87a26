// audit/catalog.h — entity types (schemas and their registries) and columns.
//
// The catalog is small and changes rarely, so it sits under one mutex that
// readers and the writer hold only for a lookup or a copy. A type's schema
// is an immutable snapshot (shared_ptr<const TypeSchema>) swapped whole on
// evolution, so a query keeps using the schema it looked up.
//
// Types and columns are numbered by ordinal in definition order; the two
// built-in types are ordinals 0 and 1 and exist without any record.
#ifndef QUIPU_AUDIT_CATALOG_H_
#define QUIPU_AUDIT_CATALOG_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "audit/record.h"
#include "quipu/audit_types.h"

namespace quipu::audit {

inline constexpr std::string_view kDefaultActor = "default_actor";
inline constexpr std::string_view kDefaultTarget = "default_target";
inline constexpr std::string_view kIdField = "id";

struct TypeState {
  std::string name;
  uint32_t ordinal = 0;
};

// Whether the type with this ordinal has entities (the index knows).
using HasEntities = std::function<bool(uint32_t ordinal)>;

// A type and the schema it had when looked up.
struct TypeView {
  TypeState* type = nullptr;
  std::shared_ptr<const TypeSchema> schema;
};

// Ordinal of `field` in `schema`, if present.
std::optional<uint32_t> FieldOrdinal(const TypeSchema& schema, std::string_view field);

// Checks a type, field or column name (see quipu/audit_types.h).
Status CheckName(std::string_view what, std::string_view name);

class Catalog {
 public:
  Catalog();  // with the built-in types

  // --- readers (any thread) ---
  // InvalidArgument "unknown entity type 'x'" if absent.
  Result<TypeView> LookupType(std::string_view name) const;
  // The type with `ordinal`, if any.
  std::optional<TypeView> TypeAt(uint32_t ordinal) const;
  // The same without its schema (no reference count traffic), or nullptr.
  TypeState* StateAt(uint32_t ordinal) const;
  std::vector<TypeSchema> Types() const;
  std::vector<ColumnSpec> Columns() const;
  // InvalidArgument "unknown column 'x'" if absent.
  Result<std::pair<uint32_t, ColumnSpec>> LookupColumn(std::string_view name) const;
  std::optional<ColumnSpec> ColumnAt(uint32_t ordinal) const;

  // --- the writer ---
  // The record that DefineType(schema) must write, nullopt if it changes
  // nothing; InvalidArgument when the change is refused.
  Result<std::optional<TypeRecord>> PrepareType(const TypeSchema& schema,
                                                const HasEntities& has_entities) const;
  Result<std::optional<ColumnRecord>> PrepareColumn(const ColumnSpec& column) const;
  // Apply a record (written now or read at Open). Corruption if it breaks
  // the rules PrepareType/PrepareColumn enforce. A record reloaded from the
  // index was checked when first applied; pass has_entities that says
  // false, since entities written after it do not make it wrong.
  Status ApplyType(const TypeRecord& rec, const HasEntities& has_entities);
  Status ApplyColumn(const ColumnRecord& rec);

 private:
  struct Slot {
    std::unique_ptr<TypeState> state;
    std::shared_ptr<const TypeSchema> schema;
  };
  // Index in types_ of `name`; mu_ held.
  std::optional<size_t> FindLocked(std::string_view name) const;

  mutable std::mutex mu_;
  std::vector<Slot> types_;          // guarded by mu_ (TypeState itself is stable)
  std::vector<ColumnSpec> columns_;  // guarded by mu_
};

}  // namespace quipu::audit

#endif  // QUIPU_AUDIT_CATALOG_H_
