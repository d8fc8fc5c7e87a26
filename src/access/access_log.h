// access/access_log.h — the access log: every read of a store, recorded.
//
// A store whose directory holds `access/` (made by `quipu access-log enable
// DIR`) records each read of it — query, count, export, history, entities,
// types, root, proofs, checkpoints — in that second audit store, which has
// its own log and Merkle tree like any store. A read is recorded, durably,
// before its answer is given: a read that cannot be recorded fails and
// shows nothing.
//
// A record is an event of the access store (docs/audit.md, "Access log"):
//   actor    default_actor "token:ID" (the server; the id `quipu token list`
//            shows) or "os:USER" (the CLI)
//   method   the verb
//   content  {"shape": what was asked, "rows": how many answers, or null}
// The shape holds the names of types, fields, columns and operators and
// whether a method or time bound was given — never a searched value, an
// entity id or a cursor, which may themselves be personal data.
//
// Only one process at a time can write a store, so while a server records
// reads of DIR, a CLI read of DIR cannot record its own and fails (Busy):
// read through the server then. Reads of the access store itself
// (`query --access`) are not recorded.
//
// Built on the public AuditStore API only; JSON through json/.
#ifndef QUIPU_ACCESS_ACCESS_LOG_H_
#define QUIPU_ACCESS_ACCESS_LOG_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "json/input.h"
#include "quipu/audit.h"
#include "quipu/status.h"

namespace quipu::access {

// The access store's directory inside a store's.
inline constexpr std::string_view kAccessDirName = "access";
std::string AccessDir(const std::string& store_dir);

// Makes `store_dir` (an audit store) record its reads from now on. OK if
// it already does.
Status Enable(const std::string& store_dir);

class AccessLog {
 public:
  // Opens the access store of `store_dir` for recording: nullptr when the
  // store does not record reads. Busy while another process records them.
  static Result<std::unique_ptr<AccessLog>> Open(const std::string& store_dir);
  ~AccessLog();

  // Records one read; durable when it returns. `rows` nullopt: not known
  // when recorded (an export is recorded before its first row).
  Status Record(std::string_view who, std::string_view verb, const json::OrderedJson& shape,
                std::optional<uint64_t> rows);

  Status Close();

 private:
  explicit AccessLog(std::unique_ptr<AuditStore> store);
  std::unique_ptr<AuditStore> store_;
};

// The shape of a query: {"targets": [{"type", "field", "op"}...], "actor":
// {...}, "method": true, "since": true, "until": true, "columns": [names]},
// each key only when the query has that condition.
json::OrderedJson QueryShape(const Query& query);
// The same for one page: also "order", "limit", and "cursor": true when
// the page follows another.
json::OrderedJson QueryPageShape(const Query& query);

// "os:NAME" of the effective user (or "os:uid:N" without a name).
std::string OsUser();

}  // namespace quipu::access

#endif  // QUIPU_ACCESS_ACCESS_LOG_H_
