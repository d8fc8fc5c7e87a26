// audit/index_query.cc — queries and counts over the derived index.
//
// A query runs in three steps:
//   1. each entity filter is resolved: its field's index entries name the
//      entities that match in some version (so old names still match). A
//      filter whose entities are few (<= kMergeLimit) knows them all; one
//      with more checks an entity when a row names it, by reading that
//      entity's versions (and remembers the answer).
//   2. the driver: the postings of the entities of the filter that knows
//      fewest, merged in (timestamp, log_id) order, or, when no filter knows
//      its entities, the rows in time order. Both start at the cursor and stay
//      within since/until, so a page reads about as many rows as it returns
//      (times the selectivity of the other conditions).
//   3. each candidate row is read and checked against every other condition
//      until limit + 1 rows passed.
#include <algorithm>
#include <charconv>
#include <cstdio>
#include <memory>
#include <optional>
#include <queue>
#include <set>

#include "audit/index_keys.h"
#include "audit/index_read.h"
#include "audit/prepare.h"
#include "util/quote.h"

namespace quipu::audit {

namespace {

constexpr uint32_t kMaxLimit = 10000;

std::string Quote(std::string_view s) { return QuoteInput(s); }

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  return a.size() == b.size() && keys::Folded(a) == keys::Folded(b);
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

// An entity filter resolved against the catalog and the snapshot.
class Filter {
 public:
  uint32_t type = 0;
  std::optional<uint32_t> field;  // nullopt: the entity id
  FieldKind kind = FieldKind::kText;
  MatchOp op = MatchOp::kExact;
  std::string needle;  // text, or for numbers the 8 index bytes
  double number = 0;
  // Every matching entity, when there are at most kMergeLimit.
  std::optional<std::set<std::string>> ids;
  // A protected field: the blind index tokens to look for (one per master
  // key version), under index tag `tag`.
  std::vector<std::string> tokens;
  char tag = 0;
  const Protector* protector = nullptr;

  Result<bool> ValueMatches(const Value& v) const {
    if (!tokens.empty()) return protector->Matches(v, tokens, Scope{'f', type, *field});
    if (kind == FieldKind::kNumber) return v.kind == FieldKind::kNumber && v.number == number;
    return TextMatches(op, v.text, needle);
  }

  Result<bool> Matches(IndexRead& read, const RefRecord& pin) {
    if (pin.type != type) return false;
    if (ids) return ids->count(pin.id) > 0;
    if (auto it = memo_.find(pin.id); it != memo_.end()) return it->second;
    auto m = CheckEntity(read, pin.id);
    if (!m.ok()) return m.status();
    memo_.emplace(pin.id, *m);
    return *m;
  }

 private:
  Result<bool> CheckEntity(IndexRead& read, const std::string& id) const {
    if (!field) return TextMatches(op, id, needle);
    const std::string prefix = keys::VersionPrefix(type, id);
    BoundedIterator it(read.snapshot(), prefix, keys::Successor(prefix));
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
      VersionEntry v;
      QUIPU_RETURN_IF_ERROR(DecodeVersion(View(it->value()), &v));
      for (const auto& [ordinal, value] : v.fields) {
        if (ordinal != *field) continue;
        auto matches = ValueMatches(value);
        if (!matches.ok() || *matches) return matches;
      }
    }
    QUIPU_RETURN_IF_ERROR(FromRocks(it->status(), "read versions"));
    return false;
  }

  std::map<std::string, bool> memo_;
};

// The tokens a filter on a protected field looks for.
Status ProtectedNeedles(const IndexRead& read, const TypeSchema& schema, const FieldSpec& spec,
                        const EntityFilter& f, Filter* out) {
  auto needles =
      NeedlesFor(read.protector(), spec, f.op, f.value, Scope{'f', out->type, *out->field},
                 "field " + Quote(f.field) + " of type " + Quote(schema.name));
  if (!needles.ok()) return needles.status();
  out->tokens = std::move(needles->tokens);
  out->tag = needles->index_tag;
  out->protector = read.protector();
  return Status::OK();
}

// Entities whose field entries hold one of `f`'s tokens (under a key not
// forgotten), unless more than kMergeLimit (then `ids` stays empty).
Status CollectTokenIds(IndexRead& read, Filter* f) {
  const std::string base = keys::FieldPrefix(f->tag, f->type, *f->field);
  std::set<std::string> ids;
  std::string id;
  for (const std::string& token : f->tokens) {
    std::string prefix = base;
    keys::PutTerminated(&prefix, token);
    BoundedIterator it(read.snapshot(), prefix, keys::Successor(prefix));
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
      std::string_view rest = View(it->key()).substr(prefix.size());
      if (!keys::GetTerminated(&rest, &id)) {
        return Status::Corruption("index: a field entry does not decode");
      }
      if (f->protector->Forgotten(View(it->value()))) continue;
      ids.insert(id);
      if (ids.size() > kMergeLimit) return Status::OK();
    }
    QUIPU_RETURN_IF_ERROR(FromRocks(it->status(), "read field index"));
  }
  f->ids = std::move(ids);
  return Status::OK();
}

