// cli/bench_report.h — the rows `quipu bench` prints, the baseline each quipu
// figure is compared with, the goals checked against one run, and
// the two output shapes (a markdown table, or JSON lines).
#ifndef QUIPU_CLI_BENCH_REPORT_H_
#define QUIPU_CLI_BENCH_REPORT_H_

#include <string>
#include <vector>

#include "cli/bench_baselines.h"
#include "cli/bench_workload.h"

namespace quipu::bench {

struct Row {
  std::string system;  // "quipu" or "baseline"
  std::string config;  // policy spelling, "pipeline:W", or the baseline's name
  int writers = 1;
  Measurement m;
  double bytes = 0;      // payload bytes counted, for MB/s
  std::string baseline;  // what `ratio` compares with; empty if nothing
  double ratio = 0;      // records/s over the baseline's records/s
  // write+fdatasync records/s measured right before and after this run
  // (mean of the two); 0 if not measured. Preferred over the run's shared
  // write+fdatasync row for always/group.
  double adjacent_fsync_rate = 0;
};

// A goal of issue 6 checked against the rows of one run.
struct Goal {
  std::string text;       // e.g. "always K=1 >= 0.9 x write+fdatasync"
  double ratio = 0;       // measured
  double target = 0;      // required
  bool measured = false;  // false when the run lacks the rows it needs
  bool met() const { return measured && ratio >= target; }
};

// Row for a quipu measurement of `config` at `writers` (ratio not yet set).
Row QuipuRow(const std::string& config, int writers, const Measurement& m, size_t record_size);
Row BaselineRow(const Baseline& b);

// Sets baseline and ratio of every quipu row from the baseline rows:
//   always K=1 -> write+fdatasync; always/group K>1 -> K x (1 / fdatasync time)
//   (the group-commit limit), from the adjacent measurement when the row has
//   one ("adjacent" in the name); every:N[,MS] -> buffer+fdatasync:B with the
//   largest B <= N; os -> write; pipeline:W -> buffer+fdatasync:4096.
void MatchBaselines(std::vector<Row>* rows);

std::vector<Goal> CheckGoals(const std::vector<Row>& rows);

std::string MarkdownTable(const std::vector<Row>& rows);
std::string MarkdownGoals(const std::vector<Goal>& goals);
// One JSON object per line: rows, then goals.
std::string JsonLines(const std::vector<Row>& rows, const std::vector<Goal>& goals);

}  // namespace quipu::bench

#endif  // QUIPU_CLI_BENCH_REPORT_H_
