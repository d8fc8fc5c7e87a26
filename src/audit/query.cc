// audit/query.cc — filters, ordering, cursors and hit materialization.
//
// A query runs in three steps, none holding a lock:
//   1. resolve each entity filter into the set of matching entities, by
//      testing the filtered field of EVERY version written within the
//      snapshot (so old names still match);
//   2. take the rows naming the matching entities of the most selective
//      filter (or all rows if there is no entity filter) and test each
//      against all filters;
//   3. keep the rows after the cursor, partially sort the first limit+1 by
//      (timestamp, log_id) and materialize the page.
#include "audit/query.h"

#include <algorithm>
#include <charconv>
#include <cstdio>

#include "util/quote.h"

namespace quipu::audit {

namespace {

constexpr uint32_t kMaxLimit = 10000;

std::string Quote(std::string_view s) { return QuoteInput(s); }

// An entity filter resolved against a snapshot.
struct Resolved {
  uint32_t type = 0;
  const Registry* registry = nullptr;
  std::vector<bool> match;  // by entity index
};

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    auto lower = [](char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c; };
    if (lower(a[i]) != lower(b[i])) return false;
  }
  return true;
}

bool TextMatches(MatchOp op, std::string_view stored, std::string_view needle) {
  switch (op) {
    case MatchOp::kExact:
      return stored == needle;
    case MatchOp::kContains:
      return stored.find(needle) != std::string_view::npos;
    case MatchOp::kPrefix:
      return stored.starts_with(needle);
    case MatchOp::kExactCi:
      return EqualsIgnoreCase(stored, needle);
  }
  return false;
}

// A predicate over one stored value, per the filter's field kind.
struct ValueTest {
  FieldKind kind = FieldKind::kText;
  MatchOp op = MatchOp::kExact;
  std::string text;
  double number = 0;

  bool operator()(const Value& v) const {
    if (kind == FieldKind::kNumber) return v.kind == FieldKind::kNumber && v.number == number;
    return TextMatches(op, v.text, text);
  }
};

Result<ValueTest> MakeTest(const TypeSchema& schema, const EntityFilter& f) {
  auto ordinal = FieldOrdinal(schema, f.field);
  if (!ordinal) {
    return Status::InvalidArgument("type " + Quote(schema.name) + " has no field " +
                                   Quote(f.field));
  }
  const FieldSpec& spec = schema.fields[*ordinal];
  if (!spec.indexed) {
    return Status::InvalidArgument("field " + Quote(f.field) + " of type " + Quote(schema.name) +
                                   " is not indexed; queries may match only indexed fields and "
                                   "'id' (mark it indexed with DefineType)");
  }
  ValueTest test{spec.kind, f.op, f.value, 0};
  if (spec.kind != FieldKind::kNumber) return test;
  if (f.op != MatchOp::kExact) {
    return Status::InvalidArgument("field " + Quote(f.field) +
                                   " is a number: only the exact operator applies");
  }
  Result<double> number = ParseNumber(f.value);
  if (!number.ok()) return number.status().WithContext("field " + Quote(f.field));
  test.number = *number;
  return test;
}

// Marks the entities of the filter's type that match in any version written
// by a row at or below `max_log_id`.
Result<Resolved> Resolve(const AuditState& state, const EntityFilter& f, uint64_t max_log_id) {
  auto view = state.catalog().LookupType(f.type);
  if (!view.ok()) return view.status();
  const Registry& registry = view->type->registry;
  Resolved r{view->type->ordinal, &registry, {}};
  if (f.field == kIdField) {
    const size_t entities = registry.EntityCount();
    r.match.resize(entities);
    for (size_t e = 0; e < entities; ++e) {
      r.match[e] = TextMatches(f.op, registry.entity(e).id, f.value);
    }
    return r;
  }
  auto test = MakeTest(*view->schema, f);
  if (!test.ok()) return test.status();
  // Versions first: every version's entity is then below the entity count.
  const size_t versions = registry.VersionCount();
  r.match.resize(registry.EntityCount());
  for (size_t i = 0; i < versions; ++i) {
    const StoredVersion& v = registry.version(i);
    if (v.log_id > max_log_id || r.match[v.entity]) continue;
    auto it = v.fields.find(f.field);
    if (it != v.fields.end() && (*test)(it->second)) r.match[v.entity] = true;
  }
  return r;
}

bool Names(const Resolved& r, const PinnedEntity& p) {
  return p.type == r.type && p.entity < r.match.size() && r.match[p.entity];
}