Status CheckField(const IndexRead& read, const TypeSchema& schema, const EntityFilter& f,
                  Filter* out) {
  if (f.field == kIdField) return Status::OK();
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
  out->field = *ordinal;
  out->kind = spec.kind;
  if (spec.protection != Protection::kPlain) return ProtectedNeedles(read, schema, spec, f, out);
  if (spec.kind != FieldKind::kNumber) return Status::OK();
  if (f.op != MatchOp::kExact) {
    return Status::InvalidArgument("field " + Quote(f.field) +
                                   " is a number: only the exact operator applies");
  }
  Result<double> number = ParseNumber(f.value);
  if (!number.ok()) return number.status().WithContext("field " + Quote(f.field));
  out->number = *number;
  out->needle = keys::IndexBytes(Value::Number(*number));
  return Status::OK();
}

// Reads the entities the filter's index entries name, unless more than
// kMergeLimit (then `ids` stays empty). contains scans the whole field.
Status CollectIds(IndexRead& read, Filter* f) {
  if (!f->tokens.empty()) return CollectTokenIds(read, f);
  const uint32_t field = f->field.value_or(keys::kIdField);
  const bool folded = f->op == MatchOp::kExactCi;
  const std::string base = keys::FieldPrefix(folded ? keys::kFolded : keys::kExact, f->type, field);
  std::string prefix = base;
  const std::string needle = folded ? keys::Folded(f->needle) : f->needle;
  if (f->op == MatchOp::kExact || f->op == MatchOp::kExactCi) {
    keys::PutTerminated(&prefix, needle);
  } else if (f->op == MatchOp::kPrefix) {
    keys::PutEscaped(&prefix, needle);
  }
  BoundedIterator it(read.snapshot(), prefix, keys::Successor(prefix));
  std::set<std::string> ids;
  std::string value, id;
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    std::string_view rest = View(it->key()).substr(base.size());
    if (!keys::GetTerminated(&rest, &value) || !keys::GetTerminated(&rest, &id)) {
      return Status::Corruption("index: a field entry does not decode");
    }
    // Folded entries of a case-insensitive match are exact by construction;
    // contains has to look at each value.
    if (f->op == MatchOp::kContains && !TextMatches(f->op, value, f->needle)) continue;
    ids.insert(id);
    if (ids.size() > kMergeLimit) return Status::OK();
  }
  QUIPU_RETURN_IF_ERROR(FromRocks(it->status(), "read field index"));
  f->ids = std::move(ids);
  return Status::OK();
}

Result<Filter> Resolve(IndexRead& read, const EntityFilter& f) {
  auto view = read.catalog().LookupType(f.type);
  if (!view.ok()) return view.status();
  Filter out;
  out.type = view->type->ordinal;
  out.op = f.op;
  out.needle = f.value;
  QUIPU_RETURN_IF_ERROR(CheckField(read, *view->schema, f, &out));
  QUIPU_RETURN_IF_ERROR(CollectIds(read, &out));
  return out;
}

// --- cursors: order letter, then timestamp and log_id as 16 hex digits each.

