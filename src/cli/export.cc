// quipu export DIR [filters] [--with-proofs] [--size N]: the store's records
// as NDJSON on stdout, in log order, in constant memory (docs/audit.md,
// "Export and import").
//
// The first line states what the export is of: the store's tree of N
// records and its root. The store's state and the tree are read once, so the
// export is of exactly the records 1..N, whatever a writer does meanwhile.
// Then, in LSN order, one line per record: every type and column record
// (an import needs them, and a verifier needs them to read events), and
// each event the filters match, as `query --json` prints a hit.
//
// --with-proofs adds to each record line its bytes ("record", hex: the leaf
// data) and its inclusion proof in the tree of size N, so that
// `quipu verify-proof --export FILE` can check the whole file against a
// root the reader trusts, without the store.
#include <unistd.h>

#include <memory>
#include <optional>
#include <string>

#include "access/access_log.h"
#include "cli/access.h"
#include "cli/audit_json.h"
#include "cli/common.h"
#include "cli/query_flags.h"
#include "cli/verbs.h"
#include "json/tree.h"
#include "quipu/tree_view.h"

namespace quipu::cli {

namespace {

struct ExportFlags {
  std::string dir;
  FilterFlags filter;
  bool with_proofs = false;
  uint64_t size = 0;
  CLI::Option* size_flag = nullptr;
  bool access = false;  // export the access log instead
};

bool HasFilter(const FilterFlags& f) {
  for (const EntityFlags* e : {&f.target, &f.actor}) {
    if (!e->exact.empty() || !e->contains.empty() || !e->prefix.empty() || !e->ci.empty()) {
      return true;
    }
  }
  return !f.method.empty() || !f.since.empty() || !f.until.empty() || !f.columns.empty();
}

// The tree size the export is of: what both the store's state and the tree
// hold, or --size when that is no more.
Result<uint64_t> ExportSize(const ExportFlags& flags, const AuditStore& store,
                            const TreeView& tree) {
  Result<Lsn> applied = store.AppliedLsn();
  if (!applied.ok()) return applied.status();
  const uint64_t available = std::min<uint64_t>(*applied, tree.Size());
  if (flags.size_flag->count() == 0) return available;
  if (flags.size > available) {
    return Status::InvalidArgument("--size " + std::to_string(flags.size) +
                                   " is beyond the store's " + std::to_string(available) +
                                   " records");
  }
  return flags.size;
}

OrderedJson RecordLine(const ExportedRecord& rec) {
  switch (rec.kind) {
    case ExportedRecord::Kind::kType:
      return OrderedJson{{"lsn", rec.lsn}, {"type", SchemaToJson(rec.type)}};
    case ExportedRecord::Kind::kColumn:
      return OrderedJson{{"lsn", rec.lsn}, {"column", ColumnToJson(rec.column)}};
    case ExportedRecord::Kind::kPurge:
      return OrderedJson{{"lsn", rec.lsn}, {"purge", json::PurgeToJson(rec.purge)}};
    case ExportedRecord::Kind::kCarry:
      return OrderedJson{{"lsn", rec.lsn}, {"carry", json::CarryToJson(rec.carry)}};
    case ExportedRecord::Kind::kForget:
      return OrderedJson{{"lsn", rec.lsn}, {"forget", json::ForgetToJson(rec.forget)}};
    case ExportedRecord::Kind::kEvent:
      break;
  }
  return HitToJson(rec.event);
}

Status WriteExport(const ExportFlags& flags, const AuditStore& store, const TreeView& tree) {
  Result<Query> filter = BuildFilter(flags.filter, store);
  if (!filter.ok()) return filter.status();
  Result<uint64_t> size = ExportSize(flags, store, tree);
  if (!size.ok()) return size.status();
  Result<merkle::Hash> root = tree.Root(*size);
  if (!root.ok()) return root.status();
  // Recorded before the first line, so the count of rows is not known.
  if (!flags.access) {
    json::OrderedJson shape = access::QueryShape(*filter);
    shape["with_proofs"] = flags.with_proofs;
    QUIPU_RETURN_IF_ERROR(RecordRead(flags.dir, "export", shape, std::nullopt));
  }
  OrderedJson header;
  header["quipu_export"] = 1;
  header["tree_size"] = *size;
  header["root"] = root->ToHex();
  header["complete"] = !HasFilter(flags.filter);
  // After a retention purge the log starts later; records before this are
  // gone, but for the type and column records, still exported.
  header["first_lsn"] = store.FirstLsn();
  header["with_proofs"] = flags.with_proofs;
  FdWriter out(STDOUT_FILENO);
  QUIPU_RETURN_IF_ERROR(out.Write(JsonLine(OrderedJson{{"export", std::move(header)}})));
  if (*size == 0) return out.Flush();  // (Export reads 0 as "every record")
  Status s = store.Export(*filter, *size, [&](const ExportedRecord& rec) -> Status {
    OrderedJson line = RecordLine(rec);
    if (flags.with_proofs) {
      Result<InclusionProof> proof = tree.ProveInclusion(rec.lsn, *size);
      if (!proof.ok()) return proof.status();
      line["record"] = HexEncode(rec.record);
      line["proof"] = json::InclusionProofToJson(*proof);
    }
    return out.Write(JsonLine(line));
  });
  return FirstError(s, out.Flush());
}

Status RunExport(const ExportFlags& flags) {
  // The store first: the tree, opened after it, holds at least every record
  // the store's state includes.
  const std::string dir = flags.access ? AccessStoreDir(flags.dir) : flags.dir;
  Result<std::unique_ptr<AuditStore>> store = OpenStoreToRead(dir);
  if (!store.ok()) return store.status();
  Result<std::unique_ptr<TreeView>> tree = TreeView::Open(dir);
  Status s = tree.ok() ? WriteExport(flags, **store, **tree) : tree.status();
  return FirstError(s, (*store)->Close());
}

}  // namespace

void RegisterExport(CLI::App& app) {
  auto flags = std::make_shared<ExportFlags>();
  CLI::App* verb = app.add_subcommand(
      "export",
      "Write the store's records as NDJSON, in log order: a header with the tree size and root, "
      "every type and column record, and the events the filters match. `import` reads it back.");
  verb->add_option("dir", flags->dir, "store directory")->required();
  AddFilterFlags(verb, &flags->filter);
  verb->add_flag("--with-proofs", flags->with_proofs,
                 "add each record's bytes and inclusion proof (check with verify-proof --export)");
  flags->size_flag =
      verb->add_option("--size", flags->size, "export the store as of its first N records")
          ->check(Unsigned());
  verb->add_flag("--access", flags->access,
                 "export the store's access log (its reads) instead of the store");
  SetAction(verb, [flags] { return RunExport(*flags); });
}

}  // namespace quipu::cli
