// cli/verbs.h — the verbs of the `quipu` command.
//
// Each Register* adds one subcommand, with its flags and --help, to `app`.
// When that subcommand is chosen its action runs after parsing and records
// its Status in LastOutcome() (cli/common.h); main() turns that into the exit
// code. Verbs print their results on stdout and never exit the process.
#ifndef QUIPU_CLI_VERBS_H_
#define QUIPU_CLI_VERBS_H_

#include <CLI/CLI.hpp>

namespace quipu::cli {

// ingest DIR: appends stdin's lines as records, reporting LSNs as they become durable.
void RegisterIngest(CLI::App& app);
// dump DIR: prints records (payloads, or JSON lines) in LSN order.
void RegisterDump(CLI::App& app);
// stat DIR: segments, record counts and recovery history.
void RegisterStat(CLI::App& app);
// check DIR: verifies every record; exit 1 names the first damage.
void RegisterCheck(CLI::App& app);
// demo: runs the same workload under each durability policy and compares them.
void RegisterDemo(CLI::App& app);
// drill: crashes logs under each policy, checks recovery, prints the measured losses.
void RegisterDrill(CLI::App& app);
// bench: append throughput, fsyncs and latency per policy, with raw-syscall baselines.
void RegisterBench(CLI::App& app);

// root, prove, consistency, checkpoint DIR: the Merkle tree, its proofs, signed checkpoints.
void RegisterTreeVerbs(CLI::App& app);
// keygen --out PATH: an Ed25519 key pair for checkpoints.
void RegisterKeygen(CLI::App& app);
// token create|list|revoke --config FILE: the bearer tokens of `quipu serve`.
void RegisterToken(CLI::App& app);
// verify DIR: every record against the tree, every checkpoint; exit 1 names the first break.
void RegisterVerify(CLI::App& app);
// verify-proof: checks a proof file against a trusted root, without a store.
void RegisterVerifyProof(CLI::App& app);
// The audit store (docs/audit.md):
// emit DIR: records events given as JSON (--json, or NDJSON on --stdin), acking like ingest.
void RegisterEmit(CLI::App& app);
// define-type DIR --json SCHEMA: defines or evolves an entity type.
void RegisterDefineType(CLI::App& app);
// define-column DIR NAME KIND: registers a custom log-row column.
void RegisterDefineColumn(CLI::App& app);
// types DIR: lists entity types and columns.
void RegisterTypes(CLI::App& app);
// query DIR: log rows by target, actor, method, time and columns, paged by cursor.
void RegisterQuery(CLI::App& app);
// history DIR TYPE ID: every version of one entity.
void RegisterHistory(CLI::App& app);
// entities DIR TYPE: the latest version of each entity of a type.
void RegisterEntities(CLI::App& app);
// export DIR: the store's records as NDJSON in log order, optionally with proofs.
void RegisterExport(CLI::App& app);
// import DIR: records an export into an empty store.
void RegisterImport(CLI::App& app);
// access-log enable DIR: records every read of the store in DIR/access.
void RegisterAccessLog(CLI::App& app);
// reindex DIR: rebuilds the derived index from the log.
void RegisterReindex(CLI::App& app);
// retain DIR: drops expired log segments, keeping every proof.
void RegisterRetain(CLI::App& app);
// serve DIR: the audit store over HTTP/JSON (docs/server.md).
void RegisterServe(CLI::App& app);
// keys new|status|rotate|rewrap|retire, and forget (cli/keys.cc).
void RegisterKeys(CLI::App& app);
void RegisterForget(CLI::App& app);

}  // namespace quipu::cli

#endif  // QUIPU_CLI_VERBS_H_
