// cli/audit_json.h — what the audit verbs (emit, define-type, define-column,
// types, query, history, entities) share: opening the store, the short text
// form of a version, and the JSON shapes of json/audit.h under the names the
// verbs use.
#ifndef QUIPU_CLI_AUDIT_JSON_H_
#define QUIPU_CLI_AUDIT_JSON_H_

#include <memory>
#include <string>

#include "json/audit.h"
#include "quipu/audit.h"
#include "quipu/options.h"
#include "quipu/status.h"
#include "quipu/tree.h"

namespace quipu::cli {

using json::CanonicalJson;
using json::ColumnToJson;
using json::EventFromJson;
using json::FieldsToJson;
using json::HitToJson;
using json::Json;
using json::JsonLine;
using json::OrderedJson;
using json::ParseJson;
using json::ParseTimeArgument;
using json::SchemaFromJson;
using json::SchemaToJson;
using json::ValueFromArgument;
using json::ValueToJson;
using json::VersionToJson;

// "user:42@v3", the short form of a pinned version in text output.
std::string VersionRef(const EntityVersion& version);

// Opens the store in `dir` for a verb that writes (creating it if `create`),
// saying on stderr what its open did to the derived index (ReportIndex).
Result<std::unique_ptr<AuditStore>> OpenStore(const std::string& dir, bool create,
                                              DurabilityPolicy policy = DurabilityPolicy::Always(),
                                              TreeOptions tree = {});
// Opens it read-only for a verb that only reads: no writer lock, so it runs
// beside a process that writes the store; a mistyped directory is NotFound.
Result<std::unique_ptr<AuditStore>> OpenStoreToRead(const std::string& dir);
// One line on stderr when an open rebuilt or repaired the index of `dir`
// (or caught up with many records); nothing when it had nothing to do.
void ReportIndex(const std::string& dir, const IndexReport& report);

}  // namespace quipu::cli

#endif  // QUIPU_CLI_AUDIT_JSON_H_
