// quipu ingest DIR: stdin lines become records, without their "\n" or
// "\r\n" ending (a last line without '\n' loses a trailing '\r' too).
//
// Three threads at most:
//   reader   (the main thread) reads stdin in chunks and appends each line,
//            printing "appended <lsn>".
//   watcher  waits on the durable watermark and prints "durable <lsn>".
//   syncer   only under group[:MS]: the reader appends without waiting and the
//            syncer calls Sync() whenever appends are pending, so one fdatasync
//            runs while the next group of lines is appended.
// Under the other policies the engine decides when to sync (and its interval
// timer syncs in the background for every:N,MS).
//
// The log's Merkle tree follows the appends (quipu/tree.h). With
// --signing-key it also signs a checkpoint at every sealed segment and one
// more at the end, each handed to --anchor-cmd. Checkpoint and anchor
// failures are warnings on stderr; they never stop the appends.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <memory>
#include <mutex>
#include <string>

#include "cli/acks.h"
#include "cli/anchor.h"
#include "cli/common.h"
#include "cli/line_reader.h"
#include "cli/new_store.h"
#include "cli/verbs.h"
#include "quipu/log.h"

namespace quipu::cli {

namespace {

// Prints the progress lines. Thread safe.
//
// Invariant: "durable N" is printed only when the log has reported N durable
// AND "appended N" has been printed, so a consumer never sees an LSN called
// durable before it was announced. Durable lines are flushed at once.
class Progress {
 public:
  // `announced` and `durable` describe the log as opened: those records were
  // there before this run and are not reported again.
  Progress(Lsn announced, Lsn durable)
      : out_(STDOUT_FILENO), announced_(announced), watermark_(durable), printed_(durable) {}

  Status Appended(Lsn lsn) {
    std::lock_guard<std::mutex> lock(mu_);
    announced_ = lsn;
    Status s = out_.WriteNumberLine("appended", lsn);
    // Under `always` the watermark usually moves before Append returns.
    if (s.ok() && watermark_ > printed_) s = PrintDurable();
    return s;
  }

  Status DurableAt(Lsn watermark) {
    std::lock_guard<std::mutex> lock(mu_);
    if (watermark > watermark_) watermark_ = watermark;
    return PrintDurable();
  }

  Status Flush() {
    std::lock_guard<std::mutex> lock(mu_);
    return out_.Flush();
  }

 private:
  // Requires mu_.
  Status PrintDurable() {
    Lsn printable = std::min(watermark_, announced_);
    if (printable <= printed_) return Status::OK();
    printed_ = printable;
    Status s = out_.WriteNumberLine("durable", printable);
    return FirstError(s, out_.Flush());
  }

  std::mutex mu_;
  FdWriter out_;   // guarded by mu_
  Lsn announced_;  // guarded by mu_: last "appended" printed
  Lsn watermark_;  // guarded by mu_: highest durable LSN the log reported
  Lsn printed_;    // guarded by mu_: last "durable" printed
};

// Appends every line of stdin, printing its LSN. Returns at EOF or the first
// error; a line longer than `max_line` is refused before it is all read.
Status AppendLines(Log* log, size_t max_line, Durability durability, Progress* progress,
                   GroupSyncer* syncer) {
  LineReader input(STDIN_FILENO, max_line);
  auto append = [&](std::string_view line) -> Status {
    // One trailing '\r' is part of the line ending (CRLF), as for text tools
    // and `emit --stdin`; a payload that must end in '\r' needs the C++ API.
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    Result<Lsn> lsn = log->Append(line, durability);
    if (!lsn.ok()) return lsn.status();
    return progress->Appended(*lsn);
  };
  for (;;) {
    Result<bool> more = input.Fill();
    if (!more.ok()) return more.status();
    QUIPU_RETURN_IF_ERROR(input.ForEachLine(append));
    if (syncer != nullptr) {
      syncer->Poke();
      if (syncer->failed()) return Status::OK();  // Stop() reports the error
    }
    // Nothing processed may wait in the buffer while read(2) blocks.
    QUIPU_RETURN_IF_ERROR(progress->Flush());
    if (!*more) return Status::OK();
  }
}

struct IngestFlags {
  std::string dir;
  std::string durability;
  uint64_t segment_size = LogOptions().segment_size;
  SigningFlags signing;
};

// The log's options, once every flag that can be checked without touching
// the disk has been: a bad flag must fail before DIR is created.
Result<LogOptions> ValidateIngestFlags(const IngestFlags& flags) {
  Result<DurabilityPolicy> policy = DurabilityPolicy::Parse(flags.durability);
  if (!policy.ok()) return policy.status();
  LogOptions options;
  options.durability = *policy;
  options.segment_size = flags.segment_size;
  // Small segments (for tests) take proportionally small records, so that any
  // --segment-size works without a second flag.
  options.max_record_size =
      static_cast<uint32_t>(std::min<uint64_t>(options.max_record_size, flags.segment_size / 2));
  options.tree = SigningTreeOptions(flags.signing, "ingest");
  // Log::Open validates these again and loads the key before it creates
  // anything; checked here too so a bad flag fails before stdin is read.
  QUIPU_RETURN_IF_ERROR(options.Validate());
  return options;
}

Status Ingest(const IngestFlags& flags) {
  Result<LogOptions> options = ValidateIngestFlags(flags);
  if (!options.ok()) return options.status();
  const DurabilityPolicy& policy = options->durability;
  Result<std::unique_ptr<Log>> opened = Log::Open(flags.dir, *options);
  if (!opened.ok()) return opened.status();
  Log* log = opened->get();

  bool group = policy.kind() == DurabilityPolicy::Kind::kGroupCommit;
  Progress progress(log->LastLsn(), log->DurableLsn());
  Status s;
  {
    DurableWatcher watcher(log, [&progress](Lsn lsn) { return progress.DurableAt(lsn); });
    std::unique_ptr<GroupSyncer> syncer;
    if (group) syncer = std::make_unique<GroupSyncer>(log, policy.interval());
    s = AppendLines(log, options->max_record_size,
                    group ? Durability::kBuffered : Durability::kPolicy, &progress, syncer.get());
    if (syncer) s = FirstError(s, syncer->Stop());
    s = FirstError(s, watcher.Stop());
  }
  // Also after a bad line: the records before it were acked as appended and
  // are made durable (and reported) before the error is.
  s = FirstError(s, log->Sync());
  s = FirstError(s, progress.DurableAt(log->DurableLsn()));
  s = FirstError(s, progress.Flush());
  SignFinalCheckpoint(log, flags.signing, "ingest");
  return FirstError(s, log->Close());
}

}  // namespace

void RegisterIngest(CLI::App& app) {
  auto flags = std::make_shared<IngestFlags>();
  CLI::App* verb = app.add_subcommand(
      "ingest",
      "Append each line of stdin (without its newline, LF or CRLF) as one record. Prints "
      "'appended <lsn>' per record and 'durable <lsn>' whenever every record up to <lsn> is "
      "durable.");
  verb->add_option("dir", flags->dir, "log directory (created if missing)")->required();
  AddDurabilityFlag(verb, &flags->durability);
  verb->add_option("--segment-size", flags->segment_size,
                   "bytes per segment file before a new one starts (for testing and tuning); "
                   "records may use up to half of it, at most 1 MiB")
      ->check(Unsigned())
      ->capture_default_str();
  AddSigningFlags(verb, &flags->signing);
  SetAction(verb,
            [flags] { return RunRemovingNewStore(flags->dir, [&] { return Ingest(*flags); }); });
}

}  // namespace quipu::cli
