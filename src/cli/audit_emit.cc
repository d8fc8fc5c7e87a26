// quipu emit DIR (--json EVENT | --stdin): records audit events.
//
// Acks follow `quipu ingest`, in log_ids instead of LSNs: "appended <log_id>"
// after each event and "durable <log_id>" whenever every event up to that
// log_id is on stable storage. The threads are ingest's too (cli/acks.h):
// the main thread emits, a watcher prints durable acks and, under
// --durability group[:MS], a syncer pipelines group commits.
//
// --stdin reads NDJSON, one event per line (blank lines skipped). The first
// line that fails (bad JSON, unknown type, missing required field, wrong
// kind, longer than a record may be) stops the run with "line N: ..." and
// exit 1; that line writes nothing, and the events before it stay: they are
// synced and acked durable before the error is reported, under every
// --durability.
//
// The store's Merkle tree follows every event; --signing-key and
// --anchor-cmd sign checkpoints of it as `ingest` does (cli/anchor.h): at
// each sealed segment and at the end.
#include <unistd.h>

#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <utility>

#include "cli/acks.h"
#include "cli/anchor.h"
#include "cli/audit_json.h"
#include "cli/common.h"
#include "cli/line_reader.h"
#include "cli/new_store.h"
#include "cli/verbs.h"

namespace quipu::cli {

namespace {

// Prints the ack lines. Thread safe. As in ingest, "durable N" is printed
// only after "appended N", and never moves back.
class EventAcks {
 public:
  explicit EventAcks(Lsn durable) : out_(STDOUT_FILENO), watermark_(durable) {}

