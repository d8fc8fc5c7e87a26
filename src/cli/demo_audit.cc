// The audit part of `quipu demo`: who did what to which document, written by
// concurrent emitters sharing fdatasyncs, then read back the ways an auditor
// would — by a document's old name, and with a proof that a row is in the
// signed-able Merkle tree.
#include <atomic>
#include <chrono>
#include <cstdio>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "cli/demo.h"
#include "quipu/audit.h"
#include "quipu/merkle.h"
#include "quipu/tree.h"

namespace quipu::cli {

namespace {

constexpr int kDocuments = 50;
// The document whose renaming the demo shows: rows before the rename still
// pin the old name, and a query by that name finds them.
constexpr const char* kRenamedId = "doc-7";

// Event `i` of the run, by `writer`. Documents are visited round robin; the
// renamed one takes its new name in the second half of the run (once it has
// been seen under its old name).
Event DemoEvent(int writer, uint64_t i, uint64_t events) {
  Event event;
  std::string user = "user-" + std::to_string(writer);
  event.actor = {"default_actor", user, {{"name", Value::Text("User " + std::to_string(writer))}}};
  uint64_t doc = i % kDocuments;
  std::string id = "doc-" + std::to_string(doc);
  std::string name = "Document " + std::to_string(doc);
  bool renamed = i >= events / 2 && i >= kDocuments;
  if (renamed && id == kRenamedId) name = "Quarterly plan (final)";
  event.method = i % 4 == 0 ? "document.update" : "document.read";
  event.url = "/documents/" + std::to_string(doc);
  event.targets.push_back({"default_target", id, {{"name", Value::Text(name)}}});
  return event;
}

// The writers take event numbers from one counter, so the run is the same
// sequence of documents whatever the thread interleaving.
Status EmitConcurrently(AuditStore* store, int writers, uint64_t events) {
  std::atomic<uint64_t> next{0};
  std::vector<Status> errors(writers);
  {
    std::vector<std::jthread> threads;
    for (int w = 0; w < writers; w++) {
      threads.emplace_back([=, &next, &errors] {
        for (uint64_t i = next++; i < events && errors[w].ok(); i = next++) {
          errors[w] = store->Emit(DemoEvent(w, i, events)).status();
        }
      });
    }
  }
  for (const Status& s : errors) QUIPU_RETURN_IF_ERROR(s);
  return Status::OK();
}

Status ShowQueryByOldName(AuditStore* store, FdWriter* out) {
  Query query;
  query.targets.push_back({"default_target", "name", MatchOp::kExact, "Document 7"});
  query.order = Order::kOldestFirst;
  query.limit = 1;
  Result<QueryPage> page = store->Query(query);
  if (!page.ok()) return page.status();
  if (page->hits.empty()) return out->Write("(too few events for the query part)\n");
  const Hit& hit = page->hits.front();
  Result<std::vector<EntityVersion>> history = store->EntityHistory("default_target", kRenamedId);
  if (!history.ok()) return history.status();
  const EntityVersion& target = hit.targets.front();
  return out->Write("query by the old name \"Document 7\" (" + std::string(kRenamedId) + " has " +
                    std::to_string(history->size()) +
                    (history->size() == 1 ? " version" : " versions") + " now): first row log_id " +
                    std::to_string(hit.log_id) + " at " + FormatRfc3339Utc(hit.timestamp_micros) +
                    ", " + hit.actor.id + " " + hit.method + " " + target.id + "@v" +
                    std::to_string(target.version) + "\n");
}

// The root of every record, and log row 1's inclusion proof checked the way
// a third party would: recompute the root from the leaf and the path.
Status ShowProof(AuditStore* store, FdWriter* out) {
  LogTree* tree = store->log()->tree();
  Result<Lsn> lsn = store->LsnOfLogId(1);
  Result<InclusionProof> proof =
      lsn.ok() ? tree->ProveInclusion(*lsn) : Result<InclusionProof>(lsn.status());
  Status s = proof.status();
  if (s.ok()) {
    s = merkle::VerifyInclusion(proof->leaf_hash, proof->leaf_index, proof->tree_size, proof->path,
                                proof->root);
  }
  if (s.ok()) {
    s = out->Write("merkle tree: " + std::to_string(proof->tree_size) + " records, root " +
                   proof->root.ToHex() + "\ninclusion proof of log row 1 (LSN " +
                   std::to_string(*lsn) + ", " + std::to_string(proof->path.size()) +
                   " hashes): verified\n");
  }
  return s;
}

}  // namespace

Status RunAuditDemo(const std::string& dir, int writers, uint64_t events, FdWriter* out) {
  AuditOptions options;
  options.log.durability = DurabilityPolicy::GroupCommit();
  Result<std::unique_ptr<AuditStore>> opened = AuditStore::Open(dir, options);
  if (!opened.ok()) return opened.status();
  AuditStore* store = opened->get();

  auto start = std::chrono::steady_clock::now();
  Status s = EmitConcurrently(store, writers, events);
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (s.ok()) {
    char line[256];
    std::snprintf(line, sizeof(line),
                  "audit store: %llu events from %d writers under group commit in %.3f s "
                  "(%.0f durable events/s, %llu fdatasyncs)\n",
                  static_cast<unsigned long long>(events), writers, seconds,
                  seconds > 0 ? events / seconds : 0.0,
                  static_cast<unsigned long long>(store->log()->Stats().syncs));
    s = out->Write(line);
  }
  if (s.ok()) s = ShowQueryByOldName(store, out);
  if (s.ok()) s = ShowProof(store, out);
  Status closed = store->Close();
  return s.ok() ? closed : s;
}

}  // namespace quipu::cli
