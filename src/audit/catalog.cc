// audit/catalog.cc — schema definition, additive evolution, columns.
#include "audit/catalog.h"

#include <set>

#include "util/quote.h"

namespace quipu::audit {

namespace {

constexpr size_t kMaxNameLength = 128;

TypeSchema BuiltIn(std::string_view name) {
  return TypeSchema{std::string(name), {FieldSpec{"name", FieldKind::kText, false, true}}};
}

// A protection must fit its field: an encrypted field is not matchable, so
// it cannot be indexed; prefix tokens only where a blind index is kept.
Status CheckProtection(const std::string& what, const FieldSpec& f) {
  if (f.kind == FieldKind::kSealed) {
    return Status::InvalidArgument(what + ": kind 'sealed' is internal");
  }
  if (f.protection == Protection::kEncrypted && f.indexed) {
    return Status::InvalidArgument(what +
                                   " is encrypted without a blind index: it cannot be "
                                   "indexed (use encrypted+indexed)");
  }
  if (f.prefix_tokens > 0 &&
      (f.protection != Protection::kEncryptedIndexed || f.kind == FieldKind::kNumber)) {
    return Status::InvalidArgument(what +
                                   ": prefix tokens need an encrypted+indexed text or "
                                   "json field");
  }
  if (f.prefix_tokens > kMaxPrefixTokens) {
    return Status::InvalidArgument(what + ": at most " + std::to_string(kMaxPrefixTokens) +
                                   " prefix tokens");
  }
  return Status::OK();
}

Status CheckFields(const TypeSchema& schema) {
  std::set<std::string_view> seen;
  for (const FieldSpec& f : schema.fields) {
    QUIPU_RETURN_IF_ERROR(CheckName("field", f.name));
    if (f.name == kIdField) {
      return Status::InvalidArgument("type '" + schema.name +
                                     "': field name 'id' is reserved for the entity id");
    }
    if (!seen.insert(f.name).second) {
      return Status::InvalidArgument("type '" + schema.name + "' lists field '" + f.name +
                                     "' twice");
    }
    QUIPU_RETURN_IF_ERROR(
        CheckProtection("field '" + f.name + "' of type '" + schema.name + "'", f));
  }
  return Status::OK();
}

const FieldSpec* FindField(const TypeSchema& schema, std::string_view name) {
  for (const FieldSpec& f : schema.fields) {
    if (f.name == name) return &f;
  }
  return nullptr;
}

// Why changing `old_schema` into `next` is refused, or OK. `has_entities`:
// whether versions exist that a new requirement could not cover.
Status CheckEvolution(const TypeSchema& old_schema, const TypeSchema& next, bool has_entities) {
  const std::string prefix = "schema change of type '" + old_schema.name + "' refused: ";
  for (const FieldSpec& old_field : old_schema.fields) {
    const FieldSpec* f = FindField(next, old_field.name);
    if (f == nullptr) {
      return Status::InvalidArgument(prefix + "field '" + old_field.name +
                                     "' cannot be removed (evolution is additive only)");
    }
    if (f->kind != old_field.kind) {
      return Status::InvalidArgument(prefix + "field '" + old_field.name + "' is " +
                                     std::string(FieldKindName(old_field.kind)) +
                                     " and cannot become " + std::string(FieldKindName(f->kind)));
    }
    if (f->protection != old_field.protection || f->prefix_tokens != old_field.prefix_tokens) {
      return Status::InvalidArgument(
          prefix + "field '" + old_field.name + "' is " +
          std::string(ProtectionName(old_field.protection)) +
          (old_field.prefix_tokens > 0
               ? " with " + std::to_string(old_field.prefix_tokens) + " prefix tokens"
               : std::string()) +
          "; a field's protection is fixed when it is defined (its values are stored so)");
    }
    if (f->required && !old_field.required && has_entities) {
      return Status::InvalidArgument(prefix + "field '" + old_field.name +
                                     "' cannot become required: entities already exist");
    }
  }
  for (const FieldSpec& f : next.fields) {
    if (f.required && FindField(old_schema, f.name) == nullptr && has_entities) {
      return Status::InvalidArgument(prefix + "new field '" + f.name +
                                     "' cannot be required: entities already exist");
    }
  }
  return Status::OK();
}

bool SameSchema(const TypeSchema& a, const TypeSchema& b) {
  if (a.fields.size() != b.fields.size()) return false;
  for (size_t i = 0; i < a.fields.size(); ++i) {
    const FieldSpec& x = a.fields[i];
    const FieldSpec& y = b.fields[i];
    if (x.name != y.name || x.kind != y.kind || x.required != y.required ||
        x.indexed != y.indexed || x.protection != y.protection ||
        x.prefix_tokens != y.prefix_tokens) {
      return false;
    }
  }
  return true;
}

// Ordinals are positions, and records refer to fields by ordinal, so an
// evolved schema keeps the old fields in their old positions and appends the
// new ones in the order the caller listed them.
TypeSchema Normalize(const TypeSchema& old_schema, const TypeSchema& next) {
  TypeSchema out{old_schema.name, {}};
  for (const FieldSpec& old_field : old_schema.fields) {
    out.fields.push_back(*FindField(next, old_field.name));
  }
  for (const FieldSpec& f : next.fields) {
    if (FindField(old_schema, f.name) == nullptr) out.fields.push_back(f);
  }
  return out;
}

}  // namespace

std::optional<uint32_t> FieldOrdinal(const TypeSchema& schema, std::string_view field) {
  for (size_t i = 0; i < schema.fields.size(); ++i) {
    if (schema.fields[i].name == field) return static_cast<uint32_t>(i);
  }
  return std::nullopt;
}

Status CheckName(std::string_view what, std::string_view name) {
  auto bad = [&](const char* why) {
    return Status::InvalidArgument(std::string(what) + " name " + QuoteInput(name) + " " + why);
  };
  if (name.empty() || name.size() > kMaxNameLength) return bad("must be 1..128 bytes");
  for (char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '_' || c == '.' || c == '-';
    if (!ok) return bad("may hold only letters, digits, '_', '.' and '-'");
  }
  const char first = name[0];
  if ((first >= '0' && first <= '9') || first == '.' || first == '-') {
    return bad("must not start with a digit, '.' or '-'");
  }
  return Status::OK();
}

Catalog::Catalog() {
  for (std::string_view name : {kDefaultActor, kDefaultTarget}) {
    auto state = std::make_unique<TypeState>();
    state->name = std::string(name);
    state->ordinal = static_cast<uint32_t>(types_.size());
    types_.push_back(Slot{std::move(state), std::make_shared<const TypeSchema>(BuiltIn(name))});
  }
}

std::optional<size_t> Catalog::FindLocked(std::string_view name) const {
  for (size_t i = 0; i < types_.size(); ++i) {
    if (types_[i].state->name == name) return i;
  }
  return std::nullopt;
}

Result<TypeView> Catalog::LookupType(std::string_view name) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto i = FindLocked(name);
  if (!i) return Status::InvalidArgument("unknown entity type " + QuoteInput(name));
  return TypeView{types_[*i].state.get(), types_[*i].schema};
}

