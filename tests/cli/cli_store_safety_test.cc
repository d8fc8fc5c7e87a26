// The `quipu` binary in a hostile or odd process environment: started with
// stdin, stdout or stderr closed, or on a store directory where whoever can
// write it has planted symbolic links. Each test replays a way records were
// lost or a file outside the store was clobbered.
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "cli/cli_runner.h"

namespace quipu::clitest {
namespace {

using nlohmann::json;

class StoreSafetyTest : public CliFixture {
 protected:
  // The payloads of `dir`'s records, in LSN order.
  std::vector<std::string> Payloads(const std::string& dir) {
    std::vector<std::string> payloads;
    for (const std::string& line : SplitLines(RunOk({"dump", dir, "--json"}))) {
      payloads.push_back(json::parse(line)["payload"].get<std::string>());
    }
    return payloads;
  }

  // A file outside the store holding "keep\n", and a link to it at `dir/name`.
  std::string PlantLink(const std::string& name) {
    std::string victim = Path("victim.txt");
    WriteFile(victim, "keep\n");
    fs::create_symlink(victim, fs::path(dir_) / name);
    return victim;
  }

  static void ExpectRefusal(const RunResult& r, const std::string& verb, const std::string& name) {
    EXPECT_EQ(r.exit_code, 1) << r.err;
    EXPECT_EQ(r.err.rfind("quipu " + verb + ": ", 0), 0u) << r.err;
    EXPECT_NE(r.err.find("/" + name + " is a symbolic link; refusing to follow it"),
              std::string::npos)
        << r.err;
  }
};

// A closed stderr made the active segment fd 2, and the failing anchor's
// warning was written over the segment header: three durable records lost.
TEST_F(StoreSafetyTest, IngestWithStdoutAndStderrClosedKeepsEveryRecord) {
  const std::string key = Path("k.pem");
  RunOk({"keygen", "--out", key});
  RunResult ingest = Run({"ingest", dir_, "--signing-key", key, "--anchor-cmd", "exit 3"},
                         "a\nb\nc\n", WithClosedFds({1, 2}));
  EXPECT_EQ(ingest.exit_code, 0);
  RunOk({"check", dir_});
  EXPECT_EQ(Payloads(dir_), (std::vector<std::string>{"a", "b", "c"}));
  RunOk({"verify", dir_, "--public-key", key + ".pub"});
}

// A closed stdin made LOCK fd 0, so ingest read its own pid as a record.
TEST_F(StoreSafetyTest, IngestWithStdinClosedAppendsNothing) {
  RunResult ingest = Run({"ingest", dir_}, "", WithClosedFds({0}));
  EXPECT_EQ(ingest.exit_code, 0) << ingest.err;
  EXPECT_TRUE(Payloads(dir_).empty());
}

TEST_F(StoreSafetyTest, PlantedLockLinkIsRefusedAndItsTargetKept) {
  RunOk({"ingest", dir_});
  fs::remove(fs::path(dir_) / "LOCK");
  const std::string victim = PlantLink("LOCK");
  ExpectRefusal(Run({"ingest", dir_}, "y\n"), "ingest", "LOCK");
  EXPECT_EQ(ReadFile(victim), "keep\n");
  EXPECT_TRUE(Payloads(dir_).empty());
}

// A checkpoint that cannot be written is a warning, never a reason to stop
// taking records (anchor.h); the link is still refused, and verify says so.
TEST_F(StoreSafetyTest, PlantedCheckpointsLinkIsRefusedAndItsTargetKept) {
  const std::string key = Path("k.pem");
  RunOk({"keygen", "--out", key});
  RunOk({"ingest", dir_}, "a\n");
  const std::string victim = PlantLink("CHECKPOINTS");
  RunResult ingest = Run({"ingest", dir_, "--signing-key", key}, "b\n");
  EXPECT_EQ(ingest.exit_code, 0) << ingest.err;
  EXPECT_NE(ingest.err.find("quipu ingest: warning: "), std::string::npos) << ingest.err;
  EXPECT_NE(ingest.err.find("/CHECKPOINTS is a symbolic link; refusing to follow it"),
            std::string::npos)
      << ingest.err;
  EXPECT_EQ(ReadFile(victim), "keep\n");
  ExpectRefusal(Run({"verify", dir_, "--public-key", key + ".pub"}), "verify", "CHECKPOINTS");
  EXPECT_EQ(ReadFile(victim), "keep\n");
}

// Readers must not read a planted segment's target as if it were the store's.
TEST_F(StoreSafetyTest, ReadVerbsRefuseALinkedSegment) {
  RunOk({"ingest", dir_}, "a\nb\n");
  const std::string segment = "00000000000000000001.qlog";
  fs::rename(fs::path(dir_) / segment, Path("elsewhere.qlog"));
  fs::create_symlink(Path("elsewhere.qlog"), fs::path(dir_) / segment);
  for (const char* verb : {"dump", "check", "verify"}) {
    SCOPED_TRACE(verb);
    ExpectRefusal(Run({verb, dir_}), verb, segment);
  }
}

TEST_F(StoreSafetyTest, StoreDirectoryMayBeASymlink) {
  fs::create_directory(Path("real"));
  fs::create_directory_symlink(Path("real"), dir_);
  RunOk({"ingest", dir_}, "a\n");
  RunOk({"ingest", dir_}, "b\n");
  RunOk({"check", dir_});
  EXPECT_EQ(Payloads(Path("real")), (std::vector<std::string>{"a", "b"}));
}

}  // namespace
}  // namespace quipu::clitest
