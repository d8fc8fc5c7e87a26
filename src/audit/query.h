// audit/query.h — reading an AuditState: queries, hits, registries.
//
// Every function here is a reader: it runs concurrently with the writer and
// takes no lock beyond the catalog's and a registry's id table (one lookup
// each). A query fixes its snapshot by loading the row count once; rows,
// versions and relations below it are immutable.
#ifndef QUIPU_AUDIT_QUERY_H_
#define QUIPU_AUDIT_QUERY_H_

#include <string_view>
#include <vector>

#include "audit/state.h"
#include "quipu/audit_types.h"

namespace quipu::audit {

Result<QueryPage> RunQuery(const AuditState& state, const Query& query);
// Row `index` (log_id - 1), which must be below state.RowCount().
Hit MaterializeRow(const AuditState& state, size_t index);
Result<std::vector<EntityVersion>> History(const AuditState& state, std::string_view type,
                                           std::string_view id);
Result<std::vector<EntityVersion>> Latest(const AuditState& state, std::string_view type);

}  // namespace quipu::audit

#endif  // QUIPU_AUDIT_QUERY_H_