struct Key {
  int64_t micros;
  uint64_t log_id;
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

// The span of (timestamp, log_id) order keys a query may return, as
// [lower, upper) of 16-byte OrderKeys.
struct Span {
  std::string lower;
  std::string upper;
};

Span SpanOf(const Query& q, const std::optional<Key>& after) {
  Span s{keys::OrderKey(kMinMicros, 0), std::string(16, '\xff')};
  if (q.since_micros) s.lower = std::max(s.lower, keys::OrderKey(*q.since_micros, 0));
  if (q.until_micros) s.upper = std::min(s.upper, keys::OrderKey(*q.until_micros, 0));
  if (after) {
    if (q.order == Order::kNewestFirst) {
      s.upper = std::min(s.upper, keys::OrderKey(after->micros, after->log_id));
    } else if (after->log_id < UINT64_MAX) {
      s.lower = std::max(s.lower, keys::OrderKey(after->micros, after->log_id + 1));
    } else {
      s.lower = s.upper;
    }
  }
  return s;
}

// Order keys (the last 16 bytes of each key) of one key range, in query order.
class Stream {
 public:
  Stream(const IndexSnapshot& snap, const std::string& prefix, const Span& span, bool newest)
      : it_(snap, prefix + span.lower, prefix + span.upper), newest_(newest) {
    if (newest_) {
      it_->SeekToLast();
    } else {
      it_->SeekToFirst();
    }
  }
  bool Valid() { return it_->Valid(); }
  std::string_view OrderKey() {
    const rocksdb::Slice k = it_->key();
    return {k.data() + k.size() - 16, 16};
  }
  void Advance() {
    if (newest_) {
      it_->Prev();
    } else {
      it_->Next();
    }
  }
  Status status() { return FromRocks(it_->status(), "read postings"); }

 private:
  BoundedIterator it_;
  bool newest_;
};

// The driver: one stream, or several merged, without repeating a row.
class Driver {
 public:
  Driver(std::vector<std::unique_ptr<Stream>> streams, bool newest)
      : streams_(std::move(streams)), newest_(newest) {}

  // The next order key, or nullopt at the end.
  Result<std::optional<std::string>> Next() {
    for (;;) {
      Stream* best = nullptr;
      for (auto& s : streams_) {
        if (!s->Valid()) continue;
        if (best == nullptr ||
            (newest_ ? s->OrderKey() > best->OrderKey() : s->OrderKey() < best->OrderKey())) {
          best = s.get();
        }
      }
      if (best == nullptr) {
        for (auto& s : streams_) QUIPU_RETURN_IF_ERROR(s->status());
        return std::optional<std::string>();
      }
      std::string key(best->OrderKey());
      best->Advance();
      if (key == last_) continue;  // a row naming two matching entities
      last_ = key;
      return std::optional<std::string>(std::move(key));
    }
  }

 private:
  std::vector<std::unique_ptr<Stream>> streams_;
  bool newest_;
  std::string last_;
};

struct Plan {
  const Query* query = nullptr;
  std::vector<Filter> targets;
  std::optional<Filter> actor;
  OrdinalValues columns;
  // Protected columns among them: the tokens to look for.
  std::map<uint32_t, std::vector<std::string>> column_tokens;
  const Protector* protector = nullptr;
  // The filter whose postings drive the query: kTimeOrder (none: rows in
  // time order), kActor, or the index of a target filter. An index, not a
  // pointer, so that the plan can move.
  static constexpr int kTimeOrder = -2;
  static constexpr int kActor = -1;
  int driver_index = kTimeOrder;

  Filter* driver() {
    if (driver_index == kTimeOrder) return nullptr;
    return driver_index == kActor ? &*actor : &targets[driver_index];
  }
  const Filter* driver() const { return const_cast<Plan*>(this)->driver(); }

  // Whether only the driver constrains rows (so its postings are the answer).
  bool DriverAlone() const {
    return driver_index != kTimeOrder && !query->method && columns.empty() &&
           targets.size() + (actor ? 1 : 0) == 1;
  }

  // Every condition, the driver's too (for rows that did not come from
  // the driver's postings).
  Result<bool> AcceptsAll(IndexRead& read, const EventRecord& rec) {
    const int driver = driver_index;
    driver_index = kTimeOrder;
    auto accepted = Accepts(read, rec);
    driver_index = driver;
    return accepted;
  }

