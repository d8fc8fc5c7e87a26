// quipu stat DIR: what InspectLog finds, as aligned text or one JSON object.
#include <unistd.h>

#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "cli/common.h"
#include "cli/verbs.h"
#include "quipu/inspect.h"

namespace quipu::cli {

namespace {

struct StatFlags {
  std::string dir;
  bool json = false;
};

// "plain log", "audit store", or "unrecorded" for a log older than kinds.
std::string KindText(const LogSummary& log) {
  return log.kind ? std::string(LogKindName(*log.kind)) : "unrecorded";
}

std::string StatJson(const std::string& dir, const LogSummary& log) {
  nlohmann::ordered_json out;
  out["dir"] = dir;
  out["kind"] = KindText(log);
  out["records"] = log.records;
  out["first_lsn"] = log.first_lsn;
  out["last_lsn"] = log.last_lsn;
  out["bytes"] = log.bytes;
  out["torn_bytes"] = log.torn_bytes;
  out["last_recovery"] = log.last_recovery;
  out["segments"] = nlohmann::ordered_json::array();
  for (const SegmentSummary& seg : log.segments) {
    nlohmann::ordered_json s;
    s["file"] = seg.file;
    s["base_lsn"] = seg.base_lsn;
    s["records"] = seg.records;
    s["bytes"] = seg.bytes;
    s["sealed"] = seg.sealed;
    s["torn_bytes"] = seg.torn_bytes;
    out["segments"].push_back(std::move(s));
  }
  // The recovery text comes from a file; never let odd bytes abort the dump.
  return out.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace) + "\n";
}

std::string StatText(const std::string& dir, const LogSummary& log) {
  using std::to_string;
  std::string recovery = log.last_recovery.empty() ? "none" : log.last_recovery;
  std::string text = FormatTable({{"log", dir},
                                  {"kind", KindText(log)},
                                  {"records", to_string(log.records)},
                                  {"first lsn", to_string(log.first_lsn)},
                                  {"last lsn", to_string(log.last_lsn)},
                                  {"bytes", to_string(log.bytes)},
                                  {"torn bytes", to_string(log.torn_bytes)},
                                  {"last recovery", recovery}},
                                 /*text_last=*/true);
  std::vector<std::vector<std::string>> rows = {
      {"segment", "base_lsn", "records", "bytes", "sealed", "torn_bytes"}};
  for (const SegmentSummary& seg : log.segments) {
    rows.push_back({seg.file, to_string(seg.base_lsn), to_string(seg.records), to_string(seg.bytes),
                    seg.sealed ? "yes" : "no", to_string(seg.torn_bytes)});
  }
  return text + "\n" + FormatTable(rows, /*text_last=*/false);
}

Status Stat(const StatFlags& flags) {
  Result<LogSummary> summary = InspectLog(flags.dir);
  if (!summary.ok()) return summary.status();
  FdWriter out(STDOUT_FILENO);
  QUIPU_RETURN_IF_ERROR(
      out.Write(flags.json ? StatJson(flags.dir, *summary) : StatText(flags.dir, *summary)));
  return out.Flush();
}

}  // namespace

void RegisterStat(CLI::App& app) {
  auto flags = std::make_shared<StatFlags>();
  CLI::App* verb = app.add_subcommand(
      "stat",
      "Describe a log: segments, records, LSN range, bytes, torn bytes at the tail, and what the "
      "last recovery cut away. Read-only; safe while another process writes.");
  verb->add_option("dir", flags->dir, "log directory")->required();
  verb->add_flag("--json", flags->json, "one JSON object instead of text");
  SetAction(verb, [flags] { return Stat(*flags); });
}

}  // namespace quipu::cli
