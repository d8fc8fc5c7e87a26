// access/access_log.cc — recording reads in a store's access store.
#include "access/access_log.h"

#include <pwd.h>
#include <unistd.h>

#include "json/audit.h"
#include "quipu/env.h"
#include "quipu/inspect.h"

namespace quipu::access {

namespace {

json::OrderedJson FilterShape(const EntityFilter& f) {
  return json::OrderedJson{{"type", f.type}, {"field", f.field}, {"op", MatchOpName(f.op)}};
}

AuditOptions AccessOptions(bool create) {
  AuditOptions options;
  options.log.create_if_missing = create;
  // Concurrent reads of a server share their syncs; each is durable when
  // Record returns.
  options.log.durability = DurabilityPolicy::GroupCommit();
  return options;
}

}  // namespace

std::string AccessDir(const std::string& store_dir) {
  return store_dir + "/" + std::string(kAccessDirName);
}

Status Enable(const std::string& store_dir) {
  Result<std::optional<LogKind>> kind = ReadLogKind(store_dir);
  if (!kind.ok()) return kind.status();
  if (*kind != LogKind::kAuditStore) {
    return Status::FailedPrecondition(store_dir + " is not an audit store");
  }
  Result<std::unique_ptr<AuditStore>> store =
      AuditStore::Open(AccessDir(store_dir), AccessOptions(/*create=*/true));
  if (!store.ok()) return store.status().WithContext("access log of " + store_dir);
  return (*store)->Close();
}

Result<std::unique_ptr<AccessLog>> AccessLog::Open(const std::string& store_dir) {
  const std::string dir = AccessDir(store_dir);
  Result<bool> exists = Env::Default()->FileExists(dir);
  if (!exists.ok()) return exists.status();
  if (!*exists) return std::unique_ptr<AccessLog>();
  Result<std::unique_ptr<AuditStore>> store = AuditStore::Open(dir, AccessOptions(false));
  if (!store.ok()) {
    return store.status().WithContext("the access log of " + store_dir +
                                      " (every read of it is recorded there)");
  }
  return std::unique_ptr<AccessLog>(new AccessLog(std::move(*store)));
}

AccessLog::AccessLog(std::unique_ptr<AuditStore> store) : store_(std::move(store)) {}

AccessLog::~AccessLog() {
  if (store_) (void)store_->Close();
}

Status AccessLog::Record(std::string_view who, std::string_view verb,
                         const json::OrderedJson& shape, std::optional<uint64_t> rows) {
  if (!store_) return Status::FailedPrecondition("access log is closed");
  json::OrderedJson content{{"shape", shape}, {"rows", nullptr}};
  if (rows) content["rows"] = *rows;
  Event event;
  event.actor = EntityInput{"default_actor", std::string(who), {}};
  event.method = std::string(verb);
  event.content = Value::Json(json::CanonicalJson(json::Json::parse(content.dump())));
  Result<EmitResult> emitted = store_->Emit(event);
  if (!emitted.ok()) return emitted.status().WithContext("record this read in the access log");
  return Status::OK();
}

Status AccessLog::Close() {
  if (!store_) return Status::OK();
  Status s = store_->Close();
  store_.reset();
  return s;
}

json::OrderedJson QueryShape(const Query& query) {
  json::OrderedJson shape = json::OrderedJson::object();
  if (!query.targets.empty()) {
    shape["targets"] = json::OrderedJson::array();
    for (const EntityFilter& f : query.targets) shape["targets"].push_back(FilterShape(f));
  }
  if (query.actor) shape["actor"] = FilterShape(*query.actor);
  if (query.method) shape["method"] = true;
  if (query.since_micros) shape["since"] = true;
  if (query.until_micros) shape["until"] = true;
  if (!query.columns.empty()) {
    shape["columns"] = json::OrderedJson::array();
    for (const auto& [name, value] : query.columns) shape["columns"].push_back(name);
  }
  return shape;
}

json::OrderedJson QueryPageShape(const Query& query) {
  json::OrderedJson shape = QueryShape(query);
  shape["order"] = query.order == Order::kOldestFirst ? "oldest_first" : "newest_first";
  shape["limit"] = query.limit;
  if (!query.cursor.empty()) shape["cursor"] = true;
  return shape;
}

std::string OsUser() {
  const uid_t uid = geteuid();
  struct passwd entry;
  struct passwd* found = nullptr;
  char buf[4096];
  if (getpwuid_r(uid, &entry, buf, sizeof buf, &found) == 0 && found != nullptr) {
    return "os:" + std::string(found->pw_name);
  }
  return "os:uid:" + std::to_string(uid);
}

}  // namespace quipu::access