  Result<bool> Accepts(IndexRead& read, const EventRecord& rec) {
    const Query& q = *query;
    if (q.method && rec.method != *q.method) return false;
    for (const auto& [ordinal, want] : columns) {
      auto it = std::find_if(rec.columns.begin(), rec.columns.end(),
                             [&](const auto& c) { return c.first == ordinal; });
      if (it == rec.columns.end()) return false;
      if (auto tokens = column_tokens.find(ordinal); tokens != column_tokens.end()) {
        auto matches = protector->Matches(it->second, tokens->second, Scope{'c', 0, ordinal});
        if (!matches.ok() || !*matches) return matches;
      } else if (!(it->second == want)) {
        return false;
      }
    }
    if (actor && driver_index != kActor) {
      auto m = actor->Matches(read, rec.actor);
      if (!m.ok() || !*m) return m;
    }
    for (size_t i = 0; i < targets.size(); ++i) {
      Filter& t = targets[i];
      if (static_cast<int>(i) == driver_index) continue;
      bool any = false;
      for (const RefRecord& pin : rec.targets) {
        auto m = t.Matches(read, pin);
        if (!m.ok()) return m.status();
        if (*m) {
          any = true;
          break;
        }
      }
      if (!any) return false;
    }
    return true;
  }
};

Status ResolveColumns(const IndexRead& read, const Fields& columns, Plan* plan) {
  for (const auto& [name, value] : columns) {
    auto column = read.catalog().LookupColumn(name);
    if (!column.ok()) return column.status();
    const ColumnSpec& spec = column->second;
    if (spec.kind != value.kind) {
      return Status::InvalidArgument("column " + Quote(name) + " is " +
                                     std::string(FieldKindName(spec.kind)));
    }
    plan->columns.emplace_back(column->first, value);
    if (spec.protection == Protection::kPlain) continue;
    const std::string what =
        "column " + Quote(name) + " is " + std::string(ProtectionName(spec.protection));
    if (spec.protection != Protection::kHashed) {
      return Status::InvalidArgument(what + ": it cannot be matched (hashed columns can)");
    }
    if (read.protector() == nullptr) {
      return Status::FailedPrecondition(what + ": matching it needs the master key");
    }
    auto needles = read.protector()->Needles(kExactToken, keys::IndexBytes(value),
                                             Scope{'c', 0, column->first});
    if (!needles.ok()) return needles.status().WithContext(what);
    plan->column_tokens[column->first] = std::move(*needles);
    plan->protector = read.protector();
  }
  return Status::OK();
}

Result<Plan> MakePlan(IndexRead& read, const Query& q) {
  Plan plan;
  plan.query = &q;
  for (const EntityFilter& f : q.targets) {
    auto r = Resolve(read, f);
    if (!r.ok()) return r.status().WithContext("target filter");
    plan.targets.push_back(std::move(*r));
  }
  if (q.actor) {
    auto r = Resolve(read, *q.actor);
    if (!r.ok()) return r.status().WithContext("actor filter");
    plan.actor = std::move(*r);
  }
  QUIPU_RETURN_IF_ERROR(ResolveColumns(read, q.columns, &plan));
  auto consider = [&](const Filter& f, int index) {
    if (!f.ids) return;
    const Filter* best = plan.driver();
    if (best == nullptr || f.ids->size() < best->ids->size()) plan.driver_index = index;
  };
  if (plan.actor) consider(*plan.actor, Plan::kActor);
  for (size_t i = 0; i < plan.targets.size(); ++i) {
    consider(plan.targets[i], static_cast<int>(i));
  }
  return plan;
}

Driver MakeDriver(IndexRead& read, const Plan& plan, const Span& span) {
  const bool newest = plan.query->order == Order::kNewestFirst;
  std::vector<std::unique_ptr<Stream>> streams;
  const Filter* driver = plan.driver();
  if (driver == nullptr) {
    streams.push_back(
        std::make_unique<Stream>(read.snapshot(), std::string(1, keys::kTime), span, newest));
  } else {
    const char role = plan.driver_index == Plan::kActor ? keys::kAsActor : keys::kAsTarget;
    for (const std::string& id : *driver->ids) {
      streams.push_back(std::make_unique<Stream>(
          read.snapshot(), keys::PostingPrefix(driver->type, id, role), span, newest));
    }
  }
  return Driver(std::move(streams), newest);
}

Status CheckQuery(const Query& q) {
  if (q.limit < 1 || q.limit > kMaxLimit) {
    return Status::InvalidArgument("query limit must be 1..10000");
  }
  return Status::OK();
}

// Where the query resumes: after its cursor's row, or from the start.
Result<std::optional<Key>> After(const Query& q) {
  if (q.cursor.empty()) return std::optional<Key>();
  auto key = DecodeCursor(q.order, q.cursor);
  if (!key.ok()) return key.status();
  return std::optional<Key>(*key);
}

Key KeyOf(std::string_view order_key) {
  return Key{keys::MicrosFromSortable(keys::GetBig64(order_key.data())),
             keys::GetBig64(order_key.data() + 8)};
}

}  // namespace

