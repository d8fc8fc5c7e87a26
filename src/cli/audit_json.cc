#include "cli/audit_json.h"

#include <utility>

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
  return AuditStore::Open(dir, options);
}

Result<std::unique_ptr<AuditStore>> OpenStoreToRead(const std::string& dir) {
  AuditOptions options;
  options.read_only = true;
  return AuditStore::Open(dir, options);
}

}  // namespace quipu::cli
