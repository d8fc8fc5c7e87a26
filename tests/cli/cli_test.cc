// Black-box tests of the `quipu` binary: each test runs it as a child process
// on a fresh temporary directory and checks its output and exit code.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "cli/cli_runner.h"
#include "quipu/log.h"

namespace quipu {
namespace {

namespace fs = std::filesystem;

using clitest::ReadFile;
using clitest::RunResult;
using clitest::SplitLines;
using clitest::WriteFile;

std::vector<char*> Argv(std::vector<std::string>& args) {
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  return argv;
}

int WaitExit(pid_t pid) {
  int status = 0;
  while (waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return -1;
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

class CliTest : public clitest::CliFixture {
 protected:
  void SetUp() override {
    CliFixture::SetUp();
    log_dir_ = dir_;
  }

  RunResult Ingest(std::string_view input, const std::string& durability = "always") {
    return Run({"ingest", log_dir_, "--durability", durability}, input);
  }

  std::string log_dir_;
};

// Checks ingest's stdout: "appended 1..n" in order, every "durable k" after
// "appended k" and never moving back, the last one n.
void ExpectProgress(const std::string& out, uint64_t n) {
  uint64_t appended = 0, durable = 0;
  for (const std::string& line : SplitLines(out)) {
    if (line.rfind("appended ", 0) == 0) {
      EXPECT_EQ(std::stoull(line.substr(9)), appended + 1) << line;
      appended++;
    } else if (line.rfind("durable ", 0) == 0) {
      uint64_t lsn = std::stoull(line.substr(8));
      EXPECT_GT(lsn, durable) << line;
      EXPECT_LE(lsn, appended) << "durable before appended: " << line;
      durable = lsn;
    } else {
      ADD_FAILURE() << "unexpected output line: " << line;
    }
  }
  EXPECT_EQ(appended, n);
  EXPECT_EQ(durable, n);
}

const std::vector<std::string> kPolicies = {"always", "every:3", "every:3,5",
                                            "group",  "group:1", "os"};

TEST_F(CliTest, IngestThenDumpRoundTripsBytes) {
  const std::string input =
      "first\n\n  spaces around  \nutf-8: h\xc3\xa9llo \xe2\x9c\x93 \xe6\x97\xa5\xe6\x9c\xac\n"
      "carriage\rreturn\n\t\ttabs\n\nlast line without newline";
  for (const std::string& policy : kPolicies) {
    SCOPED_TRACE(policy);
    fs::remove_all(log_dir_);
    RunResult ingest = Ingest(input, policy);
    ASSERT_EQ(ingest.exit_code, 0) << ingest.err;
    EXPECT_EQ(ingest.err, "");
    ExpectProgress(ingest.out, 8);

    RunResult dump = Run({"dump", log_dir_});
    ASSERT_EQ(dump.exit_code, 0) << dump.err;
    EXPECT_EQ(dump.out, input + "\n");
  }
}

TEST_F(CliTest, IngestOfNoInputPrintsNothing) {
  RunResult ingest = Ingest("");
  ASSERT_EQ(ingest.exit_code, 0) << ingest.err;
  EXPECT_EQ(ingest.out, "");
}

TEST_F(CliTest, IngestContinuesAnExistingLog) {
  ASSERT_EQ(Ingest("a\nb\n").exit_code, 0);
  RunResult again = Ingest("c\n");
  ASSERT_EQ(again.exit_code, 0) << again.err;
  EXPECT_EQ(again.out, "appended 3\ndurable 3\n");
  EXPECT_EQ(Run({"dump", log_dir_}).out, "a\nb\nc\n");
}

// Output must not wait in a buffer while ingest waits for more input, and the
// policies that sync on their own must report durability without more input.
TEST_F(CliTest, IngestReportsProgressWhileWaitingForInput) {
  for (const std::string& policy : kPolicies) {
    SCOPED_TRACE(policy);
    fs::remove_all(log_dir_);
    int in[2], out[2];
    ASSERT_EQ(pipe(in), 0);
    ASSERT_EQ(pipe(out), 0);
    std::vector<std::string> args = {QUIPU_CLI_PATH, "ingest", log_dir_, "--durability", policy};
    std::vector<char*> argv = Argv(args);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, in[0], 0);
    posix_spawn_file_actions_adddup2(&actions, out[1], 1);
    for (int fd : {in[0], in[1], out[0], out[1]}) posix_spawn_file_actions_addclose(&actions, fd);
    pid_t pid;
    ASSERT_EQ(posix_spawn(&pid, argv[0], &actions, nullptr, argv.data(), environ), 0);
    posix_spawn_file_actions_destroy(&actions);
    close(in[0]);
    close(out[1]);

    ASSERT_EQ(write(in[1], "a\nb\n", 4), 4);
    bool syncs_alone = policy != "os" && policy != "every:3";
    std::string want = syncs_alone ? "durable 2\n" : "appended 2\n";
    std::string got;
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (got.find(want) == std::string::npos && std::chrono::steady_clock::now() < deadline) {
      pollfd p = {out[0], POLLIN, 0};
      if (poll(&p, 1, 100) <= 0) continue;
      char buf[256];
      ssize_t n = read(out[0], buf, sizeof(buf));
      if (n <= 0) break;
      got.append(buf, n);
    }
    EXPECT_NE(got.find(want), std::string::npos) << "stdout so far: " << got;

    close(in[1]);  // EOF: ingest syncs and exits
    char buf[256];
    for (ssize_t n; (n = read(out[0], buf, sizeof(buf))) > 0;) got.append(buf, n);
    close(out[0]);
    EXPECT_EQ(WaitExit(pid), 0);
    ExpectProgress(got, 2);
  }
}

TEST_F(CliTest, DumpFromLsn) {
  ASSERT_EQ(Ingest("r1\nr2\nr3\nr4\nr5\n").exit_code, 0);
  RunResult dump = Run({"dump", log_dir_, "--from", "4"});
  ASSERT_EQ(dump.exit_code, 0) << dump.err;
  EXPECT_EQ(dump.out, "r4\nr5\n");
}

TEST_F(CliTest, DumpJson) {
  const std::string binary("\xff\xfe\x00\x01", 4);
  ASSERT_EQ(Ingest("plain\n" + binary + "\n\"quoted\"\n").exit_code, 0);
  RunResult dump = Run({"dump", log_dir_, "--json"});
  ASSERT_EQ(dump.exit_code, 0) << dump.err;
  std::vector<std::string> lines = SplitLines(dump.out);
  ASSERT_EQ(lines.size(), 3u);
  std::vector<nlohmann::json> records;
  for (const std::string& line : lines) records.push_back(nlohmann::json::parse(line));
  for (size_t i = 0; i < records.size(); i++) {
    EXPECT_EQ(records[i]["lsn"], i + 1);
    EXPECT_FALSE(records[i]["segment"].get<std::string>().empty());
  }
  EXPECT_EQ(records[0]["payload"], "plain");
  EXPECT_FALSE(records[1].contains("payload"));
  EXPECT_EQ(records[1]["payload_hex"], "fffe0001");
  EXPECT_EQ(records[2]["payload"], "\"quoted\"");
  // Field order as documented.
  EXPECT_EQ(lines[0].rfind("{\"lsn\":1,\"segment\":", 0), 0u) << lines[0];
}

TEST_F(CliTest, StatJson) {
  ASSERT_EQ(Ingest("a\nb\nc\n").exit_code, 0);
  RunResult stat = Run({"stat", log_dir_, "--json"});
  ASSERT_EQ(stat.exit_code, 0) << stat.err;
  nlohmann::json summary = nlohmann::json::parse(stat.out);
  EXPECT_EQ(summary["records"], 3);
  EXPECT_EQ(summary["first_lsn"], 1);
  EXPECT_EQ(summary["last_lsn"], 3);
  EXPECT_EQ(summary["torn_bytes"], 0);
  ASSERT_EQ(summary["segments"].size(), 1u);
  EXPECT_EQ(summary["segments"][0]["records"], 3);
  EXPECT_EQ(summary["segments"][0]["sealed"], false);
}

// --json is JSON lines, as for the other verbs: one object per policy.
TEST_F(CliTest, DrillReportsEveryPolicyAndLosesNothingDurable) {
  RunResult drill = Run({"drill", "--policy", "all", "--iterations", "3", "--seed", "11", "--mode",
                         "torn", "--json"});
  ASSERT_EQ(drill.exit_code, 0) << drill.err;
  std::vector<std::string> lines = SplitLines(drill.out);
  ASSERT_GE(lines.size(), 5u) << drill.out;
  for (const std::string& line : lines) {
    nlohmann::json policy = nlohmann::json::parse(line);
    SCOPED_TRACE(policy["policy"].get<std::string>());
    EXPECT_EQ(policy["seed"], 11);
    EXPECT_EQ(policy["mode"], "torn");
    EXPECT_EQ(policy["crashes"], 3);
    EXPECT_EQ(policy["durable_lost"], 0);
    EXPECT_EQ(policy["command"], "quipu drill --policy " + policy["policy"].get<std::string>() +
                                     " --iterations 3 --seed 11 --mode torn --json");
  }
}

TEST_F(CliTest, DrillRejectsAnUnknownPolicy) {
  RunResult drill = Run({"drill", "--policy", "sometimes", "--iterations", "1"});
  EXPECT_NE(drill.exit_code, 0);
  EXPECT_FALSE(drill.err.empty());
}

TEST_F(CliTest, StatText) {
  ASSERT_EQ(Ingest("a\nb\n").exit_code, 0);
  RunResult stat = Run({"stat", log_dir_});
  ASSERT_EQ(stat.exit_code, 0) << stat.err;
  EXPECT_NE(stat.out.find("records"), std::string::npos) << stat.out;
  EXPECT_NE(stat.out.find("last lsn"), std::string::npos) << stat.out;
}

TEST_F(CliTest, CheckCleanExits0) {
  ASSERT_EQ(Ingest("a\nb\nc\nd\ne\n").exit_code, 0);
  RunResult check = Run({"check", log_dir_});
  EXPECT_EQ(check.exit_code, 0) << check.err;
  EXPECT_EQ(check.out, "ok: 5 records in 1 segments\n");
}

TEST_F(CliTest, CheckCorruptedExits1NamesFileAndOffset) {
  std::string input;
  for (int i = 0; i < 2000; i++) input += "record number " + std::to_string(i) + " padding\n";
  RunResult ingest =
      Run({"ingest", log_dir_, "--durability", "os", "--segment-size", "4096"}, input);
  ASSERT_EQ(ingest.exit_code, 0) << ingest.err;
  nlohmann::json summary = nlohmann::json::parse(Run({"stat", log_dir_, "--json"}).out);
  ASSERT_GE(summary["segments"].size(), 3u);
  const nlohmann::json& sealed = summary["segments"][1];
  ASSERT_TRUE(sealed["sealed"].get<bool>());
  std::string file = sealed["file"];

  fs::path path = fs::path(log_dir_) / file;
  std::fstream seg(path, std::ios::in | std::ios::out | std::ios::binary);
  std::streamoff middle = sealed["bytes"].get<std::streamoff>() / 2;
  seg.seekg(middle);
  char c = 0;
  seg.get(c);
  seg.seekp(middle);
  seg.put(static_cast<char>(c ^ 0x40));
  seg.close();

  RunResult check = Run({"check", log_dir_});
  EXPECT_EQ(check.exit_code, 1);
  EXPECT_EQ(check.out, "");
  EXPECT_EQ(check.err.rfind("quipu check: ", 0), 0u) << check.err;
  EXPECT_NE(check.err.find(file), std::string::npos) << check.err;
  EXPECT_NE(check.err.find("offset"), std::string::npos) << check.err;
}

TEST_F(CliTest, IngestSecondOpenerFailsNamingPid) {
  Result<std::unique_ptr<Log>> held = Log::Open(log_dir_, LogOptions());
  ASSERT_TRUE(held.ok()) << held.status().ToString();
  RunResult ingest = Ingest("x\n");
  EXPECT_EQ(ingest.exit_code, 1);
  EXPECT_EQ(ingest.err.rfind("quipu ingest: ", 0), 0u) << ingest.err;
  EXPECT_NE(ingest.err.find("pid"), std::string::npos) << ingest.err;
  EXPECT_EQ(SplitLines(ingest.err).size(), 1u) << ingest.err;
  EXPECT_TRUE((*held)->Close().ok());
}

TEST_F(CliTest, DumpOfMissingLogFails) {
  RunResult dump = Run({"dump", (tmp_ / "nothing-here").string()});
  EXPECT_EQ(dump.exit_code, 1);
  EXPECT_EQ(dump.err.rfind("quipu dump: ", 0), 0u) << dump.err;
}

TEST_F(CliTest, HelpForEachVerb) {
  for (const char* verb : {"ingest", "dump", "stat", "check", "demo", "drill"}) {
    SCOPED_TRACE(verb);
    RunResult help = Run({verb, "--help"});
    EXPECT_EQ(help.exit_code, 0) << help.err;
    EXPECT_NE(help.out.find(verb), std::string::npos) << help.out;
  }
  RunResult top = Run({"--help"});
  EXPECT_EQ(top.exit_code, 0);
  EXPECT_NE(top.out.find("ingest"), std::string::npos);
}

TEST_F(CliTest, BadDurabilityIsUsageError) {
  RunResult ingest = Ingest("x\n", "sometimes");
  EXPECT_EQ(ingest.exit_code, 2);
  EXPECT_EQ(SplitLines(ingest.err).size(), 1u) << ingest.err;
  EXPECT_NE(ingest.err.find("durability"), std::string::npos) << ingest.err;
  EXPECT_FALSE(fs::exists(log_dir_));
}

TEST_F(CliTest, MissingArgumentIsUsageError) {
  EXPECT_EQ(Run({"dump"}).exit_code, 2);
  EXPECT_EQ(Run({}).exit_code, 2);
  EXPECT_EQ(Run({"frobnicate"}).exit_code, 2);
}

TEST_F(CliTest, VersionIsTheProjectVersion) {
  RunResult version = Run({"--version"});
  EXPECT_EQ(version.exit_code, 0) << version.err;
  EXPECT_EQ(version.out, std::string("quipu ") + QUIPU_VERSION + "\n");
}

TEST_F(CliTest, UnknownCommandIsNamed) {
  RunResult bogus = Run({"bogus", "--flag"});
  EXPECT_EQ(bogus.exit_code, 2);
  EXPECT_EQ(bogus.err, "quipu: unknown command 'bogus' (see --help)\n");
  EXPECT_EQ(bogus.out, "");
}

TEST_F(CliTest, DemoRunsSmall) {
  std::string dir = (tmp_ / "demo").string();
  RunResult demo = Run({"demo", "--records", "200", "--dir", dir});
  ASSERT_EQ(demo.exit_code, 0) << demo.err;
  int rows = 0;
  for (const std::string& line : SplitLines(demo.out)) {
    for (const char* policy : {"always ", "every:64 ", "every:1000,20 ", "group ", "os "}) {
      if (line.rfind(policy, 0) == 0) rows++;
    }
  }
  EXPECT_EQ(rows, 5) << demo.out;
  for (const char* sub : {"always", "every-64", "every-1000-20", "group", "os"}) {
    EXPECT_TRUE(fs::is_directory(fs::path(dir) / sub)) << sub;
  }
  RunResult dump = Run({"dump", dir + "/os"});
  EXPECT_EQ(SplitLines(dump.out).size(), 200u);
  // The audit part: 10 events, a row found by the document's name, a proof checked.
  EXPECT_NE(demo.out.find("audit store: 10 events"), std::string::npos) << demo.out;
  EXPECT_NE(demo.out.find("query by the old name \"Document 7\""), std::string::npos) << demo.out;
  EXPECT_NE(demo.out.find("inclusion proof of log row 1 (LSN 1, 4 hashes): verified"),
            std::string::npos)
      << demo.out;
  EXPECT_EQ(Run({"verify", dir + "/audit"}).exit_code, 0);
}

TEST_F(CliTest, DemoRefusesToRemoveForeignFiles) {
  std::string dir = (tmp_ / "demo").string();
  fs::create_directories(fs::path(dir) / "always");
  WriteFile(fs::path(dir) / "always" / "notes.txt", "mine");
  RunResult demo = Run({"demo", "--records", "20", "--dir", dir});
  EXPECT_EQ(demo.exit_code, 1);
  EXPECT_NE(demo.err.find("notes.txt"), std::string::npos) << demo.err;
  EXPECT_EQ(ReadFile(fs::path(dir) / "always" / "notes.txt"), "mine");
}

// Each kind of store records what it is, and a writer of the other kind is
// refused before it appends anything (the store stays usable).
TEST_F(CliTest, PlainAndAuditWritersRefuseEachOthersStores) {
  const std::string event = R"({"actor":{"type":"default_actor","id":"1"},"method":"m"})";
  const std::string audit = Path("audit");
  RunOk({"emit", audit, "--json", event});
  RunResult ingest = Run({"ingest", audit}, "plain\n");
  EXPECT_EQ(ingest.exit_code, 1);
  EXPECT_NE(ingest.err.find("this is an audit store"), std::string::npos) << ingest.err;
  EXPECT_EQ(ingest.out, "");
  EXPECT_NE(RunOk({"stat", audit}).find("kind           audit store"), std::string::npos);
  RunOk({"emit", audit, "--json", event});
  EXPECT_NE(RunOk({"query", audit}).find("m"), std::string::npos);

  RunOk({"ingest", dir_}, "plain\n");
  RunResult emit = Run({"emit", dir_, "--json", event});
  EXPECT_EQ(emit.exit_code, 1);
  EXPECT_NE(emit.err.find("this is a plain log"), std::string::npos) << emit.err;
  EXPECT_EQ(Run({"query", dir_}).exit_code, 1);
  EXPECT_NE(RunOk({"stat", dir_}).find("kind           plain log"), std::string::npos);
}

// Read verbs on a directory that holds no log say so, instead of
// describing an empty log.
TEST_F(CliTest, ReadVerbsOnADirectoryThatIsNoLogSaySo) {
  const std::string random = Path("random");
  fs::create_directories(random);
  WriteFile(random + "/data.bin", "not a log");
  for (const char* verb : {"verify", "check", "stat", "dump", "root"}) {
    RunResult r = Run({verb, random});
    EXPECT_EQ(r.exit_code, 1) << verb;
    EXPECT_NE(r.err.find("not a quipu log"), std::string::npos) << verb << ": " << r.err;
  }
  RunResult ingest = Run({"ingest", random}, "x\n");
  EXPECT_EQ(ingest.exit_code, 1);
  EXPECT_NE(ingest.err.find("refusing to create a log there"), std::string::npos) << ingest.err;
}

// The demo used to delete <dir>/<policy> and <dir>/audit, records and all.
TEST_F(CliTest, DemoRefusesAStoreWithRecordsAndKeepsIt) {
  const fs::path dir = tmp_ / "demo";
  fs::create_directory(dir);
  for (const char* sub : {"always", "audit"}) {
    SCOPED_TRACE(sub);
    const std::string store = (dir / sub).string();
    RunOk({"ingest", store}, "1\n2\n3\n");
    RunResult demo = Run({"demo", "--records", "20", "--dir", dir.string()});
    EXPECT_EQ(demo.exit_code, 1);
    EXPECT_EQ(demo.err.rfind("quipu demo: ", 0), 0u) << demo.err;
    EXPECT_NE(demo.err.find(store + " holds a log with 3 records; remove it or pick another --dir"),
              std::string::npos)
        << demo.err;
    EXPECT_EQ(demo.out, "");  // refused before any work
    EXPECT_EQ(SplitLines(RunOk({"dump", store})).size(), 3u);
    RunOk({"check", store});
    EXPECT_FALSE(fs::exists(dir / "every-64"));
    fs::remove_all(store);
  }
}

TEST_F(CliTest, DemoUsesEmptyDirectories) {
  const fs::path dir = tmp_ / "demo";
  for (const char* sub : {"always", "audit"}) fs::create_directories(dir / sub);
  RunResult demo = Run({"demo", "--records", "20", "--dir", dir.string()});
  EXPECT_EQ(demo.exit_code, 0) << demo.err;
}

TEST_F(CliTest, DemoAppendsToAnEmptyLogLeftByAFailedRun) {
  const fs::path dir = tmp_ / "demo";
  fs::create_directory(dir);
  RunOk({"ingest", (dir / "always").string()});  // a log with no records
  RunResult demo = Run({"demo", "--records", "20", "--dir", dir.string()});
  ASSERT_EQ(demo.exit_code, 0) << demo.err;
  EXPECT_EQ(SplitLines(RunOk({"dump", (dir / "always").string()})).size(), 1u);  // 20 / 20
  RunResult again = Run({"demo", "--records", "20", "--dir", dir.string()});
  EXPECT_EQ(again.exit_code, 1);
  EXPECT_NE(again.err.find("holds a log with"), std::string::npos) << again.err;
}

}  // namespace
}  // namespace quipu
