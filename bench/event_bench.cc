// Audit event writes: quipu's AuditStore::Emit next to SQLite and PostgreSQL
// storing the same event, in one run on one filesystem.
//
//   quipu      AuditStore::Emit under GroupCommit (cli/bench_events.h): durable
//              on return; concurrent emitters share fdatasyncs.
//   sqlite     one transaction per event in WAL mode with synchronous=FULL
//              (bench/sqlite_baseline.h); the writers share one connection
//              under a mutex.
//   postgres   one prepared call of a PL/pgSQL function per event, its own
//              transaction with synchronous_commit=on (bench/postgres_baseline.h);
//              one connection per writer, to a throw-away cluster this program
//              starts and removes (bench/postgres_cluster.h).
//
// Each round first measures this directory's fdatasync time (a 0.3 s
// write+fdatasync loop), then, for each writer count K, runs every system in
// turn, in reverse order every other round so that none always goes first.
// A run is K threads writing for --seconds into a fresh store (for
// PostgreSQL a fresh database, checkpointed before the run), removed after.
//
// Rates are wall-clock: the events that returned, over the time from the
// common start to the last writer's stop. (Google Benchmark averages each
// thread's own time, which overstates a run whose threads finish unevenly;
// this is why the program is a plain one.) CPU is the process's over the run
// (CLOCK_PROCESS_CPUTIME_ID); PostgreSQL's server processes are read from
// /proc besides. Latency is of each durable write, p50 and p99.
//
// Prints a markdown table of medians over the rounds, or with --json one JSON
// line per run. Data lives in a scratch directory under --dir, removed at the
// end.
//
//   build/bench/event_bench [--writers 1,16,64] [--seconds 5] [--rounds 2]
//       [--dir D] [--systems quipu,sqlite,postgres] [--json]
#include <signal.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "cli/bench_baselines.h"
#include "cli/bench_events.h"
#include "cli/bench_workload.h"
#include "plain_event.h"

#ifdef QUIPU_BENCH_HAVE_SQLITE
#include "sqlite_baseline.h"
#endif
#ifdef QUIPU_BENCH_HAVE_POSTGRES
#include "postgres_baseline.h"
#include "postgres_cluster.h"
#endif

namespace {

namespace qb = quipu::bench;
using quipu::Result;
using quipu::Status;

struct Flags {
  std::vector<int> writers{1, 16, 64};
  double seconds = 5;
  int rounds = 2;
  std::string dir = ".";
  std::vector<std::string> systems{"quipu", "sqlite", "postgres"};
  bool json = false;
};

const char* Title(const std::string& system) {
  if (system == "sqlite") return "SQLite";
  if (system == "postgres") return "PostgreSQL";
  return "quipu";
}

struct RunResult {
  std::string system;
  int round = 0;
  int writers = 0;
  uint64_t events = 0;
  double seconds = 0;              // wall clock, common start to the last stop
  double cpu_seconds = 0;          // this process, every thread
  double server_cpu_seconds = -1;  // PostgreSQL's processes; -1 for the others
  uint64_t fsyncs = 0;             // quipu's log; 0 for the others
  qb::Latency latency;
  double fdatasync_us = 0;  // of the round

