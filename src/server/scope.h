// server/scope.h — data scoping: a token bound to (column, value) writes
// only rows holding that value and reads only such rows (server/auth.h).
// Every route that touches rows goes through these, so no route can forget.
#ifndef QUIPU_SERVER_SCOPE_H_
#define QUIPU_SERVER_SCOPE_H_

#include <optional>

#include "quipu/audit.h"
#include "quipu/audit_types.h"
#include "server/auth.h"
#include "server/http.h"

namespace quipu::server {

// Fills the scope's column into `event`, or refuses (403) an event that
// names another value. nullopt: go on.
std::optional<Response> ScopeEvent(const Principal& principal, Event* event);
// Adds the scope's column to `query`'s column conditions, or refuses (403)
// a query that asks for another value.
std::optional<Response> ScopeQuery(const Principal& principal, Query* query);
// Whether the principal may see row `hit`.
bool RowInScope(const Principal& principal, const Hit& hit);
// Whether the principal may see a version: one written by a row in scope.
bool VersionInScope(const Principal& principal, const AuditStore& store,
                    const EntityVersion& version);

}  // namespace quipu::server

#endif  // QUIPU_SERVER_SCOPE_H_
