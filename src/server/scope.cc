#include "server/scope.h"

namespace quipu::server {

namespace {

Response OutOfScope(const TokenScope& scope) {
  return ErrorResponse(
      http::status::forbidden, "out_of_scope",
      "this token is limited to rows with " + scope.column + " = \"" + scope.value + "\"");
}

// The scope's column in `columns`: filled in when absent, refused when it
// holds another value.
std::optional<Response> ScopeColumns(const Principal& principal, Fields* columns) {
  if (!principal.scope) return std::nullopt;
  const TokenScope& scope = *principal.scope;
  auto it = columns->find(scope.column);
  if (it == columns->end()) {
    columns->emplace(scope.column, Value::Text(scope.value));
    return std::nullopt;
  }
  if (it->second == Value::Text(scope.value)) return std::nullopt;
  return OutOfScope(scope);
}

}  // namespace

std::optional<Response> ScopeEvent(const Principal& principal, Event* event) {
  return ScopeColumns(principal, &event->columns);
}

std::optional<Response> ScopeQuery(const Principal& principal, Query* query) {
  return ScopeColumns(principal, &query->columns);
}

bool RowInScope(const Principal& principal, const Hit& hit) {
  if (!principal.scope) return true;
  auto it = hit.columns.find(principal.scope->column);
  return it != hit.columns.end() && it->second == Value::Text(principal.scope->value);
}

bool VersionInScope(const Principal& principal, const AuditStore& store,
                    const EntityVersion& version) {
  if (!principal.scope) return true;
  Result<Hit> row = store.GetRow(version.created_log_id);
  return row.ok() && RowInScope(principal, *row);
}

}  // namespace quipu::server
