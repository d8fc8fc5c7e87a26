// quipu dump DIR: the records, in LSN order, through a read-only reader.
//
// Plain output is each payload followed by '\n', so `ingest` then `dump`
// gives back input with LF line endings byte for byte (CRLF comes back as
// LF). --json writes one object per line; a payload that is not UTF-8 goes
// out as "payload_hex" since JSON strings cannot hold arbitrary bytes.
#include <unistd.h>

#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "cli/access.h"
#include "cli/common.h"
#include "cli/verbs.h"
#include "quipu/reader.h"

namespace quipu::cli {

namespace {

struct DumpFlags {
  std::string dir;
  Lsn from = 1;
  bool json = false;
};

std::string JsonLine(const LogReader& reader) {
  // Ordered so the fields read lsn, segment, payload as documented.
  nlohmann::ordered_json record;
  record["lsn"] = reader.lsn();
  record["segment"] = reader.segment();
  std::string_view payload = reader.payload();
  if (IsValidUtf8(payload)) {
    record["payload"] = payload;
  } else {
    record["payload_hex"] = HexEncode(payload);
  }
  return record.dump() + "\n";
}

Status Dump(const DumpFlags& flags) {
  // The raw records of an audit store are a read of it like any other:
  // recorded before the first line (cli/access.h).
  QUIPU_RETURN_IF_ERROR(RecordRead(flags.dir, "dump", json::OrderedJson::object(), std::nullopt));
  Result<std::unique_ptr<LogReader>> opened = OpenLogReader(flags.dir, flags.from);
  if (!opened.ok()) return opened.status();
  LogReader& reader = **opened;
  FdWriter out(STDOUT_FILENO);
  for (;;) {
    Result<bool> next = reader.Next();
    if (!next.ok()) {
      // Print what came before the damage, then the error.
      Status flushed = out.Flush();
      return flushed.ok() ? next.status() : flushed;
    }
    if (!*next) break;
    if (flags.json) {
      QUIPU_RETURN_IF_ERROR(out.Write(JsonLine(reader)));
    } else {
      QUIPU_RETURN_IF_ERROR(out.Write(reader.payload()));
      QUIPU_RETURN_IF_ERROR(out.Write("\n"));
    }
  }
  return out.Flush();
}

}  // namespace

void RegisterDump(CLI::App& app) {
  auto flags = std::make_shared<DumpFlags>();
  CLI::App* verb = app.add_subcommand(
      "dump", "Print the records in LSN order: each payload and a newline, or JSON lines.");
  verb->add_option("dir", flags->dir, "log directory")->required();
  verb->add_option("--from", flags->from, "first LSN to print")
      ->check(Unsigned())
      ->capture_default_str();
  verb->add_flag("--json", flags->json,
                 "one JSON object per line: {\"lsn\",\"segment\",\"payload\" (or "
                 "\"payload_hex\" if not UTF-8)}");
  SetAction(verb, [flags] { return Dump(*flags); });
}

}  // namespace quipu::cli