  double PerSecond() const { return seconds > 0 ? static_cast<double>(events) / seconds : 0; }
  double PerEvent(double secs) const {
    return events > 0 ? 1e6 * secs / static_cast<double>(events) : 0;
  }
};

std::atomic<bool> g_interrupted{false};

void OnSignal(int) { g_interrupted.store(true); }

double ProcessCpuSeconds() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

// --- the baselines' writers --------------------------------------------------

// Stores one event durably; false with *error set on failure.
using EmitFn = std::function<bool(int writer, const bench::PlainEvent&, std::string* error)>;

struct WriterResult {
  uint64_t emitted = 0;
  qb::Clock::time_point end;
  std::vector<uint32_t> ns;
  std::string error;
};

// As cli/bench_events.cc's emitter: the event is built before the timed call.
void Writer(const EmitFn& emit, int writer, qb::RunClock* clock, WriterResult* out) {
  out->ns.reserve(1 << 14);
  clock->ready.count_down();
  clock->go.wait();
  for (uint64_t n = 0; !clock->stop.load(std::memory_order_relaxed); ++n) {
    const bench::PlainEvent event = bench::PlainOf(qb::ShapeOf(writer, static_cast<int64_t>(n)));
    const qb::Clock::time_point t0 = qb::Clock::now();
    if (!emit(writer, event, &out->error)) break;
    out->ns.push_back(qb::NanosSince(t0, qb::Clock::now()));
    out->emitted = n + 1;
  }
  out->end = qb::Clock::now();
  clock->Finished();
}

// K threads call `emit` until `seconds` have passed; fills the counts, times
// and CPU of `r`.
Status DriveWriters(int k, double seconds, const EmitFn& emit, RunResult* r) {
  qb::RunClock clock(k);
  std::vector<WriterResult> results(static_cast<size_t>(k));
  std::vector<std::thread> threads;
  for (int i = 0; i < k; ++i) {
    threads.emplace_back(Writer, std::cref(emit), i, &clock, &results[i]);
  }
  const double cpu_before = ProcessCpuSeconds();
  clock.Run(seconds);
  for (std::thread& t : threads) t.join();
  r->cpu_seconds = ProcessCpuSeconds() - cpu_before;
  std::vector<uint32_t> all;
  qb::Clock::time_point end = clock.start;
  for (WriterResult& w : results) {
    if (!w.error.empty()) return Status::IOError(r->system + ": " + w.error);
    r->events += w.emitted;
    end = std::max(end, w.end);
    all.insert(all.end(), w.ns.begin(), w.ns.end());
  }
  r->seconds = qb::Seconds(end - clock.start);
  r->latency = qb::Percentiles(&all);
  return Status::OK();
}

// --- one run per system ------------------------------------------------------

Status RunQuipu(const std::string& dir, double seconds, RunResult* r) {
  qb::EventWorkload w;
  w.policy = quipu::DurabilityPolicy::GroupCommit();
  w.writers = r->writers;
  w.seconds = seconds;
  w.dir = dir;
  Result<qb::EventMeasurement> m = qb::RunEventWorkload(w);
  if (!m.ok()) return m.status().WithContext("quipu");
  r->events = m->events;
  r->seconds = m->seconds;
  r->cpu_seconds = m->cpu_seconds;
  r->fsyncs = m->fsyncs;
  r->latency = m->latency;
  return Status::OK();
}

#ifdef QUIPU_BENCH_HAVE_SQLITE
Status RunSqlite(const std::string& dir, double seconds, RunResult* r) {
  std::error_code ec;
  std::filesystem::create_directory(dir, ec);
  if (ec) return Status::IOError("mkdir " + dir + ": " + ec.message());
  bench::SqliteStore store(dir + "/audit.db", /*create=*/true);
  if (!store.ok()) return Status::IOError("sqlite: " + store.error());
  return DriveWriters(
      r->writers, seconds,
      [&store](int, const bench::PlainEvent& e, std::string* error) {
        if (store.Emit(e)) return true;
        *error = store.error();
        return false;
      },
      r);
}
#endif

#ifdef QUIPU_BENCH_HAVE_POSTGRES
Status RunPostgresIn(const bench::PostgresCluster& cluster, const std::string& db, double seconds,
                     RunResult* r) {
  {
    bench::PostgresConnection setup(cluster.socket_dir(), db);
    // The run starts with nothing left for the checkpointer to write.
    if (!setup.Exec(bench::kPostgresSchema) || !setup.Exec("CHECKPOINT")) {
      return Status::IOError("postgres: " + setup.error());
    }
  }
  std::vector<std::unique_ptr<bench::PostgresConnection>> conns;
  for (int i = 0; i < r->writers; ++i) {
    conns.push_back(std::make_unique<bench::PostgresConnection>(cluster.socket_dir(), db));
    if (!conns.back()->PrepareEmit()) return Status::IOError("postgres: " + conns.back()->error());
  }
  const double server_before = cluster.ServerCpuSeconds();
  Status s = DriveWriters(
      r->writers, seconds,
      [&conns](int writer, const bench::PlainEvent& e, std::string* error) {
        if (conns[writer]->Emit(e)) return true;
        *error = conns[writer]->error();
        return false;
      },
      r);
  const double server_after = cluster.ServerCpuSeconds();
  if (server_before >= 0 && server_after >= 0) r->server_cpu_seconds = server_after - server_before;
  return s;
}

// A fresh database per run (its own directory under the cluster's base/).
Status RunPostgres(const bench::PostgresCluster& cluster, int run, double seconds, RunResult* r) {
  const std::string db = "run" + std::to_string(run);
  bench::PostgresConnection admin(cluster.socket_dir(), "postgres");
  if (!admin.Exec("CREATE DATABASE " + db)) return Status::IOError("postgres: " + admin.error());
  Status s = RunPostgresIn(cluster, db, seconds, r);
  if (!admin.Exec("DROP DATABASE " + db + " WITH (FORCE)") && s.ok()) {
    s = Status::IOError("postgres: " + admin.error());
  }
  return s;
}
#endif

// --- report ------------------------------------------------------------------

double Median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 == 1 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

std::string JsonLine(const RunResult& r) {
  nlohmann::ordered_json j;
  j["system"] = r.system;
  j["round"] = r.round + 1;
  j["writers"] = r.writers;
  j["events"] = r.events;
  j["seconds"] = r.seconds;
  j["events_per_s"] = r.PerSecond();
  j["cpu_us_per_event"] = r.PerEvent(r.cpu_seconds);
  if (r.server_cpu_seconds >= 0) j["server_cpu_us_per_event"] = r.PerEvent(r.server_cpu_seconds);
  if (r.system == "quipu") {
    j["fsyncs"] = r.fsyncs;
    j["events_per_fsync"] = r.fsyncs > 0 ? static_cast<double>(r.events) / r.fsyncs : 0;
  }
  j["p50_us"] = r.latency.p50_us;
  j["p99_us"] = r.latency.p99_us;
  j["fdatasync_us"] = r.fdatasync_us;
  return j.dump() + "\n";
}

class Report {
 public:
  Report(const Flags& flags, std::vector<std::string> systems)
      : flags_(flags), systems_(std::move(systems)) {}

