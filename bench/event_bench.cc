// Audit event writes and queries, next to SQLite storing the same event, in
// the same run on the same filesystem.
//
//   BM_QuipuEmit/policy:0  AuditStore::Emit under GroupCommit: every event is
//                          durable when Emit returns (concurrent emitters
//                          share fdatasyncs).
//   BM_QuipuEmit/policy:1  the same under OsManaged (no fdatasync).
//   BM_SqliteEmit          one transaction per event (entity upserts, log
//                          row, relation rows; bench/sqlite_baseline.h) in
//                          WAL mode with synchronous=FULL: durable on COMMIT.
//                          One connection per thread.
//   BM_QueryTarget/op:N    the first page (100 rows, newest first) of a
//                          target filter on a store of $QUIPU_BENCH_EVENTS
//                          events: 0 document.title exact, 1 document.id
//                          exact, 2 document.title prefix.
// Writers run with 1, 16 and 64 threads. After the table the program prints
// quipu (GroupCommit) / SQLite events per second at each thread count.
//
// The figures in docs/audit.md (medians of 3) come from
//   QUIPU_BENCH_EVENTS=1000000 build/bench/event_bench --benchmark_min_time=5
//   --benchmark_repetitions=3
// $QUIPU_BENCH_EVENTS defaults to 20000 so that the CTest smoke run stays
// quick. Data lives in $QUIPU_BENCH_DIR (default: the current directory),
// in a fresh directory removed afterwards.
#include <benchmark/benchmark.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "quipu/audit.h"

#ifdef QUIPU_BENCH_HAVE_SQLITE
#include "sqlite_baseline.h"
#endif

