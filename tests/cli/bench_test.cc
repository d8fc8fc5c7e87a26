// Black-box tests of `quipu bench`: tiny runs that check what is reported and
// how flags are validated. Nothing here asserts on speed: CI machines are
// shared and slow, and a timing assertion would fail for reasons unrelated
// to the code.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#ifndef QUIPU_CLI_PATH
#define QUIPU_CLI_PATH "./quipu"
#endif

extern char** environ;

namespace {

namespace fs = std::filesystem;
using nlohmann::json;

struct Outcome {
  int exit_code = -1;
  std::string out;
  std::string err;
};

std::string Slurp(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

std::vector<json> JsonLines(const std::string& text) {
  std::vector<json> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(json::parse(line));
  return lines;
}

size_t LineCount(const std::string& text) {
  return static_cast<size_t>(std::count(text.begin(), text.end(), '\n'));
}

class BenchCliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = (fs::temp_directory_path() / "quipu-bench-test-XXXXXX").string();
    ASSERT_NE(mkdtemp(pattern.data()), nullptr);
    tmp_ = pattern;
    work_ = tmp_ / "work";
    fs::create_directory(work_);
  }
  void TearDown() override { fs::remove_all(tmp_); }

  // Runs `quipu bench args... --dir <work>` (unless args name a --dir).
  Outcome Bench(std::vector<std::string> args) {
    if (std::find(args.begin(), args.end(), "--dir") == args.end()) {
      args.push_back("--dir");
      args.push_back(work_.string());
    }
    args.insert(args.begin(), {QUIPU_CLI_PATH, "bench"});
    std::vector<char*> argv;
    for (std::string& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    const fs::path out = tmp_ / "stdout", err = tmp_ / "stderr";
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&actions, 1, out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_addopen(&actions, 2, err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    pid_t pid;
    Outcome result;
    const int rc = posix_spawn(&pid, argv[0], &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    if (rc != 0) return result;
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    result.out = Slurp(out);
    result.err = Slurp(err);
    return result;
  }

  fs::path tmp_;
  fs::path work_;
};

TEST_F(BenchCliTest, SingleRunReportsCountsAsJson) {
  Outcome r = Bench({"--durability", "os", "--records", "1000", "--size", "64", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.err, "");
  std::vector<json> rows = JsonLines(r.out);
  ASSERT_EQ(rows.size(), 1u);
  const json& row = rows[0];
  EXPECT_EQ(row["system"], "quipu");
  EXPECT_EQ(row["config"], "os");
  EXPECT_EQ(row["writers"], 1);
  EXPECT_EQ(row["records"], 1000);
  EXPECT_EQ(row["fsyncs"], 0);  // OsManaged never syncs on its own within one segment
  EXPECT_GT(row["appends_per_s"].get<double>(), 0);
  EXPECT_EQ(row["latency"], "append");
  EXPECT_FALSE(row.contains("baseline"));  // no --baselines, nothing to compare with
}

// Each sealed segment is one sync (of the full segment) under any policy.
TEST_F(BenchCliTest, SegmentSizeSetsWhereTheLogRotates) {
  Outcome r = Bench({"--durability", "os", "--records", "20000", "--segment-mb", "1", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::vector<json> rows = JsonLines(r.out);
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0]["records"], 20000);
  // 20 000 frames of 136 bytes fill two 1 MiB segments and start a third;
  // the second seal may still run when the count is taken. (With the default
  // 64 MiB segments the same run syncs nothing: SingleRunReportsCountsAsJson.)
  EXPECT_GE(rows[0]["fsyncs"].get<int>(), 1);
  EXPECT_LE(rows[0]["fsyncs"].get<int>(), 2);
}

TEST_F(BenchCliTest, EventsCountEveryEmitUnderGroupCommitByDefault) {
  Outcome r = Bench({"--events", "--writers", "4", "--records", "200", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::vector<json> rows = JsonLines(r.out);
  ASSERT_EQ(rows.size(), 1u);
  const json& row = rows[0];
  EXPECT_EQ(row["config"], "events group");
  EXPECT_EQ(row["writers"], 4);
  EXPECT_EQ(row["events"], 200);
  // Every Emit waited for a sync; concurrent ones may have shared one.
  EXPECT_GE(row["fsyncs"].get<int>(), 1);
  EXPECT_LE(row["fsyncs"].get<int>(), 200);
  EXPECT_GT(row["cpu_us_per_event"].get<double>(), 0);
  EXPECT_GT(row["adjacent_fdatasync_us"].get<double>(), 0);
  EXPECT_LE(row["p50_us"].get<double>(), row["p99_us"].get<double>());
}

TEST_F(BenchCliTest, EventsRunUnderTheGivenPolicyAndRefuseOtherModes) {
  Outcome r = Bench({"--events", "--durability", "os", "--records", "300", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::vector<json> rows = JsonLines(r.out);
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0]["config"], "events os");
  EXPECT_EQ(rows[0]["events"], 300);
  for (const char* other : {"--matrix", "--baselines"}) {
    Outcome refused = Bench({"--events", other, "--records", "10"});
    EXPECT_EQ(refused.exit_code, 2) << other;
    EXPECT_NE(refused.err.find("excludes"), std::string::npos) << refused.err;
  }
}

TEST_F(BenchCliTest, DurablePolicyCountsEngineFsyncsAndLatencyToDurable) {
  Outcome r = Bench({"--durability", "always", "--writers", "4", "--records", "20", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::vector<json> rows = JsonLines(r.out);
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0]["records"], 20);
  EXPECT_EQ(rows[0]["writers"], 4);
  // Every append waited for a sync; concurrent ones may have shared one.
  EXPECT_GE(rows[0]["fsyncs"].get<int>(), 1);
  EXPECT_LE(rows[0]["fsyncs"].get<int>(), 20);
  EXPECT_EQ(rows[0]["latency"], "to durable");
  EXPECT_GT(rows[0]["p50_us"].get<double>(), 0);
  EXPECT_LE(rows[0]["p50_us"].get<double>(), rows[0]["p999_us"].get<double>());
}

TEST_F(BenchCliTest, PipelineCountsRecordsOnceDurable) {
  Outcome r = Bench({"--pipeline", "8", "--records", "100", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::vector<json> rows = JsonLines(r.out);
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0]["config"], "pipeline:8");
  EXPECT_EQ(rows[0]["records"], 100);
  // At most 8 in flight: 100 records need at least 100 / 8 syncs.
  EXPECT_GE(rows[0]["fsyncs"].get<int>(), 13);
  EXPECT_EQ(rows[0]["latency"], "to durable");
}

TEST_F(BenchCliTest, BaselinesComeWithRatios) {
  Outcome r =
      Bench({"--durability", "os", "--baselines", "--seconds", "0.02", "--max-mb", "1", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::vector<json> rows = JsonLines(r.out);
  std::vector<std::string> names;
  for (const json& row : rows) {
    if (row["system"] == "baseline") names.push_back(row["config"]);
  }
  EXPECT_EQ(names, (std::vector<std::string>{"write+fdatasync", "buffer+fdatasync:8",
                                             "buffer+fdatasync:64", "buffer+fdatasync:512",
                                             "buffer+fdatasync:4096", "write", "seq-write"}));
  ASSERT_EQ(rows.back()["system"], "quipu");
  EXPECT_EQ(rows.back()["baseline"], "write");
  EXPECT_GT(rows.back()["ratio"].get<double>(), 0);
  EXPECT_EQ(rows[0]["fsyncs"], rows[0]["records"]);  // write+fdatasync: one sync per record
}

TEST_F(BenchCliTest, DurableRunsAreComparedWithFdatasyncMeasuredAroundThem) {
  Outcome r = Bench({"--durability", "group", "--writers", "4", "--baselines", "--seconds", "0.05",
                     "--max-mb", "1", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::vector<json> rows = JsonLines(r.out);
  // The quipu run, then the textbook group commit at the same K.
  ASSERT_GE(rows.size(), 2u);
  const json& q = rows[rows.size() - 2];
  ASSERT_EQ(q["system"], "quipu");
  EXPECT_EQ(q["baseline"], "4/adjacent fdatasync");
  const double adjacent = q["adjacent_fdatasync_per_s"].get<double>();
  ASSERT_GT(adjacent, 0);
  EXPECT_NEAR(q["ratio"].get<double>(), q["appends_per_s"].get<double>() / (4 * adjacent), 1e-9);
  EXPECT_GT(q["cpu_us_per_record"].get<double>(), 0);
  const json& textbook = rows.back();
  EXPECT_EQ(textbook["system"], "baseline");
  EXPECT_EQ(textbook["config"], "textbook-group");
  EXPECT_EQ(textbook["writers"], 4);
  EXPECT_GT(textbook["records"].get<int>(), 0);
  EXPECT_GE(textbook["fsyncs"].get<int>(), 1);
  EXPECT_LE(textbook["fsyncs"].get<int>(), textbook["records"].get<int>());
  EXPECT_EQ(textbook["latency"], "to durable");
}

TEST_F(BenchCliTest, MatrixCoversEveryPolicyAndWriterCountAndChecksGoals) {
  Outcome r =
      Bench({"--matrix", "--seconds", "0.01", "--max-mb", "1", "--pipeline", "16", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::vector<json> lines = JsonLines(r.out);
  std::set<std::string> quipu_runs;
  size_t baselines = 0, goals = 0;
  for (const json& line : lines) {
    if (line.contains("goal")) {
      ++goals;
      EXPECT_TRUE(line["met"].is_boolean());
      EXPECT_TRUE(line.contains("ratio")) << line.dump();  // the matrix has every row a goal needs
    } else if (line["system"] == "baseline") {
      ++baselines;
    } else {
      quipu_runs.insert(line["config"].get<std::string>() +
                        " K=" + std::to_string(line["writers"].get<int>()));
      EXPECT_TRUE(line.contains("ratio")) << line.dump();
      if (line["config"] == "always" || line["config"] == "group") {
        EXPECT_NE(line["baseline"].get<std::string>().find("adjacent"), std::string::npos);
      }
    }
  }
  EXPECT_EQ(baselines, 7u + 3u);  // and the textbook group commit at K = 4, 16, 64
  EXPECT_EQ(goals, 11u);
  EXPECT_EQ(quipu_runs.size(), 21u);
  EXPECT_TRUE(quipu_runs.count("every:1000,20 K=64"));
  EXPECT_TRUE(quipu_runs.count("pipeline:16 K=1"));
}

TEST_F(BenchCliTest, MarkdownIsTheDefault) {
  Outcome r = Bench({"--durability", "group", "--records", "10"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out.rfind("| system | config | K | appends/s |", 0), 0u) << r.out;
  EXPECT_EQ(LineCount(r.out), 3u);  // header, rule, one row
}

TEST_F(BenchCliTest, ScratchDirectoryIsRemoved) {
  ASSERT_EQ(Bench({"--durability", "os", "--records", "10"}).exit_code, 0);
  EXPECT_TRUE(fs::is_empty(work_));
}

TEST_F(BenchCliTest, BadArgumentsAreOneLineUsageErrors) {
  const std::vector<std::vector<std::string>> bad = {
      {"--writers", "0"},
      {"--records", "5", "--seconds", "1"},
      {"--durability", "sometimes"},
      {"--pipeline", "4", "--writers", "2"},
      {"--pipeline", "0"},
      {"--matrix", "--durability", "os"},
      {"--size", "0"},
      {"--seconds", "-1"},
      {"--records", "many"},
      {"--segment-mb", "0"},
  };
  for (const auto& args : bad) {
    SCOPED_TRACE(::testing::PrintToString(args));
    Outcome r = Bench(args);
    EXPECT_EQ(r.exit_code, 2);
    EXPECT_EQ(LineCount(r.err), 1u) << r.err;
    EXPECT_EQ(r.err.rfind("quipu bench: ", 0), 0u) << r.err;
    EXPECT_EQ(r.out, "");
  }
}

TEST_F(BenchCliTest, UnusableDirectoryFailsWithExitOne) {
  // /proc exists but no directory can be created in it.
  for (const char* dir : {"/proc", "/proc/quipu-bench/sub"}) {
    SCOPED_TRACE(dir);
    Outcome r = Bench({"--durability", "os", "--records", "10", "--dir", dir});
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_EQ(LineCount(r.err), 1u) << r.err;
    EXPECT_EQ(r.err.rfind("quipu bench: ", 0), 0u) << r.err;
  }
}

TEST_F(BenchCliTest, MissingDirectoryIsCreatedWithItsParents) {
  const fs::path dir = tmp_ / "new" / "nested";
  Outcome r = Bench({"--durability", "os", "--records", "10", "--json", "--dir", dir.string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(JsonLines(r.out).size(), 1u);
  EXPECT_TRUE(fs::is_directory(dir));
  EXPECT_TRUE(fs::is_empty(dir));  // the scratch directory inside is gone
}

}  // namespace