  void Add(const RunResult& r) { runs_.push_back(r); }
  void AddRound(double fdatasync_us) { fdatasync_us_.push_back(fdatasync_us); }
  void AddNote(std::string note) { notes_.push_back(std::move(note)); }

  std::string Markdown() const {
    std::string out =
        "| writers | quipu/s | SQLite/s | PostgreSQL/s | quipu÷SQLite | quipu÷PostgreSQL | "
        "quipu events/fsync | quipu CPU µs/event | fdatasync µs |\n"
        "|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n";
    const double fsync_us = Median(fdatasync_us_);
    for (int k : flags_.writers) {
      const RunResult* q = nullptr;
      std::vector<double> per_fsync, cpu;
      for (const RunResult& r : runs_) {
        if (r.system != "quipu" || r.writers != k) continue;
        q = &r;
        per_fsync.push_back(r.fsyncs > 0 ? static_cast<double>(r.events) / r.fsyncs : 0);
        cpu.push_back(r.PerEvent(r.cpu_seconds));
      }
      out += "| " + std::to_string(k) + " | " + Rate("quipu", k) + " | " + Rate("sqlite", k) +
             " | " + Rate("postgres", k) + " | " + Ratio("sqlite", k) + " | " +
             Ratio("postgres", k) + " | " + (q ? Fixed(Median(per_fsync), 1) : "—") + " | " +
             (q ? Fixed(Median(cpu), 1) : "—") + " | " + Fixed(fsync_us, 0) + " |\n";
    }
    out +=
        "\n| writers | system | events/s | p50 µs | p99 µs | CPU µs/event | server CPU µs/event "
        "|\n";
    out += "|--:|---|--:|--:|--:|--:|--:|\n";
    for (int k : flags_.writers) {
      for (const std::string& s : systems_) {
        std::vector<double> p50, p99, cpu, server;
        for (const RunResult& r : runs_) {
          if (r.system != s || r.writers != k) continue;
          p50.push_back(r.latency.p50_us);
          p99.push_back(r.latency.p99_us);
          cpu.push_back(r.PerEvent(r.cpu_seconds));
          if (r.server_cpu_seconds >= 0) server.push_back(r.PerEvent(r.server_cpu_seconds));
        }
        if (p50.empty()) continue;
        out += "| " + std::to_string(k) + " | " + Title(s) + " | " + Rate(s, k) + " | " +
               Fixed(Median(p50), 0) + " | " + Fixed(Median(p99), 0) + " | " +
               Fixed(Median(cpu), 1) + " | " + (server.empty() ? "—" : Fixed(Median(server), 1)) +
               " |\n";
      }
    }
    out += "\nMedians over " + std::to_string(fdatasync_us_.size()) + " round(s) of " +
           Fixed(flags_.seconds, 1) +
           " s per run; rates are wall-clock; each ratio is the median of the rounds' ratios. "
           "fdatasync µs: a 128-byte write+fdatasync loop in this directory at the start of each "
           "round (";
    for (size_t i = 0; i < fdatasync_us_.size(); ++i) {
      out += (i > 0 ? ", " : "") + Fixed(fdatasync_us_[i], 0);
    }
    out += " µs). CPU is this process's; PostgreSQL's server is counted apart.\n";
    for (const std::string& n : notes_) out += "\n" + n + "\n";
    return out;
  }

