// RocksDB as a peer, measured in the same run and directory as quipu:
//   rocksdb sync=true   Put with WriteOptions::sync at K = 1, 4, 16, 64 threads
//                       (RocksDB's own WAL group commit);
//   rocksdb sync=false  Put at K = 1 (WAL written, not synced);
//   quipu group         GroupCommit at the same K, blocking writers;
//   quipu os            OsManaged at K = 1;
//   quipu pipeline:W    one producer, W appends in flight, counted when durable.
// 128-byte values under unique 16-byte keys (quipu: 128-byte records). Each
// quipu figure is printed with its ratio to the matching RocksDB one.
//
// Not a Google Benchmark program: it needs both systems at the same K in one
// table.
//
//   build/bench/rocksdb_peer [--seconds S] [--dir D] [--max-mb M]
#include <rocksdb/db.h>
#include <rocksdb/options.h>
#include <stdlib.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "cli/bench_workload.h"

namespace {

using Clock = std::chrono::steady_clock;
constexpr size_t kValueSize = 128;
constexpr int kThreads[] = {1, 4, 16, 64};
constexpr uint64_t kPipeline = 16384;

struct Config {
  double seconds = 2.0;
  std::string dir = ".";
  uint64_t max_mb = 64;
};

struct Figure {
  std::string system;
  int writers;
  double per_second = 0;
  double p50_us = 0, p99_us = 0;
};

// Sixteen bytes, unique per (thread, sequence number).
void MakeKey(char* key, uint64_t thread, uint64_t seq) {
  std::memcpy(key, &thread, 8);
  std::memcpy(key + 8, &seq, 8);
}

bool RunRocks(const Config& c, const std::string& path, bool sync, int threads, Figure* out) {
  rocksdb::Options options;
  options.create_if_missing = true;
  rocksdb::DB* raw = nullptr;
  rocksdb::Status s = rocksdb::DB::Open(options, path, &raw);
  if (!s.ok()) {
    std::fprintf(stderr, "rocksdb_peer: open %s: %s\n", path.c_str(), s.ToString().c_str());
    return false;
  }
  std::unique_ptr<rocksdb::DB> db(raw);
  rocksdb::WriteOptions wo;
  wo.sync = sync;
  const uint64_t cap = (c.max_mb << 20) / (kValueSize + 16) / threads + 1;
  std::atomic<bool> stop{false}, failed{false};
  std::vector<std::atomic<uint64_t>> done(threads);  // progress, read by the main thread
  std::vector<std::vector<uint32_t>> ns(threads);
  const std::string value(kValueSize, 'q');
  const Clock::time_point start = Clock::now();
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      char key[16];
      for (uint64_t i = 0; i < cap && !stop.load(std::memory_order_relaxed); ++i) {
        MakeKey(key, t, i);
        const Clock::time_point t0 = Clock::now();
        if (!db->Put(wo, rocksdb::Slice(key, 16), value).ok()) {
          failed = true;
          return;
        }
        if (sync || i % quipu::bench::kSampleEvery == 0) {
          ns[t].push_back(static_cast<uint32_t>(
              std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - t0).count()));
        }
        done[t].store(i + 1, std::memory_order_relaxed);
      }
    });
  }
  // Stop after the duration, or earlier once every thread reached its cap.
  while (Clock::now() - start < std::chrono::duration<double>(c.seconds)) {
    uint64_t total = 0;
    for (int t = 0; t < threads; ++t) total += done[t].load(std::memory_order_relaxed);
    if (total >= cap * threads) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  stop = true;
  for (std::thread& t : pool) t.join();
  const double secs = std::chrono::duration<double>(Clock::now() - start).count();
  if (failed) {
    std::fprintf(stderr, "rocksdb_peer: Put failed\n");
    return false;
  }
  uint64_t total = 0;
  std::vector<uint32_t> all;
  for (int t = 0; t < threads; ++t) {
    total += done[t].load(std::memory_order_relaxed);
    all.insert(all.end(), ns[t].begin(), ns[t].end());
  }
  const quipu::bench::Latency lat = quipu::bench::Percentiles(&all);
  *out = {sync ? "rocksdb sync=true" : "rocksdb sync=false", threads, total / secs, lat.p50_us,
          lat.p99_us};
  return true;
}

