// quipu retain DIR --max-age AGE --max-bytes SIZE [--dry-run] [--json]:
// applies a retention policy to an audit store once (AuditStore::Retain).
// Takes the writer lock, so it refuses to run beside a writer (Busy, exit
// 1); `quipu serve --retain-max-age ...` applies the policy itself.
#include <unistd.h>

#include <memory>
#include <string>

#include "cli/audit_json.h"
#include "cli/common.h"
#include "cli/retention_flags.h"
#include "cli/verbs.h"

namespace quipu::cli {

namespace {

struct RetainFlags {
  std::string dir;
  RetentionFlags retention;
  bool dry_run = false;
  bool json = false;
};

std::string Text(const RetainFlags& flags, const RetainReport& r) {
  if (r.segments == 0) {
    return "nothing to purge: " + flags.dir + " (the log starts at LSN " +
           std::to_string(r.first_kept) + ")\n";
  }
  const std::string what = std::to_string(r.segments) + " segment(s), " + std::to_string(r.bytes) +
                           " bytes: " + std::to_string(r.records) + " records, " +
                           std::to_string(r.rows) + " events (rows up to log_id " +
                           std::to_string(r.last_log_id) + ")";
  if (!r.purged) {
    return "would purge " + flags.dir + ": " + what + "; the log would start at LSN " +
           std::to_string(r.first_kept) + "\n";
  }
  return "purged " + flags.dir + ": " + what + "; the log starts at LSN " +
         std::to_string(r.first_kept) + "; recorded at LSN " + std::to_string(r.purge_lsn) +
         " after " + std::to_string(r.carry_records) + " carry record(s)\n";
}

std::string Json(const RetainFlags& flags, const RetainReport& r) {
  json::OrderedJson doc;
  doc["dir"] = flags.dir;
  doc["dry_run"] = flags.dry_run;
  doc["purged"] = r.purged;
  doc["first_kept"] = r.first_kept;
  doc["segments"] = r.segments;
  doc["bytes"] = r.bytes;
  doc["records"] = r.records;
  doc["rows"] = r.rows;
  doc["last_log_id"] = r.last_log_id;
  doc["purge_lsn"] = r.purge_lsn;
  doc["carry_records"] = r.carry_records;
  return JsonLine(doc);
}

Status Retain(const RetainFlags& flags) {
  auto store = OpenStore(flags.dir, /*create=*/false);
  if (!store.ok()) return store.status();
  auto report = (*store)->Retain(flags.retention.Policy(), flags.dry_run);
  Status closed = (*store)->Close();
  if (!report.ok()) return report.status();
  QUIPU_RETURN_IF_ERROR(closed);
  FdWriter out(STDOUT_FILENO);
  QUIPU_RETURN_IF_ERROR(out.Write(flags.json ? Json(flags, *report) : Text(flags, *report)));
  return out.Flush();
}

}  // namespace

void RegisterRetain(CLI::App& app) {
  auto flags = std::make_shared<RetainFlags>();
  CLI::App* verb = app.add_subcommand(
      "retain",
      "Apply a retention policy to an audit store: drop its oldest sealed log segments by age "
      "and/or size, keeping every proof (docs/audit.md, \"Retention\"). The purge is recorded "
      "in the log itself before any segment goes. Takes the writer lock.");
  verb->add_option("dir", flags->dir, "store directory")->required();
  AddRetentionFlags(verb, &flags->retention);
  verb->add_flag("--dry-run", flags->dry_run, "say what would go, change nothing");
  verb->add_flag("--json", flags->json, "print the report as one JSON object");
  SetAction(verb, [flags] {
    if (flags->retention.empty()) {
      return Status::InvalidArgument("give --max-age, --max-bytes or both");
    }
    return Retain(*flags);
  });
}

}  // namespace quipu::cli
