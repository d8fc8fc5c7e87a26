// quipu check DIR: a verdict on every record's checksum.
//
// A clean log prints "ok: N records in M segments"; damage is returned as the
// verb's error, so main() prints it (file and offset included) and exits 1.
#include <unistd.h>

#include <memory>
#include <string>

#include "cli/common.h"
#include "cli/verbs.h"
#include "quipu/inspect.h"

namespace quipu::cli {

namespace {

Status Check(const std::string& dir) {
  Result<LogSummary> summary = CheckLog(dir);
  if (!summary.ok()) return summary.status();
  FdWriter out(STDOUT_FILENO);
  QUIPU_RETURN_IF_ERROR(out.Write("ok: " + std::to_string(summary->records) + " records in " +
                                  std::to_string(summary->segments.size()) + " segments\n"));
  return out.Flush();
}

}  // namespace

void RegisterCheck(CLI::App& app) {
  auto dir = std::make_shared<std::string>();
  CLI::App* verb = app.add_subcommand(
      "check",
      "Verify every record of a log. Exit 0 when intact; otherwise exit 1 naming the first "
      "damaged file and offset. Read-only; safe while another process writes.");
  verb->add_option("dir", *dir, "log directory")->required();
  SetAction(verb, [dir] { return Check(*dir); });
}

}  // namespace quipu::cli