Result<QueryPage> IndexRead::RunQuery(const Query& q) {
  QUIPU_RETURN_IF_ERROR(CheckQuery(q));
  auto after = After(q);
  if (!after.ok()) return after.status();
  auto plan = MakePlan(*this, q);
  if (!plan.ok()) return plan.status();
  Driver driver = MakeDriver(*this, *plan, SpanOf(q, *after));
  QueryPage page;
  std::optional<Key> last;
  for (;;) {
    auto next = driver.Next();
    if (!next.ok()) return next.status();
    if (!*next) break;
    const Key key = KeyOf(**next);
    Lsn lsn = 0;
    auto rec = Record(key.log_id, &lsn);
    if (!rec.ok()) return rec.status();
    auto accepted = plan->Accepts(*this, *rec);
    if (!accepted.ok()) return accepted.status();
    if (!*accepted) continue;
    if (page.hits.size() == q.limit) {
      page.next_cursor = EncodeCursor(q.order, *last);
      break;
    }
    auto hit = ToHit(*rec, lsn);
    if (!hit.ok()) return hit.status();
    page.hits.push_back(std::move(*hit));
    last = key;
  }
  return page;
}

Result<uint64_t> IndexRead::Count(const Query& q) {
  auto after = After(q);
  if (!after.ok()) return after.status();
  auto plan = MakePlan(*this, q);
  if (!plan.ok()) return plan.status();
  // With no condition beyond the time span, or one filter that knows its
  // entities, the driver's keys are the answer: no row is read.
  const bool keys_only =
      plan->DriverAlone() || (plan->driver_index == Plan::kTimeOrder && !q.method &&
                              plan->columns.empty() && plan->targets.empty() && !plan->actor);
  Driver driver = MakeDriver(*this, *plan, SpanOf(q, *after));
  uint64_t count = 0;
  for (;;) {
    auto next = driver.Next();
    if (!next.ok()) return next.status();
    if (!*next) break;
    if (!keys_only) {
      Lsn lsn = 0;
      auto rec = Record(KeyOf(**next).log_id, &lsn);
      if (!rec.ok()) return rec.status();
      auto accepted = plan->Accepts(*this, *rec);
      if (!accepted.ok()) return accepted.status();
      if (!*accepted) continue;
    }
    ++count;
  }
  return count;
}

Status IndexRead::ForEachInLogOrder(
    const Query& filter, Lsn last_lsn,
    const std::function<Status(const EventRecord&, Lsn, std::string_view)>& visit) {
  auto plan = MakePlan(*this, filter);
  if (!plan.ok()) return plan.status();
  const std::string lower(1, keys::kRow);
  BoundedIterator rows(snap_, lower, keys::Successor(lower));
  // Every row read, however few match: versions read to check filters and
  // to pin them are forgotten now and then, so memory stays flat.
  constexpr uint64_t kForgetEvery = 1024;
  uint64_t read = 0;
  for (rows->SeekToFirst(); rows->Valid(); rows->Next()) {
    RowEntry row;
    QUIPU_RETURN_IF_ERROR(DecodeRow(View(rows->value()), &row));
    if (row.lsn > last_lsn) break;  // log_ids follow LSNs
    EventRecord rec;
    const uint64_t log_id = keys::GetBig64(rows->key().data() + 1);
    QUIPU_RETURN_IF_ERROR(
        DecodeEvent(row.payload, &rec).WithContext("index row " + std::to_string(log_id)));
    if (++read % kForgetEvery == 0) versions_.clear();
    if (filter.since_micros && rec.micros < *filter.since_micros) continue;
    if (filter.until_micros && rec.micros >= *filter.until_micros) continue;
    auto accepted = plan->AcceptsAll(*this, rec);
    if (!accepted.ok()) return accepted.status();
    if (*accepted) QUIPU_RETURN_IF_ERROR(visit(rec, row.lsn, row.payload));
  }
  return FromRocks(rows->status(), "read rows");
}

}  // namespace quipu::audit