// Everything a row must satisfy, resolved once per query.
struct Plan {
  std::vector<Resolved> targets;
  std::optional<Resolved> actor;
  const Query* query = nullptr;
  OrdinalValues columns;  // ordinal, wanted value

  bool Accepts(const Row& row) const {
    const Query& q = *query;
    if (q.method && row.method != *q.method) return false;
    if (q.since_micros && row.micros < *q.since_micros) return false;
    if (q.until_micros && row.micros >= *q.until_micros) return false;
    if (actor && !Names(*actor, row.actor)) return false;
    for (const Resolved& t : targets) {
      if (std::none_of(row.targets.begin(), row.targets.end(),
                       [&](const PinnedEntity& p) { return Names(t, p); })) {
        return false;
      }
    }
    for (const auto& [ordinal, want] : columns) {
      auto it = std::find_if(row.columns.begin(), row.columns.end(),
                             [&](const auto& c) { return c.first == ordinal; });
      if (it == row.columns.end() || !(it->second == want)) return false;
    }
    return true;
  }
};

Status ResolveColumns(const AuditState& state, const Fields& columns, OrdinalValues* out) {
  for (const auto& [name, value] : columns) {
    auto column = state.catalog().LookupColumn(name);
    if (!column.ok()) return column.status();
    if (column->second.kind != value.kind) {
      return Status::InvalidArgument("column " + Quote(name) + " is " +
                                     std::string(FieldKindName(column->second.kind)));
    }
    out->emplace_back(column->first, value);
  }
  return Status::OK();
}

// Row indexes below `rows` that name a matching entity of `r`.
std::vector<uint32_t> Postings(const Resolved& r, bool as_actor, size_t rows) {
  std::vector<uint32_t> out;
  for (size_t e = 0; e < r.match.size(); ++e) {
    if (!r.match[e]) continue;
    const Entity& ent = r.registry->entity(e);
    (as_actor ? ent.as_actor : ent.as_target).ForEach([&](uint32_t i) {
      if (i < rows) out.push_back(i);
    });
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

size_t PostingCount(const Resolved& r, bool as_actor) {
  size_t n = 0;
  for (size_t e = 0; e < r.match.size(); ++e) {
    if (!r.match[e]) continue;
    const Entity& ent = r.registry->entity(e);
    n += (as_actor ? ent.as_actor : ent.as_target).Size();
  }
  return n;
}

// Rows to test: those of the most selective entity filter, or all.
std::vector<uint32_t> Candidates(const Plan& plan, size_t rows) {
  const Resolved* best = nullptr;
  bool best_is_actor = false;
  size_t best_count = rows + 1;
  auto consider = [&](const Resolved& r, bool as_actor) {
    const size_t n = PostingCount(r, as_actor);
    if (n < best_count) best = &r, best_is_actor = as_actor, best_count = n;
  };
  if (plan.actor) consider(*plan.actor, true);
  for (const Resolved& t : plan.targets) consider(t, false);
  if (best != nullptr) return Postings(*best, best_is_actor, rows);
  std::vector<uint32_t> all(rows);
  for (size_t i = 0; i < rows; ++i) all[i] = static_cast<uint32_t>(i);
  return all;
}

// --- cursors: order letter, then timestamp and log_id as 16 hex digits each.

struct Key {
  int64_t micros;
  uint64_t log_id;
  auto operator<=>(const Key&) const = default;
};

std::string EncodeCursor(Order order, Key k) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "%c%016llx%016llx", order == Order::kNewestFirst ? 'n' : 'o',
                static_cast<unsigned long long>(k.micros),
                static_cast<unsigned long long>(k.log_id));
  return buf;
}

Result<Key> DecodeCursor(Order order, std::string_view c) {
  const char want = order == Order::kNewestFirst ? 'n' : 'o';
  auto bad = Status::InvalidArgument("malformed cursor " + Quote(c) +
                                     " (use next_cursor of a page of the same query)");
  if (c.size() != 33 || c[0] != want) return bad;
  uint64_t parts[2];
  for (int i = 0; i < 2; ++i) {
    const char* begin = c.data() + 1 + 16 * i;
    auto [p, ec] = std::from_chars(begin, begin + 16, parts[i], 16);
    if (ec != std::errc() || p != begin + 16) return bad;
  }
  return Key{static_cast<int64_t>(parts[0]), parts[1]};
}

EntityVersion Materialize(const AuditState& state, const PinnedEntity& p) {
  auto view = state.catalog().TypeAt(p.type);
  const Registry& registry = view->type->registry;
  const StoredVersion& v = registry.version(p.version);
  return EntityVersion{view->type->name, registry.entity(v.entity).id, v.number, v.log_id, v.micros,
                       v.fields};
}

