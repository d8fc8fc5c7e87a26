// Audit queries: the first page (100 rows, newest first) of a target filter
// on a store of $QUIPU_BENCH_EVENTS events of the event_bench shape
// (cli/bench_events.h: 64 users act on 1 000 documents in 10 folders).
//
//   BM_QueryTarget/op:0   document.title exact ("Document 42")
//   BM_QueryTarget/op:1   document.id exact ("d42")
//   BM_QueryTarget/op:2   document.title prefix ("Document 99": 11 documents)
//
// docs/audit.md's figures at 10 M events come from
//   QUIPU_BENCH_EVENTS=10000000 build/bench/query_bench --benchmark_min_time=2
//   --benchmark_repetitions=3
// (and those at 1 M events with 1000000 and --benchmark_min_time=5).
// $QUIPU_BENCH_EVENTS defaults to 20000 so that the CTest smoke run stays
// quick. The store lives in $QUIPU_BENCH_DIR (default: the current
// directory), in a fresh directory removed afterwards.
#include <benchmark/benchmark.h>
#include <stdlib.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>

#include "cli/bench_events.h"
#include "quipu/audit.h"

namespace {

constexpr int kUsers = 64;

std::string BenchRoot() {
  const char* env = std::getenv("QUIPU_BENCH_DIR");
  std::string templ = std::string(env != nullptr ? env : ".") + "/quipu-query-bench-XXXXXX";
  if (mkdtemp(templ.data()) == nullptr) {
    std::perror("query_bench: mkdtemp");
    std::abort();
  }
  return templ;
}

int64_t StoreEvents() {
  const char* env = std::getenv("QUIPU_BENCH_EVENTS");
  return env != nullptr ? std::max<int64_t>(1, std::atoll(env)) : 20000;
}

void Check(const quipu::Status& s, const char* what) {
  if (s.ok()) return;
  std::fprintf(stderr, "query_bench: %s: %s\n", what, s.ToString().c_str());
  std::abort();
}

// Built once, on first use, shared by every benchmark; main() removes it.
std::unique_ptr<quipu::AuditStore> g_store;
std::string g_root;

quipu::AuditStore* QueryStore() {
  if (g_store) return g_store.get();
  g_root = BenchRoot();
  quipu::AuditOptions options;
  options.log.durability = quipu::DurabilityPolicy::OsManaged();
  auto store = quipu::AuditStore::Open(g_root + "/store", options);
  Check(store.status(), "open");
  g_store = std::move(*store);
  Check(quipu::bench::DefineEventTypes(g_store.get()), "define types");
  const int64_t n = StoreEvents();
  for (int64_t i = 0; i < n; i++) {
    const quipu::bench::EventShape shape =
        quipu::bench::ShapeOf(static_cast<int>(i % kUsers), i / kUsers);
    auto emitted = g_store->Emit(quipu::bench::EventOf(shape), quipu::Durability::kBuffered);
    Check(emitted.status(), "emit");
  }
  return g_store.get();
}

void RemoveQueryStore() {
  if (!g_store) return;
  (void)g_store->Close();
  g_store.reset();
  std::filesystem::remove_all(g_root);
}

quipu::Query TargetQuery(int64_t op) {
  quipu::Query q;
  switch (op) {
    case 0:
      q.targets.push_back({"document", "title", quipu::MatchOp::kExact, "Document 42"});
      break;
    case 1:
      q.targets.push_back({"document", "id", quipu::MatchOp::kExact, "d42"});
      break;
    default:
      q.targets.push_back({"document", "title", quipu::MatchOp::kPrefix, "Document 99"});
      break;
  }
  q.limit = 100;
  return q;
}

void BM_QueryTarget(benchmark::State& state) {
  quipu::AuditStore* store = QueryStore();
  const quipu::Query query = TargetQuery(state.range(0));
  size_t hits = 0;
  for (auto _ : state) {
    auto page = store->Query(query);
    if (!page.ok()) {
      state.SkipWithError(page.status().ToString().c_str());
      break;
    }
    hits = page->hits.size();
    benchmark::DoNotOptimize(page->hits.data());
  }
  state.counters["hits"] = static_cast<double>(hits);
  state.counters["store_events"] = static_cast<double>(StoreEvents());
}
BENCHMARK(BM_QueryTarget)->ArgName("op")->DenseRange(0, 2)->Unit(benchmark::kMicrosecond);

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  RemoveQueryStore();
  benchmark::Shutdown();
  return 0;
}
