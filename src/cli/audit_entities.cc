// The registry verbs of the audit store:
//   quipu history DIR TYPE ID [--json]   every version of one entity, oldest first
//   quipu entities DIR TYPE [--json]     the latest version of each entity of a type
// --json prints one version per line: {"type", "id", "version",
// "created_log_id", "created_at", "fields"}.
#include <unistd.h>

#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "cli/access.h"
#include "cli/audit_json.h"
#include "cli/common.h"
#include "cli/verbs.h"

namespace quipu::cli {

namespace {

struct RegistryFlags {
  std::string dir;
  std::string type;
  std::string id;  // history only
  bool json = false;
  size_t limit = 0;    // entities only: 0 lists them all
  std::string cursor;  // entities only
};

std::string VersionsText(const std::vector<EntityVersion>& versions) {
  std::vector<std::vector<std::string>> rows = {
      {"entity", "created_at", "created_log_id", "fields"}};
  for (const EntityVersion& v : versions) {
    rows.push_back({VersionRef(v), FormatRfc3339Utc(v.created_micros),
                    std::to_string(v.created_log_id),
                    FieldsToJson(v.fields).dump(-1, ' ', false, Json::error_handler_t::replace)});
  }
  return FormatTable(rows, /*text_last=*/true, /*json_column=*/3);
}

std::string VersionsJson(const std::vector<EntityVersion>& versions) {
  std::string text;
  for (const EntityVersion& v : versions) text += JsonLine(VersionToJson(v, /*provenance=*/true));
  return text;
}

// Reads the versions with `read` and prints them as the flags ask, once
// the read is recorded as `verb`: a read that cannot be recorded shows
// nothing (cli/access.h).
template <typename Fn>
Status ReadAndPrint(const RegistryFlags& flags, std::string_view verb, const AuditStore& store,
                    Fn read) {
  Result<std::vector<EntityVersion>> versions = read(store);
  if (!versions.ok()) return versions.status();
  QUIPU_RETURN_IF_ERROR(
      RecordRead(flags.dir, verb, json::OrderedJson{{"type", flags.type}}, versions->size()));
  FdWriter out(STDOUT_FILENO);
  Status s = out.Write(flags.json ? VersionsJson(*versions) : VersionsText(*versions));
  return FirstError(s, out.Flush());
}

template <typename Fn>
Status PrintVersions(const RegistryFlags& flags, std::string_view verb, Fn read) {
  Result<std::unique_ptr<AuditStore>> store = OpenStoreToRead(flags.dir);
  if (!store.ok()) return store.status();
  Status s = ReadAndPrint(flags, verb, **store, read);
  return FirstError(s, (*store)->Close());
}

void AddCommonFlags(CLI::App* verb, RegistryFlags* flags) {
  verb->add_option("dir", flags->dir, "store directory")->required();
  verb->add_option("type", flags->type, "entity type")->required();
}

}  // namespace

void RegisterHistory(CLI::App& app) {
  auto flags = std::make_shared<RegistryFlags>();
  CLI::App* verb = app.add_subcommand(
      "history", "Every version of one entity, oldest first, with the event that wrote it.");
  AddCommonFlags(verb, flags.get());
  verb->add_option("id", flags->id, "entity id")->required();
  verb->add_flag("--json", flags->json, "one JSON object per version");
  SetAction(verb, [flags] {
    return PrintVersions(*flags, "history", [&](const AuditStore& s) {
      return s.EntityHistory(flags->type, flags->id);
    });
  });
}

void RegisterEntities(CLI::App& app) {
  auto flags = std::make_shared<RegistryFlags>();
  CLI::App* verb = app.add_subcommand(
      "entities", "The latest version of every entity of a type, in order of creation.");
  AddCommonFlags(verb, flags.get());
  verb->add_flag("--json", flags->json, "one JSON object per entity");
  verb->add_option("--limit", flags->limit,
                   "at most this many (1..10000), then the cursor of the next page on stderr")
      ->check(CLI::Range(1, 10000));
  verb->add_option("--cursor", flags->cursor, "the cursor printed after the previous page")
      ->needs(verb->get_option("--limit"));
  SetAction(verb, [flags] {
    return PrintVersions(
        *flags, "entities", [&](const AuditStore& s) -> Result<std::vector<EntityVersion>> {
          if (flags->limit == 0) return s.ListEntities(flags->type);
          auto page = s.ListEntities(flags->type, flags->limit, flags->cursor);
          if (!page.ok()) return page.status();
          if (!page->next_cursor.empty()) {
            std::fprintf(stderr, "next page: --cursor %s\n", page->next_cursor.c_str());
          }
          return std::move(page->entities);
        });
  });
}

}  // namespace quipu::cli
