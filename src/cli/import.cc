// quipu import DIR [--file FILE]: records an export (`quipu export`) into
// an empty store (docs/audit.md, "Export and import").
//
// Each record line is replayed through the store's public verbs, in the
// export's order: a type line is a DefineType of the schema it holds, a
// column line a RegisterColumn, an event line an Emit whose actor and
// targets give every field of the version the row pinned and whose
// occurred_at is the row's timestamp. Since a field once set is never unset
// and an unchanged merge writes no version, the emits write the same
// versions under the same numbers. "record" and "proof" are not read here:
// check them with `verify-proof --export` first.
//
// Events are appended without waiting for each sync; the run syncs once at
// the end, and on a failure syncs what it wrote before reporting the line
// that failed ("line N: ...", exit 1).
#include <fcntl.h>
#include <unistd.h>

#include <memory>
#include <string>

#include "cli/audit_json.h"
#include "cli/common.h"
#include "cli/line_reader.h"
#include "cli/new_store.h"
#include "cli/verbs.h"
#include "io/errno_status.h"

namespace quipu::cli {

namespace {

// A line holds a record of up to 1 MiB as hex (2 MiB), its JSON, and a proof.
constexpr size_t kMaxLine = 8 << 20;

struct ImportFlags {
  std::string dir;
  std::string file = "-";
};

struct Counts {
  uint64_t types = 0, columns = 0, events = 0;
  uint64_t last_log_id = 0;
  Lsn last_lsn = 0;
  bool seen_header = false;
  bool complete = false;
};

Status Bad(const std::string& what) { return Status::InvalidArgument(what); }

// An entity of an exported row as an EVENT names it: the pinned version's
// every field.
Json EntityInput(const Json& version) {
  Json out = Json::object();
  for (const char* key : {"type", "id", "fields"}) {
    if (auto it = version.find(key); it != version.end()) out[key] = *it;
  }
  return out;
}

// The EVENT that writes what an exported row records.
Result<Json> EventOfRow(const Json& row) {
  if (!row.contains("actor") || !row["actor"].is_object())
    return Bad("\"actor\" must be an object");
  Json event = Json::object();
  event["actor"] = EntityInput(row["actor"]);
  for (const char* key : {"method", "url", "columns"}) {
    if (auto it = row.find(key); it != row.end()) event[key] = *it;
  }
  if (auto it = row.find("content"); it != row.end() && !it->is_null()) event["content"] = *it;
  if (auto it = row.find("timestamp"); it != row.end()) event["occurred_at"] = *it;
  if (auto it = row.find("targets"); it != row.end()) {
    if (!it->is_array()) return Bad("\"targets\" must be an array");
    event["targets"] = Json::array();
    for (const Json& t : *it) {
      if (!t.is_object()) return Bad("each target must be an object");
      event["targets"].push_back(EntityInput(t));
    }
  }
  return event;
}

Status ImportHeader(const Json& line, Counts* counts) {
  const Json& header = line["export"];
  if (!header.is_object() || !header.contains("quipu_export") || header["quipu_export"] != 1) {
    return Bad("not an export of this format (\"quipu_export\": 1)");
  }
  counts->seen_header = true;
  // An export of a purged store starts later: its log_ids cannot come back
  // as they were, and are renumbered from 1 as a filtered export's are.
  counts->complete = header.value("complete", false) && header.value("first_lsn", 1) <= 1;
  return Status::OK();
}

Status ImportEvent(AuditStore& store, const Json& line, Counts* counts) {
  Result<Json> input = EventOfRow(line);
  if (!input.ok()) return input.status();
  Result<Event> event = EventFromJson(*input, store);
  if (!event.ok()) return event.status();
  Result<EmitResult> emitted = store.Emit(*event, Durability::kBuffered);
  if (!emitted.ok()) return emitted.status();
  // A complete export holds every event, so its log_ids come back as they
  // were; a filtered one is renumbered densely.
  if (counts->complete && line.value("log_id", uint64_t{0}) != emitted->log_id) {
    return Status::Corruption("the export's log_id " + line.value("log_id", Json()).dump() +
                              " was written as " + std::to_string(emitted->log_id) +
                              ": a line of this complete export is missing or out of order");
  }
  counts->events++;
  counts->last_log_id = emitted->log_id;
  counts->last_lsn = emitted->lsn;
  return Status::OK();
}

Status ImportLine(AuditStore& store, std::string_view text, Counts* counts) {
  Result<Json> parsed = ParseJson(text, "line");
  if (!parsed.ok()) return parsed.status();
  const Json& line = *parsed;
  if (!line.is_object()) return Bad("a line must be a JSON object");
  if (!counts->seen_header) {
    if (!line.contains("export")) return Bad("the first line must be the export's header");
    return ImportHeader(line, counts);
  }
  if (line.contains("type")) {
    Result<TypeSchema> schema = SchemaFromJson(line["type"]);
    if (!schema.ok()) return schema.status();
    QUIPU_RETURN_IF_ERROR(store.DefineType(*schema));
    counts->types++;
    return Status::OK();
  }
  if (line.contains("column")) {
    Result<ColumnSpec> column = json::ColumnFromJson(line["column"]);
    if (!column.ok()) return column.status();
    QUIPU_RETURN_IF_ERROR(store.RegisterColumn(*column));
    counts->columns++;
    return Status::OK();
  }
  // A retention purge of the exporting store is its own history, not the
  // importing one's.
  if (line.contains("purge") || line.contains("carry") || line.contains("forget")) {
    return Status::OK();
  }
  if (line.contains("log_id")) return ImportEvent(store, line, counts);
  return Bad("a line must hold \"type\", \"column\" or an event (\"log_id\")");
}

Status ImportLines(AuditStore& store, int fd, Counts* counts) {
  LineReader in(fd, kMaxLine);
  for (;;) {
    Result<bool> more = in.Fill();
    if (!more.ok()) return more.status();
    QUIPU_RETURN_IF_ERROR(in.ForEachLine([&](std::string_view line) -> Status {
      if (line.find_first_not_of(" \t\r") == std::string_view::npos) return Status::OK();
      return ImportLine(store, line, counts)
          .WithContext("line " + std::to_string(in.line_number()));
    }));
    if (!*more) break;
  }
  if (!counts->seen_header) return Bad("the input holds no export header");
  return Status::OK();
}

Status ImportInto(const ImportFlags& flags, int fd) {
  Result<std::unique_ptr<AuditStore>> store = OpenStore(flags.dir, /*create=*/true);
  if (!store.ok()) return store.status();
  AuditStore& s = **store;
  Result<Lsn> applied = s.AppliedLsn();
  Status status = applied.status();
  if (status.ok() && *applied > 0) {
    status = Status::FailedPrecondition("import needs an empty store; " + flags.dir + " holds " +
                                        std::to_string(*applied) + " records");
  }
  Counts counts;
  if (status.ok()) status = ImportLines(s, fd, &counts);
  // What was written is made durable whether or not a line failed.
  Status synced = counts.last_lsn > 0 ? s.WaitDurable(counts.last_lsn) : Status::OK();
  Status closed = s.Close();
  status = FirstError(FirstError(status, synced), closed);
  if (!status.ok()) return status;
  FdWriter out(STDOUT_FILENO);
  QUIPU_RETURN_IF_ERROR(out.Write("imported " + std::to_string(counts.types) + " types, " +
                                  std::to_string(counts.columns) + " columns, " +
                                  std::to_string(counts.events) + " events; durable through " +
                                  "log_id " + std::to_string(counts.last_log_id) + "\n"));
  return out.Flush();
}

Status RunImport(const ImportFlags& flags) {
  int fd = STDIN_FILENO;
  if (flags.file != "-") {
    fd = ::open(flags.file.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return ErrnoStatus("open", flags.file, errno);
  }
  Status s = RunRemovingNewStore(flags.dir, [&] { return ImportInto(flags, fd); });
  if (fd != STDIN_FILENO) ::close(fd);
  return s;
}

}  // namespace

void RegisterImport(CLI::App& app) {
  auto flags = std::make_shared<ImportFlags>();
  CLI::App* verb = app.add_subcommand(
      "import", "Record an export (`quipu export`) into an empty store, creating it if missing.");
  verb->add_option("dir", flags->dir, "store directory (new or empty)")->required();
  verb->add_option("--file", flags->file, "the export's NDJSON ('-' for stdin)")
      ->capture_default_str();
  SetAction(verb, [flags] { return RunImport(*flags); });
}

}  // namespace quipu::cli
