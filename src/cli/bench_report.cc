#include "cli/bench_report.h"

#include <cstdio>
#include <nlohmann/json.hpp>
#include <optional>

namespace quipu::bench {

namespace {

std::string Fixed(double v, int digits) {
  char buf[48];
  std::snprintf(buf, sizeof(buf), "%.*f", digits, v);
  return buf;
}

// Three significant figures, readable from 0.01 to millions.
std::string Figure(double v) {
  if (v >= 1000) return Fixed(v, 0);
  if (v >= 100) return Fixed(v, 1);
  return Fixed(v, 2);
}

const Row* Find(const std::vector<Row>& rows, const std::string& system, const std::string& config,
                int writers) {
  for (const Row& r : rows) {
    if (r.system == system && r.config == config && r.writers == writers) return &r;
  }
  return nullptr;
}

const Row* FindBaseline(const std::vector<Row>& rows, const std::string& name) {
  return Find(rows, "baseline", name, 1);
}

// The baseline's name for a quipu row and the records/s it stands for.
std::optional<std::pair<std::string, double>> BaselineFor(const std::vector<Row>& rows,
                                                          const Row& q) {
  auto rate = [&](const std::string& name) -> std::optional<std::pair<std::string, double>> {
    const Row* b = FindBaseline(rows, name);
    if (b == nullptr) return std::nullopt;
    return std::make_pair(name, b->m.PerSecond());
  };
  if (q.config.rfind("pipeline:", 0) == 0) return rate("buffer+fdatasync:4096");
  Result<DurabilityPolicy> policy = DurabilityPolicy::Parse(q.config);
  if (!policy.ok()) return std::nullopt;
  switch (policy->kind()) {
    case DurabilityPolicy::Kind::kOsManaged:
      return rate("write");
    case DurabilityPolicy::Kind::kEveryN:
    case DurabilityPolicy::Kind::kEveryNOrInterval: {
      uint64_t best = 1;
      for (uint64_t b : kBufferBatches) {
        if (b <= policy->n()) best = b;
      }
      return rate(best == 1 ? "write+fdatasync" : "buffer+fdatasync:" + std::to_string(best));
    }
    case DurabilityPolicy::Kind::kAlways:
    case DurabilityPolicy::Kind::kGroupCommit: {
      auto single = q.adjacent_fsync_rate > 0
                        ? std::make_optional(std::make_pair(std::string("adjacent write+fdatasync"),
                                                            q.adjacent_fsync_rate))
                        : rate("write+fdatasync");
      if (!single || q.writers == 1) return single;
      // K blocking writers can at best each finish one record per fdatasync.
      const char* what = q.adjacent_fsync_rate > 0 ? "/adjacent fdatasync" : "/fdatasync";
      return std::make_pair(std::to_string(q.writers) + what, single->second * q.writers);
    }
  }
  return std::nullopt;
}

Goal RatioGoal(const std::string& text, const Row* row, double target) {
  Goal g{text, 0, target, row != nullptr && !row->baseline.empty()};
  if (g.measured) g.ratio = row->ratio;
  return g;
}

Goal CompareGoal(const std::string& text, const Row* a, const Row* b, double target) {
  Goal g{text, 0, target, a != nullptr && b != nullptr && b->m.PerSecond() > 0};
  if (g.measured) g.ratio = a->m.PerSecond() / b->m.PerSecond();
  return g;
}

std::string LatencyKind(const Row& r) {
  if (r.m.latency.samples == 0) return "";
  if (r.system == "baseline") {
    if (r.m.latency_to_durable && r.config == "textbook-group") return "to durable";
    return r.m.fsyncs > 0 ? "per sync" : "";
  }
  return r.m.latency_to_durable ? "to durable" : "append";
}

}  // namespace

Row QuipuRow(const std::string& config, int writers, const Measurement& m, size_t record_size) {
  Row r;
  r.system = "quipu";
  r.config = config;
  r.writers = writers;
  r.m = m;
  r.bytes = static_cast<double>(m.records) * static_cast<double>(record_size);
  return r;
}

Row BaselineRow(const Baseline& b) {
  Row r;
  r.system = "baseline";
  r.config = b.name;
  r.m = b.m;
  r.bytes = b.bytes;
  return r;
}

void MatchBaselines(std::vector<Row>* rows) {
  for (Row& r : *rows) {
    if (r.system != "quipu") continue;
    auto match = BaselineFor(*rows, r);
    if (!match || match->second <= 0) continue;
    r.baseline = match->first;
    r.ratio = r.m.PerSecond() / match->second;
  }
}

std::vector<Goal> CheckGoals(const std::vector<Row>& rows) {
  auto quipu = [&](const std::string& config, int k) { return Find(rows, "quipu", config, k); };
  const Row* pipeline = nullptr;
  for (const Row& r : rows) {
    if (r.system == "quipu" && r.config.rfind("pipeline:", 0) == 0) pipeline = &r;
  }
  std::vector<Goal> goals;
  goals.push_back(RatioGoal("always K=1 >= 0.9 x write+fdatasync", quipu("always", 1), 0.9));
  goals.push_back(RatioGoal("group K=16 >= 0.8 x 16/fdatasync", quipu("group", 16), 0.8));
  goals.push_back(RatioGoal("group K=64 >= 0.8 x 64/fdatasync", quipu("group", 64), 0.8));
  goals.push_back(RatioGoal("pipelined >= 0.8 x buffer+fdatasync:4096", pipeline, 0.8));
  goals.push_back(CompareGoal("every:1000,20 K=1 >= 0.85 x os K=1", quipu("every:1000,20", 1),
                              quipu("os", 1), 0.85));
  goals.push_back(RatioGoal("os K=1 >= 3 x write", quipu("os", 1), 3.0));
  Row ten_million;
  ten_million.m.records = 10'000'000;
  ten_million.m.seconds = 1;
  goals.push_back(CompareGoal("os K=1 >= 10 M appends/s (aim)", quipu("os", 1), &ten_million, 1.0));
  goals.push_back(
      CompareGoal("group K=64 >= group K=16", quipu("group", 64), quipu("group", 16), 1.0));
  for (int k : {16, 64}) {
    const std::string K = std::to_string(k);
    goals.push_back(CompareGoal("group K=" + K + " >= 2 x textbook-group K=" + K, quipu("group", k),
                                Find(rows, "baseline", "textbook-group", k), 2.0));
  }
  // CPU per durable append at K=64 at most 10 us, as 10 us over the measured.
  const Row* group64 = quipu("group", 64);
  Goal cpu{"group K=64: 10 us / CPU us per append >= 1", 0, 1.0,
           group64 != nullptr && group64->m.CpuMicrosPerRecord() > 0};
  if (cpu.measured) cpu.ratio = 10.0 / group64->m.CpuMicrosPerRecord();
  goals.push_back(cpu);
  return goals;
}

std::string MarkdownTable(const std::vector<Row>& rows) {
  std::string out =
      "| system | config | K | appends/s | MB/s | fsyncs | fsyncs/1000 | CPU us/rec | p50 us | "
      "p99 us | p99.9 us | latency | baseline | ratio |\n"
      "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|---|---|--:|\n";
  for (const Row& r : rows) {
    const bool lat = r.m.latency.samples > 0;
    const double mbps = r.m.seconds > 0 ? r.bytes / r.m.seconds / 1e6 : 0;
    out += "| " + r.system + " | `" + r.config + "` | " + std::to_string(r.writers) + " | " +
           Fixed(r.m.PerSecond(), 0) + " | " + Figure(mbps) + " | " + std::to_string(r.m.fsyncs) +
           " | " + Figure(r.m.FsyncsPer1000()) + " | " +
           (r.m.cpu_seconds > 0 ? Figure(r.m.CpuMicrosPerRecord()) : "") + " | " +
           (lat ? Figure(r.m.latency.p50_us) : "") + " | " +
           (lat ? Figure(r.m.latency.p99_us) : "") + " | " +
           (lat ? Figure(r.m.latency.p999_us) : "") + " | " + LatencyKind(r) + " | " + r.baseline +
           " | " + (r.baseline.empty() ? "" : Fixed(r.ratio, 2)) + " |\n";
  }
  return out;
}

std::string MarkdownGoals(const std::vector<Goal>& goals) {
  std::string out = "| goal | measured | target | |\n|---|--:|--:|---|\n";
  for (const Goal& g : goals) {
    out += "| " + g.text + " | " + (g.measured ? Fixed(g.ratio, 2) : "—") + " | " +
           Fixed(g.target, 2) + " | " +
           (!g.measured ? "not run"
            : g.met()   ? "met"
                        : "missed") +
           " |\n";
  }
  return out;
}

std::string JsonLines(const std::vector<Row>& rows, const std::vector<Goal>& goals) {
  std::string out;
  for (const Row& r : rows) {
    nlohmann::ordered_json j;
    j["system"] = r.system;
    j["config"] = r.config;
    j["writers"] = r.writers;
    j["records"] = r.m.records;
    j["seconds"] = r.m.seconds;
    j["appends_per_s"] = r.m.PerSecond();
    j["mb_per_s"] = r.m.seconds > 0 ? r.bytes / r.m.seconds / 1e6 : 0.0;
    j["fsyncs"] = r.m.fsyncs;
    j["fsyncs_per_1000"] = r.m.FsyncsPer1000();
    if (r.m.cpu_seconds > 0) j["cpu_us_per_record"] = r.m.CpuMicrosPerRecord();
    if (r.m.latency.samples > 0) {
      j["latency"] = LatencyKind(r);
      j["p50_us"] = r.m.latency.p50_us;
      j["p99_us"] = r.m.latency.p99_us;
      j["p999_us"] = r.m.latency.p999_us;
    }
    if (r.adjacent_fsync_rate > 0) j["adjacent_fdatasync_per_s"] = r.adjacent_fsync_rate;
    if (!r.baseline.empty()) {
      j["baseline"] = r.baseline;
      j["ratio"] = r.ratio;
    }
    out += j.dump() + "\n";
  }
  for (const Goal& g : goals) {
    nlohmann::ordered_json j;
    j["goal"] = g.text;
    j["target"] = g.target;
    if (g.measured) j["ratio"] = g.ratio;
    j["met"] = g.met();
    out += j.dump() + "\n";
  }
  return out;
}

}  // namespace quipu::bench