std::optional<TypeView> Catalog::TypeAt(uint32_t ordinal) const {
  std::lock_guard<std::mutex> lock(mu_);
  if (ordinal >= types_.size()) return std::nullopt;
  return TypeView{types_[ordinal].state.get(), types_[ordinal].schema};
}

TypeState* Catalog::StateAt(uint32_t ordinal) const {
  std::lock_guard<std::mutex> lock(mu_);
  return ordinal < types_.size() ? types_[ordinal].state.get() : nullptr;
}

std::vector<TypeSchema> Catalog::Types() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<TypeSchema> out;
  for (const Slot& s : types_) out.push_back(*s.schema);
  return out;
}

std::vector<ColumnSpec> Catalog::Columns() const {
  std::lock_guard<std::mutex> lock(mu_);
  return columns_;
}

Result<std::pair<uint32_t, ColumnSpec>> Catalog::LookupColumn(std::string_view name) const {
  std::lock_guard<std::mutex> lock(mu_);
  for (size_t i = 0; i < columns_.size(); ++i) {
    if (columns_[i].name == name) return std::make_pair(static_cast<uint32_t>(i), columns_[i]);
  }
  return Status::InvalidArgument("unknown column " + QuoteInput(name) + " (register it first)");
}

std::optional<ColumnSpec> Catalog::ColumnAt(uint32_t ordinal) const {
  std::lock_guard<std::mutex> lock(mu_);
  if (ordinal >= columns_.size()) return std::nullopt;
  return columns_[ordinal];
}

