// cli/query_flags.h — the row filter flags shared by `query` and `export`.
//
// Entity filters are TYPE.FIELD=VALUE, one flag per operator (--target,
// --target-contains, --target-prefix, --target-ci and the same for --actor).
// Type and field names may themselves contain '.', so the split is resolved
// against the store's catalog: the one split whose type exists and has that
// field (or "id") wins. On a json field, --target and --target-ci take VALUE
// as a JSON document, compared in the canonical form values are stored in.
// Empty filter values are usage errors (exit 2): an empty --method or
// --since would read as no filter at all, and an empty substring or prefix
// matches every row, so a script passing an unset variable would silently
// get everything.
#ifndef QUIPU_CLI_QUERY_FLAGS_H_
#define QUIPU_CLI_QUERY_FLAGS_H_

#include <CLI/CLI.hpp>
#include <string>
#include <vector>

#include "quipu/audit.h"

namespace quipu::cli {

// The filter flags as given, one list per operator.
struct EntityFlags {
  std::vector<std::string> exact, contains, prefix, ci;
};

struct FilterFlags {
  EntityFlags target, actor;
  std::string method;
  std::string since, until;
  std::vector<std::string> columns;
};

// Adds --target*, --actor*, --method, --since, --until and --column.
void AddFilterFlags(CLI::App* verb, FilterFlags* flags);

// The conditions the flags ask for (order, limit and cursor left default).
Result<Query> BuildFilter(const FilterFlags& flags, const AuditStore& store);

}  // namespace quipu::cli

#endif  // QUIPU_CLI_QUERY_FLAGS_H_