 private:
  static std::string Fixed(double v, int digits) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.*f", digits, v);
    return buf;
  }

  std::vector<double> Rates(const std::string& system, int k) const {
    std::vector<double> v;
    for (const RunResult& r : runs_) {
      if (r.system == system && r.writers == k) v.push_back(r.PerSecond());
    }
    return v;
  }

  std::string Rate(const std::string& system, int k) const {
    const std::vector<double> v = Rates(system, k);
    return v.empty() ? "—" : Fixed(Median(v), 0);
  }

  // The median over rounds of quipu's rate over `system`'s in the same round.
  std::string Ratio(const std::string& system, int k) const {
    std::vector<double> ratios;
    for (const RunResult& q : runs_) {
      if (q.system != "quipu" || q.writers != k) continue;
      for (const RunResult& o : runs_) {
        if (o.system == system && o.writers == k && o.round == q.round && o.PerSecond() > 0) {
          ratios.push_back(q.PerSecond() / o.PerSecond());
        }
      }
    }
    return ratios.empty() ? "—" : Fixed(Median(ratios), 2) + " ×";
  }

  const Flags& flags_;
  std::vector<std::string> systems_;
  std::vector<RunResult> runs_;
  std::vector<double> fdatasync_us_;
  std::vector<std::string> notes_;
};

// Says on stderr, and in the report, why a system does not take part.
void Skip(Report* report, std::vector<std::string>* systems, const std::string& system,
          const std::string& why) {
  const std::string note = std::string(Title(system)) + " skipped: " + why;
  std::fprintf(stderr, "event_bench: %s\n", note.c_str());
  report->AddNote(note);
  systems->erase(std::remove(systems->begin(), systems->end(), system), systems->end());
}

int Fail(const Status& s) {
  std::fprintf(stderr, "event_bench: %s\n", s.ToString().c_str());
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  Flags flags;
  CLI::App app{"quipu's audit events next to SQLite and PostgreSQL storing the same event"};
  app.add_option("--writers", flags.writers, "writer thread counts (K), comma-separated")
      ->delimiter(',')
      ->check(CLI::Range(1, 1024))
      ->capture_default_str();
  app.add_option("--seconds", flags.seconds, "length of each run")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--rounds", flags.rounds, "rounds; the table shows their medians")
      ->check(CLI::Range(1, 1000))
      ->capture_default_str();
  app.add_option("--dir", flags.dir, "where the scratch directory goes")->capture_default_str();
  app.add_option("--systems", flags.systems, "systems to run, comma-separated")
      ->delimiter(',')
      ->check(CLI::IsMember({"quipu", "sqlite", "postgres"}))
      ->capture_default_str();
  app.add_flag("--json", flags.json, "one JSON line per run instead of the table");
  CLI11_PARSE(app, argc, argv);

  // Ctrl-C ends the benchmark after the current run, so the cleanup runs.
  struct sigaction sa {};
  sa.sa_handler = OnSignal;
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);

  std::vector<std::string> systems;
  for (const std::string& s : flags.systems) {
    if (std::find(systems.begin(), systems.end(), s) == systems.end()) systems.push_back(s);
  }
  quipu::bench::Scratch scratch;  // removed on every way out of main
  if (Status s = scratch.Create(flags.dir, "event-bench"); !s.ok()) return Fail(s);
  Report report(flags, systems);

  auto wanted = [&](const char* s) {
    return std::find(systems.begin(), systems.end(), s) != systems.end();
  };
