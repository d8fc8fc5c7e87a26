// quipu root | prove | consistency | checkpoint DIR: the Merkle tree of a
// store, its proofs, and signed checkpoints, through LogTree (quipu/tree.h).
//
// root, prove and consistency read a TreeView (quipu/tree_view.h): no lock
// and no file changed, so they run beside a process that writes the store,
// and answer for the records readable at that moment. checkpoint writes, so
// it opens the log with its tree (taking the writer lock), signs, and closes
// it. JSON output is one object per line with hashes as lowercase hex; the
// shapes are what `verify-proof` reads back.
#include <unistd.h>

#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "cli/access.h"
#include "cli/anchor.h"
#include "cli/audit_json.h"
#include "cli/common.h"
#include "cli/verbs.h"
#include "json/tree.h"
#include "quipu/audit.h"
#include "quipu/checkpoint.h"
#include "quipu/inspect.h"
#include "quipu/log.h"
#include "quipu/tree.h"
#include "quipu/tree_view.h"

namespace quipu::cli {

namespace {

using nlohmann::ordered_json;

// Runs `body` on the tree of the log in `dir`, opened for writing (with the
// writer lock) as whatever kind of log it is, and closes it.
template <typename Body>
Status WithWritableTree(const std::string& dir, const TreeOptions& options, Body body) {
  Result<std::optional<LogKind>> kind = ReadLogKind(dir);
  if (!kind.ok()) return kind.status();
  LogOptions log_options;
  log_options.kind = kind->value_or(LogKind::kPlain);
  // A typo in DIR must not create an empty store that then "verifies".
  log_options.create_if_missing = false;
  log_options.tree = options;
  Result<std::unique_ptr<Log>> log = Log::Open(dir, log_options);
  if (!log.ok()) return log.status();
  Status s = body((*log)->tree());
  return FirstError(s, (*log)->Close());
}

// Runs `body` on a read-only view of the tree of the log in `dir`.
template <typename Body>
Status WithView(const std::string& dir, Body body) {
  Result<std::unique_ptr<TreeView>> view = TreeView::Open(dir);
  if (!view.ok()) return view.status();
  return body(view->get());
}

Status Print(const std::string& text) {
  FdWriter out(STDOUT_FILENO);
  QUIPU_RETURN_IF_ERROR(out.Write(text));
  return out.Flush();
}

std::string IndentedHexLines(const std::vector<merkle::Hash>& hashes) {
  if (hashes.empty()) return "  (empty)\n";
  std::string text;
  for (const merkle::Hash& h : hashes) text += "  " + h.ToHex() + "\n";
  return text;
}

std::optional<uint64_t> OptionalSize(const CLI::Option* flag, uint64_t value) {
  if (flag->count() == 0) return std::nullopt;
  return value;
}

// --- root -------------------------------------------------------------------

struct RootFlags {
  std::string dir;
  uint64_t size = 0;
  CLI::Option* size_flag = nullptr;
  bool json = false;
};

Status Root(const RootFlags& flags) {
  return WithView(flags.dir, [&](const TreeView* tree) -> Status {
    std::optional<uint64_t> size = OptionalSize(flags.size_flag, flags.size);
    Result<merkle::Hash> root = tree->Root(size);
    if (!root.ok()) return root.status();
    uint64_t n = size ? *size : tree->Size();
    // Recorded before it is shown (cli/access.h).
    QUIPU_RETURN_IF_ERROR(RecordRead(flags.dir, "root", json::OrderedJson::object(), 1));
    if (flags.json) {
      ordered_json out;
      out["tree_size"] = n;
      out["root"] = root->ToHex();
      return Print(out.dump() + "\n");
    }
    return Print(FormatTable({{"tree size", std::to_string(n)}, {"root", root->ToHex()}},
                             /*text_last=*/true));
  });
}

// --- prove ------------------------------------------------------------------

struct ProveFlags {
  std::string dir;
  Lsn lsn = 0;
  uint64_t log_id = 0;
  CLI::Option* lsn_arg = nullptr;
  CLI::Option* log_id_flag = nullptr;
  uint64_t size = 0;
  CLI::Option* size_flag = nullptr;
  bool json = false;
};

std::string InclusionText(const InclusionProof& p) {
  std::string text = FormatTable({{"leaf index", std::to_string(p.leaf_index) + " (LSN " +
                                                     std::to_string(p.leaf_index + 1) + ")"},
                                  {"tree size", std::to_string(p.tree_size)},
                                  {"leaf hash", p.leaf_hash.ToHex()},
                                  {"root", p.root.ToHex()}},
                                 /*text_last=*/true);
  return text + "path (leaf to root):\n" + IndentedHexLines(p.path);
}

// The LSN of an audit store's log row: its event record is the leaf to prove.
Result<Lsn> LsnOfLogRow(const std::string& dir, uint64_t log_id) {
  Result<std::unique_ptr<AuditStore>> store = OpenStoreToRead(dir);
  if (!store.ok()) return store.status();
  Result<Lsn> lsn = (*store)->LsnOfLogId(log_id);
  Status closed = (*store)->Close();
  if (lsn.ok() && !closed.ok()) return closed;
  return lsn;
}

Status Prove(const ProveFlags& flags) {
  bool by_log_id = flags.log_id_flag->count() > 0;
  if ((flags.lsn_arg->count() > 0) == by_log_id) {
    return Status::InvalidArgument("give either LSN or --log-id, not both or neither");
  }
  Lsn lsn = flags.lsn;
  if (by_log_id) {
    Result<Lsn> mapped = LsnOfLogRow(flags.dir, flags.log_id);
    if (!mapped.ok()) return mapped.status();
    lsn = *mapped;
  }
  return WithView(flags.dir, [&](const TreeView* tree) -> Status {
    Result<InclusionProof> proof =
        tree->ProveInclusion(lsn, OptionalSize(flags.size_flag, flags.size));
    if (!proof.ok()) return proof.status();
    QUIPU_RETURN_IF_ERROR(
        RecordRead(flags.dir, "prove", json::OrderedJson{{"by", by_log_id ? "log_id" : "lsn"}}, 1));
    if (!flags.json) {
      std::string mapping;
      if (by_log_id) {
        mapping =
            "log row " + std::to_string(flags.log_id) + " is LSN " + std::to_string(lsn) + "\n";
      }
      return Print(mapping + InclusionText(*proof));
    }
    ordered_json out;
    if (by_log_id) {
      out["log_id"] = flags.log_id;
      out["lsn"] = lsn;
    }
    out.update(json::InclusionProofToJson(*proof));
    return Print(out.dump() + "\n");
  });
}

// --- consistency ------------------------------------------------------------

struct ConsistencyFlags {
  std::string dir;
  uint64_t old_size = 0;
  uint64_t new_size = 0;
  CLI::Option* new_flag = nullptr;
  bool json = false;
};

Status Consistency(const ConsistencyFlags& flags) {
  return WithView(flags.dir, [&](const TreeView* tree) -> Status {
    Result<ConsistencyProof> proof =
        tree->ProveConsistency(flags.old_size, OptionalSize(flags.new_flag, flags.new_size));
    if (!proof.ok()) return proof.status();
    QUIPU_RETURN_IF_ERROR(RecordRead(flags.dir, "consistency", json::OrderedJson::object(), 1));
    if (flags.json) {
      return Print(json::ConsistencyProofToJson(*proof).dump() + "\n");
    }
    std::string text = FormatTable({{"old size", std::to_string(proof->old_size)},
                                    {"new size", std::to_string(proof->new_size)},
                                    {"old root", proof->old_root.ToHex()},
                                    {"new root", proof->new_root.ToHex()}},
                                   /*text_last=*/true);
    return Print(text + "proof:\n" + IndentedHexLines(proof->proof));
  });
}

// --- checkpoint -------------------------------------------------------------

struct CheckpointFlags {
  std::string dir;
  std::string key;
  std::string anchor_cmd;
  bool json = false;
};

Status WriteOneCheckpoint(const CheckpointFlags& flags) {
  TreeOptions options;
  options.signing_key_path = flags.key;
  options.checkpoint_on_seal = false;  // this verb writes exactly one
  if (!flags.anchor_cmd.empty()) {
    options.anchor = [cmd = flags.anchor_cmd](const Checkpoint&, const std::string& json) {
      return RunAnchorCommand(cmd, json);
    };
  }
  return WithWritableTree(flags.dir, options, [&](LogTree* tree) -> Status {
    Result<Checkpoint> cp = tree->WriteCheckpoint();
    if (!cp.ok()) return cp.status();
    std::string text = flags.json ? CheckpointToJson(*cp) + "\n"
                                  : FormatTable({{"tree size", std::to_string(cp->tree_size)},
                                                 {"root", cp->root.ToHex()},
                                                 {"time_us", std::to_string(cp->time_us)},
                                                 {"signature", HexEncode(cp->signature)}},
                                                /*text_last=*/true);
    QUIPU_RETURN_IF_ERROR(Print(text));
    // The checkpoint is durable either way; a failed anchor still fails the
    // verb, because shipping it was what the caller asked for.
    Status anchored = tree->Stats().last_anchor_error;
    if (!anchored.ok()) return anchored.WithContext("checkpoint written, but not anchored");
    return Status::OK();
  });
}

}  // namespace

void RegisterTreeVerbs(CLI::App& app) {
  auto root = std::make_shared<RootFlags>();
  CLI::App* verb = app.add_subcommand(
      "root", "Print the Merkle tree size and root (RFC 6962) of the log's records.");
  verb->add_option("dir", root->dir, "log directory")->required();
  root->size_flag =
      verb->add_option("--size", root->size, "root of the first N records only")->check(Unsigned());
  verb->add_flag("--json", root->json, "one JSON object: {\"tree_size\",\"root\"}");
  SetAction(verb, [root] { return Root(*root); });

  auto prove = std::make_shared<ProveFlags>();
  verb = app.add_subcommand(
      "prove", "Print the inclusion proof (audit path) of record LSN; check it with verify-proof.");
  verb->add_option("dir", prove->dir, "log directory")->required();
  prove->lsn_arg = verb->add_option("lsn", prove->lsn, "the record to prove")->check(Unsigned());
  prove->log_id_flag =
      verb->add_option("--log-id", prove->log_id,
                       "audit store: prove the event record of this log row instead")
          ->check(Unsigned());
  prove->size_flag = verb->add_option("--size", prove->size, "prove against the first N records")
                         ->check(Unsigned());
  verb->add_flag("--json", prove->json,
                 "one JSON object: {\"leaf_index\",\"tree_size\",\"leaf_hash\",\"path\",\"root\"}");
  SetAction(verb, [prove] { return Prove(*prove); });

  auto cons = std::make_shared<ConsistencyFlags>();
  verb = app.add_subcommand(
      "consistency",
      "Print the proof that the tree of the first --old records is a prefix of the current tree.");
  verb->add_option("dir", cons->dir, "log directory")->required();
  verb->add_option("--old", cons->old_size, "the older tree size (> 0)")
      ->check(Unsigned())
      ->required();
  cons->new_flag =
      verb->add_option("--new", cons->new_size, "the newer size (default: all)")->check(Unsigned());
  verb->add_flag(
      "--json", cons->json,
      "one JSON object: {\"old_size\",\"new_size\",\"old_root\",\"new_root\",\"proof\"}");
  SetAction(verb, [cons] { return Consistency(*cons); });

  auto cp = std::make_shared<CheckpointFlags>();
  verb = app.add_subcommand("checkpoint",
                            "Sign (time, tree size, root) with the private key and append it to "
                            "DIR/CHECKPOINTS; --anchor-cmd also ships it elsewhere.");
  verb->add_option("dir", cp->dir, "log directory")->required();
  verb->add_option("--key", cp->key, "Ed25519 private key (PEM), from `quipu keygen`")->required();
  AddAnchorFlag(verb, &cp->anchor_cmd);
  verb->add_flag("--json", cp->json, "print the checkpoint's JSON line");
  SetAction(verb, [cp] { return WriteOneCheckpoint(*cp); });
}

}  // namespace quipu::cli