namespace {

constexpr int kDocuments = 1000;  // distinct target entities
constexpr int kFolders = 10;

std::string BenchRoot() {
  const char* env = std::getenv("QUIPU_BENCH_DIR");
  std::string templ = std::string(env != nullptr ? env : ".") + "/quipu-event-bench-XXXXXX";
  return mkdtemp(templ.data());
}

int64_t StoreEvents() {
  const char* env = std::getenv("QUIPU_BENCH_EVENTS");
  return env != nullptr ? std::max<int64_t>(1, std::atoll(env)) : 20000;
}

// The event every writer emits: a user acts on a document in a folder.
// Entity fields do not change between events, so in steady state every event
// pins existing versions on both sides (no new versions).
struct EventShape {
  std::string user, document, folder;
  std::string user_name, title, folder_name;
  std::string url, content;
};

EventShape ShapeOf(int thread, int64_t i) {
  int doc = static_cast<int>((thread * 7919 + i) % kDocuments);
  EventShape e;
  e.user = "u" + std::to_string(thread);
  e.user_name = "User " + std::to_string(thread);
  e.document = "d" + std::to_string(doc);
  e.title = "Document " + std::to_string(doc);
  e.folder = "f" + std::to_string(doc % kFolders);
  e.folder_name = "Folder " + std::to_string(doc % kFolders);
  e.url = "/api/documents/" + e.document;
  e.content = std::string(96, 'c');
  return e;
}

quipu::Event QuipuEvent(const EventShape& s) {
  using quipu::Value;
  quipu::Event e;
  e.actor = {"user", s.user, {{"name", Value::Text(s.user_name)}}};
  e.method = "document.update";
  e.url = s.url;
  e.content = Value::Text(s.content);
  e.targets.push_back({"document", s.document, {{"title", Value::Text(s.title)}}});
  e.targets.push_back({"folder", s.folder, {{"name", Value::Text(s.folder_name)}}});
  return e;
}

// --- quipu ------------------------------------------------------------------

std::unique_ptr<quipu::AuditStore> g_store;
std::string g_root;

quipu::DurabilityPolicy WritePolicy(int64_t index) {
  return index == 0 ? quipu::DurabilityPolicy::GroupCommit() : quipu::DurabilityPolicy::OsManaged();
}

std::unique_ptr<quipu::AuditStore> OpenStore(const std::string& dir,
                                             quipu::DurabilityPolicy policy) {
  quipu::AuditOptions options;
  options.log.durability = policy;
  auto store = quipu::AuditStore::Open(dir, options);
  if (!store.ok()) {
    std::fprintf(stderr, "open %s: %s\n", dir.c_str(), store.status().ToString().c_str());
    std::abort();
  }
  using quipu::FieldKind;
  for (const char* type : {"user", "document", "folder"}) {
    const char* field = std::string(type) == "document" ? "title" : "name";
    quipu::TypeSchema schema{type,
                             {{field, FieldKind::kText, /*required=*/false,
                               /*indexed=*/true}}};
    if (!(*store)->DefineType(schema).ok()) std::abort();
  }
  return std::move(*store);
}

void OpenWriteStore(const benchmark::State& state) {
  g_root = BenchRoot();
  g_store = OpenStore(g_root + "/store", WritePolicy(state.range(0)));
}

void CloseWriteStore(const benchmark::State&) {
  (void)g_store->Close();
  g_store.reset();
  std::filesystem::remove_all(g_root);
}

void BM_QuipuEmit(benchmark::State& state) {
  state.SetLabel(WritePolicy(state.range(0)).ToString());
  const uint64_t syncs_before = state.thread_index() == 0 ? g_store->log()->Stats().syncs : 0;
  int64_t i = 0;
  for (auto _ : state) {
    auto emitted = g_store->Emit(QuipuEvent(ShapeOf(state.thread_index(), i++)));
    if (!emitted.ok()) state.SkipWithError(emitted.status().ToString().c_str());
  }
  state.SetItemsProcessed(state.iterations());
  if (state.thread_index() == 0) {
    state.counters["fsyncs"] = static_cast<double>(g_store->log()->Stats().syncs - syncs_before);
  }
}
BENCHMARK(BM_QuipuEmit)
    ->Setup(OpenWriteStore)
    ->Teardown(CloseWriteStore)
    ->UseRealTime()
    ->ArgName("policy")
    ->DenseRange(0, 1)
    ->Threads(1)
    ->Threads(16)
    ->Threads(64);

// --- SQLite -----------------------------------------------------------------

#ifdef QUIPU_BENCH_HAVE_SQLITE
std::string g_sqlite_root;

std::string SqlitePath() { return g_sqlite_root + "/audit.db"; }

bench::PlainEvent PlainOf(const EventShape& s, int64_t ts) {
  bench::PlainEvent e;
  e.ts_micros = ts;
  e.actor = {"user", s.user, R"({"name":")" + s.user_name + R"("})"};
  e.targets.push_back({"document", s.document, R"({"title":")" + s.title + R"("})"});
  e.targets.push_back({"folder", s.folder, R"({"name":")" + s.folder_name + R"("})"});
  e.method = "document.update";
  e.url = s.url;
  e.content = s.content;
  return e;
}

void CreateSqlite(const benchmark::State&) {
  g_sqlite_root = BenchRoot();
  bench::SqliteWriter schema(SqlitePath(), /*create=*/true);
  if (!schema.ok()) {
    std::fprintf(stderr, "sqlite: %s\n", schema.error().c_str());
    std::abort();
  }
}

void RemoveSqlite(const benchmark::State&) { std::filesystem::remove_all(g_sqlite_root); }

void BM_SqliteEmit(benchmark::State& state) {
  bench::SqliteWriter db(SqlitePath(), /*create=*/false);
  if (!db.ok()) state.SkipWithError(db.error().c_str());
  int64_t i = 0;
  for (auto _ : state) {
    if (!db.Emit(PlainOf(ShapeOf(state.thread_index(), i), i))) {
      state.SkipWithError(db.error().c_str());
      break;
    }
    i++;
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_SqliteEmit)
    ->Setup(CreateSqlite)
    ->Teardown(RemoveSqlite)
    ->UseRealTime()
    ->Threads(1)
    ->Threads(16)
    ->Threads(64);
#endif  // QUIPU_BENCH_HAVE_SQLITE

// --- queries ----------------------------------------------------------------

// Built once, on first use, shared by every query benchmark; main() removes it.
std::unique_ptr<quipu::AuditStore> g_query_store;
std::string g_query_root;

quipu::AuditStore* QueryStore() {
  if (g_query_store) return g_query_store.get();
  g_query_root = BenchRoot();
  g_query_store = OpenStore(g_query_root + "/store", quipu::DurabilityPolicy::OsManaged());
  const int64_t n = StoreEvents();
  for (int64_t i = 0; i < n; i++) {
    // 64 users, as with the writers above.
    auto emitted = g_query_store->Emit(QuipuEvent(ShapeOf(static_cast<int>(i % 64), i / 64)),
                                       quipu::Durability::kBuffered);
    if (!emitted.ok()) std::abort();
  }
  return g_query_store.get();
}

void RemoveQueryStore() {
  if (!g_query_store) return;
  (void)g_query_store->Close();
  g_query_store.reset();
  std::filesystem::remove_all(g_query_root);
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

// --- summary ----------------------------------------------------------------

// The console output, plus events/s by writer and thread count for the
// ratio summary printed at the end.
class SummaryReporter : public benchmark::ConsoleReporter {
 public:
  // Colors only on a terminal, so redirected output stays plain text.
  SummaryReporter() : ConsoleReporter(isatty(STDOUT_FILENO) ? OO_ColorTabular : OO_Tabular) {}

  void ReportRuns(const std::vector<Run>& runs) override {
    ConsoleReporter::ReportRuns(runs);
    for (const Run& run : runs) {
      auto rate = run.counters.find("items_per_second");
      // With --benchmark_repetitions the median (reported after the
      // repetitions) replaces them.
      bool usable = run.run_type == Run::RT_Iteration ||
                    (run.run_type == Run::RT_Aggregate && run.aggregate_name == "median");
      if (run.error_occurred || !usable || rate == run.counters.end()) continue;
      std::string key = run.run_name.function_name + "/" + run.run_name.args;
      rates_[key][run.threads] = rate->second.value;
    }
  }

  void PrintRatios() const {
    auto quipu = rates_.find("BM_QuipuEmit/policy:0");
    auto sqlite = rates_.find("BM_SqliteEmit/");
    if (quipu == rates_.end() || sqlite == rates_.end()) return;
    std::printf("\ndurable events/s, quipu GroupCommit vs SQLite WAL synchronous=FULL:\n");
    std::printf("%8s %14s %14s %8s\n", "threads", "quipu", "sqlite", "ratio");
    for (const auto& [threads, q] : quipu->second) {
      auto s = sqlite->second.find(threads);
      if (s == sqlite->second.end() || s->second <= 0) continue;
      std::printf("%8d %14.0f %14.0f %7.1fx\n", threads, q, s->second, q / s->second);
    }
  }

 private:
  std::map<std::string, std::map<int, double>> rates_;
};

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  SummaryReporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  reporter.PrintRatios();
  RemoveQueryStore();
  benchmark::Shutdown();
  return 0;
}
