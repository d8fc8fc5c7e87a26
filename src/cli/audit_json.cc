#include "cli/audit_json.h"

#include <cstdio>
#include <utility>

#include "cli/key_flags.h"

namespace quipu::cli {

std::string VersionRef(const EntityVersion& version) {
  return version.type + ":" + version.id + "@v" + std::to_string(version.version);
}

Result<std::unique_ptr<AuditStore>> OpenStore(const std::string& dir, bool create,
                                              DurabilityPolicy policy, TreeOptions tree) {
  AuditOptions options;
  options.log.durability = policy;
  options.log.create_if_missing = create;
  options.log.tree = std::move(tree);
  // The index answers every read, so open need not read the whole log:
  // sealed segments are checked by `quipu check` and `verify`, and by any
  // reader that reaches them (quipu/options.h).
  options.log.verify_sealed_segments = false;
  auto keys = LoadKeys();
  if (!keys.ok()) return keys.status();
  options.keys = *keys;
  auto store = AuditStore::Open(dir, options);
  if (store.ok()) ReportIndex(dir, (*store)->index_report());
  return store;
}

void ReportIndex(const std::string& dir, const IndexReport& report) {
  std::string line;
  switch (report.action) {
    case IndexReport::Action::kNone:
      return;
    case IndexReport::Action::kCaughtUp:
      // The ordinary case after a crash; only worth a word when it was long.
      if (report.records_applied < 100000) return;
      line = "caught up with " + std::to_string(report.records_applied) + " records of the log";
      break;
    case IndexReport::Action::kRepaired:
      line = "took back " + std::to_string(report.records_undone) +
             " records that a power cut removed from the log";
      break;
    case IndexReport::Action::kRebuilt:
      line = "rebuilt from " + std::to_string(report.records_applied) + " records of the log (" +
             report.reason + ")";
      break;
  }
  std::fprintf(stderr, "quipu: index of %s %s\n", dir.c_str(), line.c_str());
}

Result<std::unique_ptr<AuditStore>> OpenStoreToRead(const std::string& dir) {
  AuditOptions options;
  options.read_only = true;
  auto keys = LoadKeys();
  if (!keys.ok()) return keys.status();
  options.keys = *keys;
  return AuditStore::Open(dir, options);
}

}  // namespace quipu::cli