Status CheckQuery(const Query& q) {
  if (q.limit < 1 || q.limit > kMaxLimit) {
    return Status::InvalidArgument("query limit must be 1..10000");
  }
  return Status::OK();
}

}  // namespace

Hit MaterializeRow(const AuditState& state, size_t index) {
  const Row& row = state.row(index);
  Hit hit;
  hit.log_id = row.log_id;
  hit.lsn = row.lsn;
  hit.timestamp_micros = row.micros;
  hit.actor = Materialize(state, row.actor);
  hit.method = row.method;
  hit.url = row.url;
  hit.content = row.content;
  for (const auto& [ordinal, value] : row.columns) {
    hit.columns[state.catalog().ColumnAt(ordinal)->name] = value;
  }
  for (const PinnedEntity& t : row.targets) hit.targets.push_back(Materialize(state, t));
  return hit;
}

Result<QueryPage> RunQuery(const AuditState& state, const Query& q) {
  QUIPU_RETURN_IF_ERROR(CheckQuery(q));
  std::optional<Key> after;
  if (!q.cursor.empty()) {
    auto key = DecodeCursor(q.order, q.cursor);
    if (!key.ok()) return key.status();
    after = *key;
  }
  // The snapshot: rows [0, rows). Types and columns named by those rows
  // were defined before them, so lookups below always succeed for them.
  const size_t rows = state.RowCount();
  Plan plan;
  plan.query = &q;
  for (const EntityFilter& f : q.targets) {
    auto r = Resolve(state, f, rows);
    if (!r.ok()) return r.status().WithContext("target filter");
    plan.targets.push_back(std::move(*r));
  }
  if (q.actor) {
    auto r = Resolve(state, *q.actor, rows);
    if (!r.ok()) return r.status().WithContext("actor filter");
    plan.actor = std::move(*r);
  }
  QUIPU_RETURN_IF_ERROR(ResolveColumns(state, q.columns, &plan.columns));

  const bool newest = q.order == Order::kNewestFirst;
  auto key_of = [&](uint32_t i) { return Key{state.row(i).micros, state.row(i).log_id}; };
  std::vector<uint32_t> hits;
  for (uint32_t i : Candidates(plan, rows)) {
    if (!plan.Accepts(state.row(i))) continue;
    if (after && (newest ? !(key_of(i) < *after) : !(*after < key_of(i)))) continue;
    hits.push_back(i);
  }
  auto before = [&](uint32_t a, uint32_t b) {
    return newest ? key_of(b) < key_of(a) : key_of(a) < key_of(b);
  };
  const size_t keep = std::min<size_t>(hits.size(), q.limit);
  std::partial_sort(hits.begin(), hits.begin() + keep, hits.end(), before);
  QueryPage page;
  for (size_t i = 0; i < keep; ++i) page.hits.push_back(MaterializeRow(state, hits[i]));
  if (hits.size() > keep) page.next_cursor = EncodeCursor(q.order, key_of(hits[keep - 1]));
  return page;
}

Result<std::vector<EntityVersion>> History(const AuditState& state, std::string_view type,
                                           std::string_view id) {
  auto view = state.catalog().LookupType(type);
  if (!view.ok()) return view.status();
  const Registry& registry = view->type->registry;
  auto entity = registry.Find(id);
  if (!entity) return Status::NotFound("no entity " + Quote(id) + " of type " + Quote(type));
  std::vector<EntityVersion> out;
  registry.entity(*entity).versions.ForEach([&](uint32_t v) {
    out.push_back(Materialize(state, PinnedEntity{view->type->ordinal, *entity, v}));
  });
  return out;
}

Result<std::vector<EntityVersion>> Latest(const AuditState& state, std::string_view type) {
  auto view = state.catalog().LookupType(type);
  if (!view.ok()) return view.status();
  const Registry& registry = view->type->registry;
  std::vector<EntityVersion> out;
  const size_t entities = registry.EntityCount();
  for (size_t e = 0; e < entities; ++e) {
    const Entity& ent = registry.entity(e);
    if (ent.count.load(std::memory_order_acquire) == 0) continue;  // being written
    const uint32_t latest = ent.latest.load(std::memory_order_acquire);
    out.push_back(
        Materialize(state, PinnedEntity{view->type->ordinal, static_cast<uint32_t>(e), latest}));
  }
  return out;
}

}  // namespace quipu::audit
