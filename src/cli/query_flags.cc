// cli/query_flags.cc — the row filter flags of `query` and `export`.
#include "cli/query_flags.h"

#include <string>
#include <vector>

#include "cli/audit_json.h"
#include "util/quote.h"

namespace quipu::cli {

namespace {

bool HasField(const TypeSchema& type, std::string_view field) {
  if (field == "id") return true;
  for (const FieldSpec& f : type.fields) {
    if (f.name == field) return true;
  }
  return false;
}

bool IsJsonField(const std::vector<TypeSchema>& types, const EntityFilter& filter) {
  for (const TypeSchema& t : types) {
    if (t.name != filter.type) continue;
    for (const FieldSpec& f : t.fields) {
      if (f.name == filter.field) return f.kind == FieldKind::kJson;
    }
  }
  return false;
}

// Json fields are stored canonical (CanonicalJson), so a whole-value
// comparison takes VALUE as a document in the same form: {"b":1,"a":2}
// finds what was written as {"a":2,"b":1}. contains and prefix search the
// stored text as it is.
Status CanonicalizeJsonValue(const std::string& flag, EntityFilter* filter) {
  if (filter->op != MatchOp::kExact && filter->op != MatchOp::kExactCi) return Status::OK();
  Result<Value> value = ValueFromArgument(filter->value, FieldKind::kJson);
  if (!value.ok()) {
    return value.status().WithContext(flag + " " + filter->type + "." + filter->field +
                                      " is a json field, so VALUE must be a JSON document");
  }
  filter->value = std::move(value->text);
  return Status::OK();
}

// TYPE.FIELD=VALUE -> EntityFilter (see the file comment for the split).
Result<EntityFilter> ParseFilter(const std::string& flag, std::string_view arg, MatchOp op,
                                 const std::vector<TypeSchema>& types) {
  size_t eq = arg.find('=');
  size_t first_dot = arg.find('.');
  if (eq == std::string_view::npos || first_dot == std::string_view::npos || first_dot > eq) {
    return Status::InvalidArgument(flag + " wants TYPE.FIELD=VALUE, got " + QuoteInput(arg));
  }
  std::string_view lhs = arg.substr(0, eq);
  EntityFilter filter{std::string(lhs.substr(0, first_dot)), std::string(lhs.substr(first_dot + 1)),
                      op, std::string(arg.substr(eq + 1))};
  int matches = 0;
  for (size_t dot = first_dot; dot != std::string_view::npos; dot = lhs.find('.', dot + 1)) {
    std::string_view type = lhs.substr(0, dot), field = lhs.substr(dot + 1);
    for (const TypeSchema& t : types) {
      if (t.name != type || !HasField(t, field)) continue;
      filter.type = type;
      filter.field = field;
      matches++;
    }
  }
  if (matches > 1) {
    return Status::InvalidArgument(flag + " " + QuoteInput(lhs) +
                                   " is ambiguous: more than one TYPE.FIELD split names a field");
  }
  if (IsJsonField(types, filter)) QUIPU_RETURN_IF_ERROR(CanonicalizeJsonValue(flag, &filter));
  // No match: keep the first split and let Query name the unknown type or field.
  return filter;
}

Status AddFilters(const std::string& flag, const EntityFlags& given,
                  const std::vector<TypeSchema>& types, std::vector<EntityFilter>* out) {
  const std::pair<const std::vector<std::string>*, std::pair<MatchOp, const char*>> forms[] = {
      {&given.exact, {MatchOp::kExact, ""}},
      {&given.contains, {MatchOp::kContains, "-contains"}},
      {&given.prefix, {MatchOp::kPrefix, "-prefix"}},
      {&given.ci, {MatchOp::kExactCi, "-ci"}}};
  for (const auto& [args, op] : forms) {
    for (const std::string& arg : *args) {
      Result<EntityFilter> filter = ParseFilter(flag + op.second, arg, op.first, types);
      if (!filter.ok()) return filter.status();
      out->push_back(std::move(*filter));
    }
  }
  return Status::OK();
}

Status AddColumns(const std::vector<std::string>& args, const std::vector<ColumnSpec>& specs,
                  Fields* out) {
  for (const std::string& arg : args) {
    size_t eq = arg.find('=');
    if (eq == std::string::npos) {
      return Status::InvalidArgument("--column wants NAME=VALUE, got " + QuoteInput(arg));
    }
    std::string name = arg.substr(0, eq);
    const ColumnSpec* spec = nullptr;
    for (const ColumnSpec& c : specs) {
      if (c.name == name) spec = &c;
    }
    if (spec == nullptr) return Status::InvalidArgument("unknown column " + QuoteInput(name));
    Result<Value> value = ValueFromArgument(std::string_view(arg).substr(eq + 1), spec->kind);
    if (!value.ok()) return value.status().WithContext("column " + QuoteInput(name));
    out->emplace(name, std::move(*value));
  }
  return Status::OK();
}

// An empty filter value is a usage error: an empty --method or --since
// would read as no filter at all, and an empty substring or prefix matches
// every row, so a script passing an unset variable would silently get
// everything.
CLI::Validator NotEmpty() {
  return CLI::Validator(
      [](std::string& value) -> std::string {
        return value.empty() ? "an empty value is not a filter" : "";
      },
      "NOT EMPTY");
}
CLI::Validator ValueNotEmpty() {
  return CLI::Validator(
      [](std::string& value) -> std::string {
        size_t eq = value.find('=');
        if (eq == std::string::npos || eq + 1 < value.size()) return "";
        return "'" + value + "' has an empty VALUE, which is not a filter";
      },
      "NAME=VALUE");
}

void AddEntityFlags(CLI::App* verb, const std::string& role, EntityFlags* flags) {
  std::string what = role == "target" ? "a target" : "the actor";
  verb->add_option("--" + role, flags->exact,
                   what + " has (in any version) TYPE.FIELD equal to VALUE: TYPE.FIELD=VALUE")
      ->check(ValueNotEmpty());
  verb->add_option("--" + role + "-contains", flags->contains,
                   "as --" + role + ", FIELD contains VALUE")
      ->check(ValueNotEmpty());
  verb->add_option("--" + role + "-prefix", flags->prefix,
                   "as --" + role + ", FIELD starts with VALUE")
      ->check(ValueNotEmpty());
  verb->add_option("--" + role + "-ci", flags->ci, "as --" + role + ", equal ignoring ASCII case")
      ->check(ValueNotEmpty());
}

}  // namespace

Result<Query> BuildFilter(const FilterFlags& flags, const AuditStore& store) {
  Query query;
  std::vector<TypeSchema> types = store.Types();
  QUIPU_RETURN_IF_ERROR(AddFilters("--target", flags.target, types, &query.targets));
  std::vector<EntityFilter> actors;
  QUIPU_RETURN_IF_ERROR(AddFilters("--actor", flags.actor, types, &actors));
  if (actors.size() > 1) return Status::InvalidArgument("at most one --actor filter");
  if (!actors.empty()) query.actor = actors.front();
  if (!flags.method.empty()) query.method = flags.method;
  if (!flags.since.empty()) {
    Result<int64_t> since = ParseTimeArgument(flags.since);
    if (!since.ok()) return since.status().WithContext("--since");
    query.since_micros = *since;
  }
  if (!flags.until.empty()) {
    Result<int64_t> until = ParseTimeArgument(flags.until);
    if (!until.ok()) return until.status().WithContext("--until");
    query.until_micros = *until;
  }
  QUIPU_RETURN_IF_ERROR(AddColumns(flags.columns, store.Columns(), &query.columns));
  return query;
}

void AddFilterFlags(CLI::App* verb, FilterFlags* flags) {
  AddEntityFlags(verb, "target", &flags->target);
  AddEntityFlags(verb, "actor", &flags->actor);
  verb->add_option("--method", flags->method, "method equals M")->check(NotEmpty());
  verb->add_option("--since", flags->since, "timestamp >= T (RFC 3339 or microseconds)")
      ->check(NotEmpty());
  verb->add_option("--until", flags->until, "timestamp < T (RFC 3339 or microseconds)")
      ->check(NotEmpty());
  verb->add_option("--column", flags->columns, "custom column equals: NAME=VALUE")
      ->check(ValueNotEmpty());
}

}  // namespace quipu::cli
