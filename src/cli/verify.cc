// quipu verify DIR: re-derives every record's leaf hash against the stored
// tree and checks every checkpoint (VerifyIntegrity in quipu/tree.h).
//
// Exit 0 means every record the tree covers is intact (records newer than
// the tree are named as unchecked); otherwise the one-line error names the
// first break (LSN, segment file, offset). A purged audit store must hold
// the record of its purge (CheckRecordedPurge in quipu/audit.h). With --public-key, a store with
// no signed checkpoint fails too. On a terminal, progress goes to stderr.
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <memory>
#include <string>

#include "cli/common.h"
#include "cli/verbs.h"
#include "json/audit.h"
#include "json/tree.h"
#include "quipu/audit.h"
#include "quipu/inspect.h"
#include "quipu/tree.h"

namespace quipu::cli {

namespace {

struct VerifyFlags {
  std::string dir;
  std::string public_key;
  bool json = false;
};

// Redraws one status line on stderr at most every 200 ms; Finish() erases it.
class ProgressLine {
 public:
  void Update(const VerifyProgress& p) {
    auto now = std::chrono::steady_clock::now();
    if (now - last_ < std::chrono::milliseconds(200)) return;
    last_ = now;
    double pct = p.bytes_total == 0 ? 100.0 : 100.0 * p.bytes_done / p.bytes_total;
    std::fprintf(stderr, "\rverify: %llu records, %.0f%%  ",
                 static_cast<unsigned long long>(p.records), pct);
    drawn_ = true;
  }
  void Finish() {
    if (drawn_) std::fprintf(stderr, "\r\033[K");
  }

 private:
  std::chrono::steady_clock::time_point last_{};
  bool drawn_ = false;
};

std::string Range(Lsn first, Lsn last) {
  return first == last ? std::to_string(first)
                       : std::to_string(first) + ".." + std::to_string(last);
}

// The headline never calls a record intact that was not compared with the
// tree: records newer than the spine are named as unchecked.
std::string Headline(const VerifyFlags& flags, const VerifyReport& r) {
  if (r.covered - r.purged == r.records) return "intact: " + flags.dir + "\n";
  if (r.covered == r.purged) {
    return "NOT checked against the tree: " + flags.dir + " (LSN " +
           Range(r.first_lsn, r.last_lsn) + " newer than the tree)\n";
  }
  return "intact up to LSN " + std::to_string(r.covered) + ": " + flags.dir + " (LSN " +
         Range(r.covered + 1, r.last_lsn) + " newer than the tree, not checked against it)\n";
}

std::string CheckpointsText(const VerifyReport& r) {
  std::string text = std::to_string(r.checkpoints);
  if (r.checkpoints > 0)
    text += " (newest signs " + std::to_string(r.checkpoint_size) + " records)";
  if (r.torn_checkpoint_checked) text += ", the last one torn (no newline) but whole";
  if (r.torn_checkpoint_line && !r.torn_checkpoint_checked) text += ", torn last line ignored";
  return text;
}

std::string ReportText(const VerifyFlags& flags, const VerifyReport& r) {
  std::string range = r.records == 0 ? "none" : Range(r.first_lsn, r.last_lsn);
  std::string signatures = r.checkpoints == 0     ? "-"
                           : r.signatures_checked ? "verified"
                                                  : "NOT checked (no --public-key)";
  return Headline(flags, r) +
         FormatTable({{"records", std::to_string(r.records)},
                      {"lsn range", range},
                      {"root", r.root.ToHex()},
                      {"checked", std::to_string(r.covered - r.purged) + " of " +
                                      std::to_string(r.records) + " records against the tree"},
                      {"purged", r.purged == 0 ? std::string("none")
                                               : "LSN " + Range(1, r.purged) +
                                                     " (their leaves checked in the spine)"},
                      {"spine leaves", std::to_string(r.spine_leaves) + " (" +
                                           std::to_string(r.spine_synced) + " synced)"},
                      {"checkpoints", CheckpointsText(r)},
                      {"signatures", signatures}},
                     /*text_last=*/true);
}

std::string ReportJson(const VerifyReport& r) {
  return json::JsonLine(json::VerifyReportToJson(r));
}

// --json still answers in JSON when the store is not intact, so a script
// reading stdout never meets an empty document; stderr and the exit code
// say the same as without --json.
std::string FailureJson(const Status& s) { return json::JsonLine(json::VerifyFailureToJson(s)); }

Status Verify(const VerifyFlags& flags) {
  VerifyOptions options;
  if (!flags.public_key.empty()) options.public_key_path = flags.public_key;
  ProgressLine line;
  if (isatty(STDERR_FILENO)) {
    options.progress = [&line](const VerifyProgress& p) { line.Update(p); };
  }
  Result<VerifyReport> report = VerifyIntegrity(flags.dir, options);
  line.Finish();
  if (report.ok() && report->purged > 0) {
    // An audit store's log may start later only where its own purge
    // record says (AuditStore::Retain).
    auto kind = ReadLogKind(flags.dir);
    Status recorded = kind.status();
    if (recorded.ok() && *kind == LogKind::kAuditStore) recorded = CheckRecordedPurge(flags.dir);
    if (!recorded.ok()) report = recorded;
  }
  FdWriter out(STDOUT_FILENO);
  if (!report.ok()) {
    if (flags.json) {
      // Best effort: the exit code and stderr carry the failure either way.
      if (out.Write(FailureJson(report.status())).ok()) (void)out.Flush();
    }
    return report.status();
  }
  QUIPU_RETURN_IF_ERROR(out.Write(flags.json ? ReportJson(*report) : ReportText(flags, *report)));
  return out.Flush();
}

}  // namespace

void RegisterVerify(CLI::App& app) {
  auto flags = std::make_shared<VerifyFlags>();
  CLI::App* verb = app.add_subcommand(
      "verify",
      "Check the store is what it committed to: every record's hash against the Merkle spine, "
      "the segment chain, and every signed checkpoint. Exit 1 names the first break. "
      "Read-only; safe while another process writes.");
  verb->add_option("dir", flags->dir, "log directory")->required();
  verb->add_option("--public-key", flags->public_key,
                   "Ed25519 public key (PEM, PATH.pub from keygen) to check checkpoint "
                   "signatures; without it only their roots are checked");
  verb->add_flag("--json", flags->json, "one JSON object instead of text");
  SetAction(verb, [flags] { return Verify(*flags); });
}

}  // namespace quipu::cli