  Status Appended(const EmitResult& emitted) {
    std::lock_guard<std::mutex> lock(mu_);
    unacked_.push_back({emitted.lsn, emitted.log_id});
    Status s = out_.WriteNumberLine("appended", emitted.log_id);
    // Under `always` the watermark has usually passed it already.
    return s.ok() ? PrintDurable() : s;
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
  // Requires mu_. log_ids and LSNs rise together within one run (one record
  // per event, and the store's lock makes this process the only writer), so
  // the durable events are a prefix of unacked_.
  Status PrintDurable() {
    uint64_t last = 0;
    while (!unacked_.empty() && unacked_.front().lsn <= watermark_) {
      last = unacked_.front().log_id;
      unacked_.pop_front();
    }
    if (last == 0) return Status::OK();
    Status s = out_.WriteNumberLine("durable", last);
    return FirstError(s, out_.Flush());
  }

  struct Unacked {
    Lsn lsn;
    uint64_t log_id;
  };

  std::mutex mu_;
  FdWriter out_;                 // guarded by mu_
  Lsn watermark_;                // guarded by mu_
  std::deque<Unacked> unacked_;  // guarded by mu_: appended, not yet called durable
};

struct EmitFlags {
  std::string dir;
  std::string json;
  bool stdin_lines = false;
  std::string durability;
  SigningFlags signing;
};

bool IsBlank(std::string_view line) {
  return line.find_first_not_of(" \t\r") == std::string_view::npos;
}

// Validates and emits one event. Nothing is written when it fails.
Status EmitOne(AuditStore* store, std::string_view text, Durability durability, EventAcks* acks) {
  Result<Json> json = ParseJson(text, "event");
  if (!json.ok()) return json.status();
  Result<Event> event = EventFromJson(*json, *store);
  if (!event.ok()) return event.status();
  Result<EmitResult> emitted = store->Emit(*event, durability);
  if (!emitted.ok()) return emitted.status();
  return acks->Appended(*emitted);
}

Status EmitLines(AuditStore* store, Durability durability, EventAcks* acks, GroupSyncer* syncer) {
  // An event's line is refused once it is longer than the largest record.
  LineReader input(STDIN_FILENO, AuditOptions().log.max_record_size);
  auto emit = [&](std::string_view line) -> Status {
    if (IsBlank(line)) return Status::OK();
    Status s = EmitOne(store, line, durability, acks);
    return s.ok() ? s : s.WithContext("line " + std::to_string(input.line_number()));
  };
  for (;;) {
    Result<bool> more = input.Fill();
    if (!more.ok()) return more.status();
    QUIPU_RETURN_IF_ERROR(input.ForEachLine(emit));
    if (syncer != nullptr) {
      syncer->Poke();
      if (syncer->failed()) return Status::OK();  // Stop() reports the error
    }
    // Nothing processed may wait in the buffer while read(2) blocks.
    QUIPU_RETURN_IF_ERROR(acks->Flush());
    if (!*more) return Status::OK();
  }
}

// Checks the --json event's syntax before the store is opened, so that a
// typo never creates DIR (Log::Open loads the signing key before it creates
// anything, so a bad key cannot either).
Status ValidateEmitFlags(const EmitFlags& flags) {
  if (flags.stdin_lines) return Status::OK();
  return ParseJson(flags.json, "event").status();
}

Status Emit(const EmitFlags& flags) {
  QUIPU_RETURN_IF_ERROR(ValidateEmitFlags(flags));
  Result<DurabilityPolicy> policy = DurabilityPolicy::Parse(flags.durability);
  if (!policy.ok()) return policy.status();
  Result<std::unique_ptr<AuditStore>> opened =
      OpenStore(flags.dir, /*create=*/true, *policy, SigningTreeOptions(flags.signing, "emit"));
  if (!opened.ok()) return opened.status();
  AuditStore* store = opened->get();
  Log* log = store->log();

  bool group = policy->kind() == DurabilityPolicy::Kind::kGroupCommit;
  Durability durability = group ? Durability::kBuffered : Durability::kPolicy;
  EventAcks acks(log->DurableLsn());
  Status s;
  {
    DurableWatcher watcher(log, [&acks](Lsn lsn) { return acks.DurableAt(lsn); });
    std::unique_ptr<GroupSyncer> syncer;
    if (group) syncer = std::make_unique<GroupSyncer>(log, policy->interval());
    s = flags.stdin_lines ? EmitLines(store, durability, &acks, syncer.get())
                          : EmitOne(store, flags.json, durability, &acks);
    if (syncer) s = FirstError(s, syncer->Stop());
    s = FirstError(s, watcher.Stop());
  }
  // Also after a bad line: the events before it were acked as appended and
  // are made durable (and reported) before the error is.
  s = FirstError(s, log->Sync());
  s = FirstError(s, acks.DurableAt(log->DurableLsn()));
  s = FirstError(s, acks.Flush());
  SignFinalCheckpoint(log, flags.signing, "emit");
  return FirstError(s, store->Close());
}

}  // namespace

void RegisterEmit(CLI::App& app) {
  auto flags = std::make_shared<EmitFlags>();
  CLI::App* verb = app.add_subcommand(
      "emit",
      "Record audit events: one from --json, or one per line of stdin with --stdin. Prints "
      "'appended <log_id>' per event and 'durable <log_id>' whenever every event up to <log_id> "
      "is durable.");
  verb->add_option("dir", flags->dir, "store directory (created if missing)")->required();
  CLI::Option_group* input = verb->add_option_group("input", "where the events come from");
  input->add_option("--json", flags->json,
                    "one EVENT: {\"actor\":{\"type\",\"id\",\"fields\"},\"method\",\"url\","
                    "\"content\",\"targets\":[...],\"columns\":{...},\"occurred_at\"}");
  input->add_flag("--stdin", flags->stdin_lines, "read NDJSON events from stdin, one per line");
  input->require_option(1);
  AddDurabilityFlag(verb, &flags->durability);
  AddSigningFlags(verb, &flags->signing);
  SetAction(verb,
            [flags] { return RunRemovingNewStore(flags->dir, [&] { return Emit(*flags); }); });
}

}  // namespace quipu::cli