bool RunQuipu(const Config& c, const std::string& path, const std::string& name,
              quipu::DurabilityPolicy policy, int writers, uint64_t pipeline, Figure* out) {
  quipu::bench::Workload w;
  w.policy = policy;
  w.writers = writers;
  w.seconds = c.seconds;
  w.max_records = (c.max_mb << 20) / (kValueSize + 8);
  w.record_size = kValueSize;
  w.pipeline = pipeline;
  w.dir = path;
  quipu::Result<quipu::bench::Measurement> m = quipu::bench::RunWorkload(w);
  if (!m.ok()) {
    std::fprintf(stderr, "rocksdb_peer: quipu %s: %s\n", name.c_str(),
                 m.status().ToString().c_str());
    return false;
  }
  *out = {name, writers, m->PerSecond(), m->latency.p50_us, m->latency.p99_us};
  return true;
}

bool ParseArgs(int argc, char** argv, Config* c) {
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    const bool has_value = i + 1 < argc;
    if (arg == "--seconds" && has_value) {
      c->seconds = std::atof(argv[++i]);
    } else if (arg == "--dir" && has_value) {
      c->dir = argv[++i];
    } else if (arg == "--max-mb" && has_value) {
      c->max_mb = std::strtoull(argv[++i], nullptr, 10);
    } else {
      std::fprintf(stderr, "usage: rocksdb_peer [--seconds S] [--dir D] [--max-mb M]\n");
      return false;
    }
  }
  if (!(c->seconds > 0) || c->max_mb == 0) {
    std::fprintf(stderr, "rocksdb_peer: --seconds and --max-mb must be positive\n");
    return false;
  }
  return true;
}

void PrintRow(const Figure& f, const Figure* peer) {
  std::printf("| %s | %d | %.0f | %.1f | %.1f | %s | %s |\n", f.system.c_str(), f.writers,
              f.per_second, f.p50_us, f.p99_us, peer ? peer->system.c_str() : "",
              peer ? std::to_string(f.per_second / peer->per_second).substr(0, 5).c_str() : "");
}

}  // namespace

int main(int argc, char** argv) {
  Config c;
  if (!ParseArgs(argc, argv, &c)) return 2;
  std::string scratch = c.dir + "/rocksdb-peer-XXXXXX";
  if (mkdtemp(scratch.data()) == nullptr) {
    std::perror("rocksdb_peer: mkdtemp");
    return 1;
  }
  int run = 0;
  auto next = [&] {
    std::error_code ec;
    std::filesystem::remove_all(scratch + "/" + std::to_string(run), ec);
    return scratch + "/" + std::to_string(++run);
  };
  std::vector<Figure> rocks_sync, quipu_group;
  Figure rocks_nosync, quipu_os, quipu_pipe;
  bool ok = true;
  for (int k : kThreads) {
    Figure r, q;
    ok = ok && RunRocks(c, next(), true, k, &r) &&
         RunQuipu(c, next(), "quipu group", quipu::DurabilityPolicy::GroupCommit(), k, 0, &q);
    rocks_sync.push_back(r);
    quipu_group.push_back(q);
  }
  ok = ok && RunRocks(c, next(), false, 1, &rocks_nosync) &&
       RunQuipu(c, next(), "quipu os", quipu::DurabilityPolicy::OsManaged(), 1, 0, &quipu_os) &&
       RunQuipu(c, next(), "quipu pipeline:" + std::to_string(kPipeline),
                quipu::DurabilityPolicy::GroupCommit(), 1, kPipeline, &quipu_pipe);
  std::error_code ec;
  std::filesystem::remove_all(scratch, ec);
  if (!ok) return 1;

  std::printf("| system | K | ops/s | p50 us | p99 us | compared with | ratio |\n");
  std::printf("|---|--:|--:|--:|--:|---|--:|\n");
  for (size_t i = 0; i < rocks_sync.size(); ++i) {
    PrintRow(rocks_sync[i], nullptr);
    PrintRow(quipu_group[i], &rocks_sync[i]);
  }
  PrintRow(rocks_nosync, nullptr);
  PrintRow(quipu_os, &rocks_nosync);
  PrintRow(quipu_pipe, &rocks_sync.back());
  std::printf("\n| goal | measured | target | |\n|---|--:|--:|---|\n");
  auto goal = [](const char* text, double ratio, double target) {
    std::printf("| %s | %.2f | %.2f | %s |\n", text, ratio, target,
                ratio >= target ? "met" : "missed");
  };
  goal("quipu group K=16 >= 1.5 x rocksdb sync=true K=16",
       quipu_group[2].per_second / rocks_sync[2].per_second, 1.5);
  goal("quipu group K=64 >= 1.5 x rocksdb sync=true K=64",
       quipu_group[3].per_second / rocks_sync[3].per_second, 1.5);
  goal("quipu pipelined >= 10 x rocksdb sync=true K=64",
       quipu_pipe.per_second / rocks_sync[3].per_second, 10.0);
  return 0;
}
