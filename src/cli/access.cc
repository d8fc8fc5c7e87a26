// cli/access.cc — the CLI's side of the access log, and `quipu access-log`.
#include "cli/access.h"

#include <unistd.h>

#include <memory>

#include "access/access_log.h"
#include "cli/common.h"
#include "cli/verbs.h"

namespace quipu::cli {

Status RecordRead(const std::string& dir, std::string_view verb, const json::OrderedJson& shape,
                  std::optional<uint64_t> rows) {
  Result<std::unique_ptr<access::AccessLog>> log = access::AccessLog::Open(dir);
  if (!log.ok()) return log.status();
  if (*log == nullptr) return Status::OK();
  Status s = (*log)->Record(access::OsUser(), verb, shape, rows);
  return FirstError(s, (*log)->Close());
}

std::string AccessStoreDir(const std::string& dir) { return access::AccessDir(dir); }

void RegisterAccessLog(CLI::App& app) {
  auto dir = std::make_shared<std::string>();
  CLI::App* verb = app.add_subcommand(
      "access-log", "Record every read of an audit store in its own access log (DIR/access).");
  verb->require_subcommand(1);
  CLI::App* enable = verb->add_subcommand(
      "enable",
      "From now on, record each read of DIR (who, verb, the shape of the filter, rows) before "
      "answering it; a read that cannot be recorded fails. Query it with `query DIR --access`.");
  enable->add_option("dir", *dir, "store directory")->required();
  SetAction(enable, [dir]() -> Status {
    QUIPU_RETURN_IF_ERROR(access::Enable(*dir));
    FdWriter out(STDOUT_FILENO);
    QUIPU_RETURN_IF_ERROR(
        out.Write("reads of " + *dir + " are recorded in " + access::AccessDir(*dir) + "\n"));
    return out.Flush();
  });
}

}  // namespace quipu::cli