Result<std::optional<TypeRecord>> Catalog::PrepareType(const TypeSchema& schema,
                                                       const HasEntities& has_entities) const {
  QUIPU_RETURN_IF_ERROR(CheckName("type", schema.name));
  QUIPU_RETURN_IF_ERROR(CheckFields(schema));
  std::lock_guard<std::mutex> lock(mu_);
  auto i = FindLocked(schema.name);
  if (!i) return std::optional<TypeRecord>(TypeRecord{schema});
  const TypeSchema& old_schema = *types_[*i].schema;
  QUIPU_RETURN_IF_ERROR(
      CheckEvolution(old_schema, schema, has_entities(static_cast<uint32_t>(*i))));
  TypeSchema next = Normalize(old_schema, schema);
  if (SameSchema(old_schema, next)) return std::optional<TypeRecord>();
  return std::optional<TypeRecord>(TypeRecord{std::move(next)});
}

Status Catalog::ApplyType(const TypeRecord& rec, const HasEntities& has_entities) {
  const TypeSchema& schema = rec.schema;
  Status valid = CheckName("type", schema.name);
  if (valid.ok()) valid = CheckFields(schema);
  std::lock_guard<std::mutex> lock(mu_);
  auto i = FindLocked(schema.name);
  if (valid.ok() && i) {
    // Positions must be kept, or recorded ordinals would change meaning.
    const TypeSchema& old_schema = *types_[*i].schema;
    valid = CheckEvolution(old_schema, schema, has_entities(static_cast<uint32_t>(*i)));
    if (valid.ok() && !SameSchema(Normalize(old_schema, schema), schema)) {
      valid = Status::InvalidArgument("fields moved");
    }
  }
  if (!valid.ok()) return Status::Corruption("type record: " + valid.message());
  auto snapshot = std::make_shared<const TypeSchema>(schema);
  if (i) {
    types_[*i].schema = std::move(snapshot);
    return Status::OK();
  }
  auto state = std::make_unique<TypeState>();
  state->name = schema.name;
  state->ordinal = static_cast<uint32_t>(types_.size());
  types_.push_back(Slot{std::move(state), std::move(snapshot)});
  return Status::OK();
}

Result<std::optional<ColumnRecord>> Catalog::PrepareColumn(const ColumnSpec& column) const {
  QUIPU_RETURN_IF_ERROR(CheckName("column", column.name));
  const std::string what = "column '" + column.name + "'";
  if (column.kind == FieldKind::kSealed) {
    return Status::InvalidArgument(what + ": kind 'sealed' is internal");
  }
  if (column.protection == Protection::kEncryptedIndexed) {
    return Status::InvalidArgument(what +
                                   ": columns keep no blind index (use hashed to match "
                                   "them, or encrypted)");
  }
  if (column.protection == Protection::kPlain && !column.subject.empty()) {
    return Status::InvalidArgument(what + ": a subject applies to protected columns only");
  }
  if (!column.subject.empty()) QUIPU_RETURN_IF_ERROR(LookupType(column.subject).status());
  std::lock_guard<std::mutex> lock(mu_);
  for (const ColumnSpec& c : columns_) {
    if (c.name != column.name) continue;
    if (c.kind == column.kind && c.protection == column.protection && c.subject == column.subject) {
      return std::optional<ColumnRecord>();
    }
    return Status::InvalidArgument(
        "column '" + c.name + "' is already registered as " + std::string(FieldKindName(c.kind)) +
        (c.protection != Protection::kPlain ? ", " + std::string(ProtectionName(c.protection))
                                            : std::string()) +
        (c.subject.empty() ? std::string() : ", subject " + c.subject));
  }
  return std::optional<ColumnRecord>(ColumnRecord{column});
}

Status Catalog::ApplyColumn(const ColumnRecord& rec) {
  Status valid = CheckName("column", rec.column.name);
  std::lock_guard<std::mutex> lock(mu_);
  for (const ColumnSpec& c : columns_) {
    if (c.name == rec.column.name) valid = Status::InvalidArgument("registered twice");
  }
  if (!valid.ok()) return Status::Corruption("column record: " + valid.message());
  columns_.push_back(rec.column);
  return Status::OK();
}

}  // namespace quipu::audit