#ifndef QUIPU_BENCH_HAVE_SQLITE
  if (wanted("sqlite")) {
    Skip(&report, &systems, "sqlite",
         "built without SQLite3 (install libsqlite3-dev, reconfigure)");
  }
#endif
#ifdef QUIPU_BENCH_HAVE_POSTGRES
  bench::PostgresCluster cluster;  // destroyed (stopped, removed) before scratch
  if (wanted("postgres")) {
    const int most = *std::max_element(flags.writers.begin(), flags.writers.end());
    // Writers, the admin and setup connections, superuser_reserved_connections.
    if (Status s = cluster.Start(scratch.path() + "/pg", std::max(64, most) + 10); !s.ok()) {
      Skip(&report, &systems, "postgres", s.message());
    }
  }
#else
  if (wanted("postgres")) {
    Skip(&report, &systems, "postgres", "built without libpq (install libpq-dev, reconfigure)");
  }
#endif
  const bool progress = isatty(STDERR_FILENO) == 1;

  int run = 0;
  for (int round = 0; round < flags.rounds && !g_interrupted; ++round) {
    qb::BaselinePlan plan;
    plan.dir = scratch.path();
    plan.seconds = 0.3;
    Result<qb::Baseline> fsync = qb::MeasureFdatasync(plan);
    if (!fsync.ok()) return Fail(fsync.status().WithContext("fdatasync"));
    const double fsync_rate = fsync->m.PerSecond();
    const double fsync_us = fsync_rate > 0 ? 1e6 / fsync_rate : 0;
    report.AddRound(fsync_us);

    std::vector<std::string> order = systems;
    if (round % 2 == 1) std::reverse(order.begin(), order.end());
    for (int k : flags.writers) {
      for (const std::string& system : order) {
        if (g_interrupted) break;
        if (progress) {
          std::fprintf(stderr, "\r\033[Kevent_bench: round %d/%d, %s, K=%d", round + 1,
                       flags.rounds, system.c_str(), k);
        }
        RunResult r;
        r.system = system;
        r.round = round;
        r.writers = k;
        r.fdatasync_us = fsync_us;
        const std::string dir = scratch.path() + "/run-" + std::to_string(++run);
        // What the previous run left in the page cache is written back now,
        // not under this run's syncs.
        ::sync();
        Status s;
        if (system == "quipu") s = RunQuipu(dir, flags.seconds, &r);
#ifdef QUIPU_BENCH_HAVE_SQLITE
        if (system == "sqlite") s = RunSqlite(dir, flags.seconds, &r);
#endif
#ifdef QUIPU_BENCH_HAVE_POSTGRES
        if (system == "postgres") s = RunPostgres(cluster, run, flags.seconds, &r);
#endif
        std::error_code ec;
        std::filesystem::remove_all(dir, ec);
        if (!s.ok()) return Fail(s);
        report.Add(r);
        if (flags.json) {
          std::fputs(JsonLine(r).c_str(), stdout);
          std::fflush(stdout);
        }
      }
    }
  }
  if (progress) std::fprintf(stderr, "\r\033[K");
  if (g_interrupted) {
    std::fprintf(stderr, "event_bench: interrupted\n");
    return 130;
  }
  if (!flags.json) std::fputs(report.Markdown().c_str(), stdout);
  return 0;
}
