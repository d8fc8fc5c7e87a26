// Append throughput per durability policy, next to the raw-syscall baselines
// measured in the same run on the same filesystem:
//   BM_RawWriteFdatasync  write(2) + fdatasync per record: the single-writer
//                         durable limit of the device.
//   BM_RawWrite           write(2) per record, no sync.
// Compare items_per_second of BM_Append/<policy> against them; absolute
// numbers on a shared machine mean little. Records are 128 bytes.
//
//   build/bench/append_bench [--benchmark_min_time=1]
// The log lives in $QUIPU_BENCH_DIR (default: a fresh directory under the
// current one), removed afterwards.
#include <benchmark/benchmark.h>
#include <fcntl.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>

#include "quipu/log.h"

namespace {

constexpr size_t kRecordSize = 128;

std::string BenchRoot() {
  const char* env = std::getenv("QUIPU_BENCH_DIR");
  std::string templ = std::string(env != nullptr ? env : ".") + "/quipu-bench-XXXXXX";
  return mkdtemp(templ.data());
}

const std::string& Record() {
  static const std::string record(kRecordSize, 'q');
  return record;
}

void BM_RawWriteFdatasync(benchmark::State& state) {
  const std::string root = BenchRoot();
  const int fd = open((root + "/raw").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  for (auto _ : state) {
    if (write(fd, Record().data(), kRecordSize) != ssize_t{kRecordSize})
      state.SkipWithError("write");
    if (fdatasync(fd) != 0) state.SkipWithError("fdatasync");
  }
  close(fd);
  std::filesystem::remove_all(root);
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_RawWriteFdatasync)->UseRealTime();

void BM_RawWrite(benchmark::State& state) {
  const std::string root = BenchRoot();
  const int fd = open((root + "/raw").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  for (auto _ : state) {
    if (write(fd, Record().data(), kRecordSize) != ssize_t{kRecordSize})
      state.SkipWithError("write");
  }
  close(fd);
  std::filesystem::remove_all(root);
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_RawWrite)->UseRealTime();

// One log shared by all threads of a benchmark run.
std::unique_ptr<quipu::Log> g_log;
std::string g_root;

quipu::DurabilityPolicy PolicyFor(int64_t index) {
  using std::chrono::milliseconds;
  switch (index) {
    case 0:
      return quipu::DurabilityPolicy::Always();
    case 1:
      return quipu::DurabilityPolicy::EveryN(64);
    case 2:
      return quipu::DurabilityPolicy::EveryNOrInterval(1000, milliseconds(20));
    case 3:
      return quipu::DurabilityPolicy::GroupCommit();
    default:
      return quipu::DurabilityPolicy::OsManaged();
  }
}

void OpenLog(const benchmark::State& state) {
  g_root = BenchRoot();
  quipu::LogOptions options;
  options.durability = PolicyFor(state.range(0));
  auto log = quipu::Log::Open(g_root + "/log", options);
  if (!log.ok()) std::abort();
  g_log = std::move(*log);
}

void CloseLog(const benchmark::State&) {
  (void)g_log->Close();
  g_log.reset();
  std::filesystem::remove_all(g_root);
}

void BM_Append(benchmark::State& state) {
  state.SetLabel(PolicyFor(state.range(0)).ToString());
  const uint64_t syncs_before = state.thread_index() == 0 ? g_log->Stats().syncs : 0;
  for (auto _ : state) {
    auto lsn = g_log->Append(Record());
    if (!lsn.ok()) state.SkipWithError(lsn.status().ToString().c_str());
  }
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(state.iterations() * kRecordSize);
  if (state.thread_index() == 0) {
    state.counters["fsyncs"] = static_cast<double>(g_log->Stats().syncs - syncs_before);
  }
}
BENCHMARK(BM_Append)
    ->Setup(OpenLog)
    ->Teardown(CloseLog)
    ->UseRealTime()
    ->ArgName("policy")
    ->DenseRange(0, 4)
    ->Threads(1);
BENCHMARK(BM_Append)
    ->Setup(OpenLog)
    ->Teardown(CloseLog)
    ->UseRealTime()
    ->ArgName("policy")
    ->Arg(3)  // GroupCommit
    ->Threads(4)
    ->Threads(16);

}  // namespace

BENCHMARK_MAIN();
