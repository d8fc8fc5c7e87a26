// The schema verbs of the audit store:
//   quipu define-type DIR --json SCHEMA   defines or evolves an entity type
//   quipu define-column DIR NAME KIND     registers a custom log-row column
//   quipu types DIR [--json]              lists types and columns
// Definitions are durable before the verb exits; a refused one writes nothing.
#include <unistd.h>

#include <memory>
#include <string>
#include <vector>

#include "cli/access.h"
#include "cli/audit_json.h"
#include "cli/common.h"
#include "cli/new_store.h"
#include "cli/verbs.h"

namespace quipu::cli {

namespace {

// Runs `write` on the store in `dir` and closes it, keeping the first error.
// A store this run created is removed again if `write` fails (a refused
// definition in a mistyped directory must not leave an empty store).
template <typename Fn>
Status WithStore(const std::string& dir, bool create, Fn write) {
  auto run = [&]() -> Status {
    Result<std::unique_ptr<AuditStore>> store =
        create ? OpenStore(dir, true) : OpenStoreToRead(dir);
    if (!store.ok()) return store.status();
    Status s = write(**store);
    return FirstError(s, (*store)->Close());
  };
  return create ? RunRemovingNewStore(dir, run) : run();
}

struct DefineTypeFlags {
  std::string dir;
  std::string json;
};

Status DefineType(const DefineTypeFlags& flags) {
  Result<Json> json = ParseJson(flags.json, "schema");
  if (!json.ok()) return json.status();
  Result<TypeSchema> schema = SchemaFromJson(*json);
  if (!schema.ok()) return schema.status();
  return WithStore(flags.dir, /*create=*/true, [&](AuditStore& store) -> Status {
    QUIPU_RETURN_IF_ERROR(store.DefineType(*schema));
    return PrintStdout("defined " + schema->name + "\n");
  });
}

struct DefineColumnFlags {
  std::string dir;
  std::string name;
  std::string kind;
  std::string protection = "plain";
  std::string subject;
};

Status DefineColumn(const DefineColumnFlags& flags) {
  Result<FieldKind> kind = ParseFieldKind(flags.kind);
  if (!kind.ok()) return kind.status();
  Result<Protection> protection = ParseProtection(flags.protection);
  if (!protection.ok()) return protection.status();
  return WithStore(flags.dir, /*create=*/true, [&](AuditStore& store) -> Status {
    QUIPU_RETURN_IF_ERROR(
        store.RegisterColumn(ColumnSpec{flags.name, *kind, *protection, flags.subject}));
    return PrintStdout("defined column " + flags.name + "\n");
  });
}

std::string TypesJson(const std::vector<TypeSchema>& types,
                      const std::vector<ColumnSpec>& columns) {
  OrderedJson out;
  out["types"] = OrderedJson::array();
  for (const TypeSchema& t : types) out["types"].push_back(SchemaToJson(t));
  out["columns"] = OrderedJson::array();
  for (const ColumnSpec& c : columns) out["columns"].push_back(ColumnToJson(c));
  return JsonLine(out);
}

std::string TypesText(const std::vector<TypeSchema>& types,
                      const std::vector<ColumnSpec>& columns) {
  std::vector<std::vector<std::string>> rows = {
      {"type", "field", "kind", "required", "indexed", "protection"}};
  for (const TypeSchema& t : types) {
    if (t.fields.empty()) rows.push_back({t.name, "-", "", "", "", ""});
    for (const FieldSpec& f : t.fields) {
      std::string protection(ProtectionName(f.protection));
      if (f.prefix_tokens > 0) protection += " (prefix " + std::to_string(f.prefix_tokens) + ")";
      rows.push_back({t.name, f.name, std::string(FieldKindName(f.kind)), f.required ? "yes" : "no",
                      f.indexed ? "yes" : "no", protection});
    }
  }
  std::string text = FormatTable(rows, /*text_last=*/false);
  if (columns.empty()) return text + "\nno custom columns\n";
  std::vector<std::vector<std::string>> column_rows = {{"column", "kind", "protection"}};
  for (const ColumnSpec& c : columns) {
    std::string protection(ProtectionName(c.protection));
    if (!c.subject.empty()) protection += " (subject " + c.subject + ")";
    column_rows.push_back({c.name, std::string(FieldKindName(c.kind)), protection});
  }
  return text + "\n" + FormatTable(column_rows, /*text_last=*/true);
}

struct TypesFlags {
  std::string dir;
  bool json = false;
};

Status Types(const TypesFlags& flags) {
  return WithStore(flags.dir, /*create=*/false, [&](AuditStore& store) -> Status {
    std::vector<TypeSchema> types = store.Types();
    std::vector<ColumnSpec> columns = store.Columns();
    // Recorded before it is shown (cli/access.h).
    QUIPU_RETURN_IF_ERROR(
        RecordRead(flags.dir, "types", json::OrderedJson::object(), types.size() + columns.size()));
    return PrintStdout(flags.json ? TypesJson(types, columns) : TypesText(types, columns));
  });
}

}  // namespace

void RegisterDefineType(CLI::App& app) {
  auto flags = std::make_shared<DefineTypeFlags>();
  CLI::App* verb = app.add_subcommand(
      "define-type",
      "Define an entity type, or evolve one (fields may be added; kinds never change).");
  verb->add_option("dir", flags->dir, "store directory (created if missing)")->required();
  verb->add_option("--json", flags->json,
                   "SCHEMA: {\"name\":\"user\",\"fields\":[{\"name\":\"email\",\"kind\":\"text\","
                   "\"required\":true,\"indexed\":true}]} (kind text|number|json; optional "
                   "\"protection\": plain|hashed|encrypted|encrypted+indexed and "
                   "\"prefix_tokens\": N, docs/privacy.md)")
      ->required();
  SetAction(verb, [flags] { return DefineType(*flags); });
}

void RegisterDefineColumn(CLI::App& app) {
  auto flags = std::make_shared<DefineColumnFlags>();
  CLI::App* verb = app.add_subcommand(
      "define-column", "Register a custom column that events may fill and queries may match.");
  verb->add_option("dir", flags->dir, "store directory (created if missing)")->required();
  verb->add_option("name", flags->name, "column name")->required();
  verb->add_option("kind", flags->kind, "text | number | json")->required();
  verb->add_option("--protection", flags->protection,
                   "plain (default) | hashed | encrypted (docs/privacy.md)");
  verb->add_option("--subject", flags->subject,
                   "whose key seals a protected column: a type whose first target in the event "
                   "is the subject (default: the event's actor)");
  SetAction(verb, [flags] { return DefineColumn(*flags); });
}

void RegisterTypes(CLI::App& app) {
  auto flags = std::make_shared<TypesFlags>();
  CLI::App* verb = app.add_subcommand("types", "List entity types and custom columns.");
  verb->add_option("dir", flags->dir, "store directory")->required();
  verb->add_flag("--json", flags->json, "one JSON object {\"types\":[...],\"columns\":[...]}");
  SetAction(verb, [flags] { return Types(*flags); });
}

}  // namespace quipu::cli
