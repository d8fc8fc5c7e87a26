// Black-box tests of how the `quipu` verbs take what they are given: numbers
// on the command line, line endings on stdin, hostile names in error
// messages, and failed runs that must not leave a new store behind.
#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "cli/cli_runner.h"

namespace quipu {
namespace {

namespace fs = std::filesystem;

using clitest::RunResult;
using clitest::SplitLines;
using clitest::WriteFile;
using nlohmann::json;

class CliInputTest : public clitest::CliFixture {
 protected:
  // Expects a usage error: exit 2 and one line "quipu <verb>: ..." naming `flag`.
  void ExpectUsageError(const std::vector<std::string>& args, const std::string& flag) {
    std::string shown;
    for (const std::string& a : args) shown += a + " ";
    SCOPED_TRACE("quipu " + shown);
    RunResult r = Run(args);
    EXPECT_EQ(r.exit_code, 2) << r.err;
    EXPECT_EQ(r.out, "");
    ASSERT_EQ(SplitLines(r.err).size(), 1u) << r.err;
    EXPECT_EQ(r.err.rfind("quipu " + args[0] + ": " + flag + ": ", 0), 0u) << r.err;
  }

  // Expects exit 1 and one line of stderr; returns it.
  std::string ExpectOneLineFailure(const std::vector<std::string>& args, std::string_view input) {
    RunResult r = Run(args, input);
    EXPECT_EQ(r.exit_code, 1) << r.err;
    EXPECT_EQ(SplitLines(r.err).size(), 1u) << r.err.substr(0, 400);
    return r.err;
  }
};

// CLI11 converts with strtoull, which wraps "-1" to 2^64 - 1, reads "0x10"
// as hex and saturates on overflow; every unsigned option must refuse those.
TEST_F(CliInputTest, UnsignedArgumentsRefuseNegativeNonDecimalAndOutOfRangeValues) {
  ASSERT_EQ(Run({"ingest", dir_}, "a\nb\nc\n").exit_code, 0);
  const std::string scratch = Path("scratch");
  fs::create_directory(scratch);  // so that the runs below fail only on their numbers
  const std::string fresh = Path("fresh");
  ExpectUsageError({"dump", dir_, "--from", "-1"}, "--from");
  ExpectUsageError({"dump", dir_, "--from", "99999999999999999999"}, "--from");
  ExpectUsageError({"dump", dir_, "--from", "0x2"}, "--from");
  ExpectUsageError({"prove", dir_, "-1"}, "lsn");
  ExpectUsageError({"prove", dir_, "--log-id", "-1"}, "--log-id");
  ExpectUsageError({"prove", dir_, "1", "--size", "-1"}, "--size");
  ExpectUsageError({"root", dir_, "--size", "-1"}, "--size");
  ExpectUsageError({"consistency", dir_, "--old", "-1"}, "--old");
  ExpectUsageError({"consistency", dir_, "--old", "1", "--new", "-1"}, "--new");
  ExpectUsageError({"verify-proof", "--proof", Path("p.json"), "--size", "-1"}, "--size");
  ExpectUsageError({"query", dir_, "--limit", "0x10"}, "--limit");
  ExpectUsageError({"ingest", fresh, "--segment-size", "-1"}, "--segment-size");
  EXPECT_FALSE(fs::exists(fresh));
  // Each of these would have run (a tiny run) with the wrapped value.
  ExpectUsageError({"bench", "--records", "-18446744073709551615", "--dir", scratch}, "--records");
  ExpectUsageError({"bench", "--writers", "+2", "--records", "9", "--dir", scratch}, "--writers");
  ExpectUsageError({"bench", "--size", " 64", "--records", "9", "--dir", scratch}, "--size");
  ExpectUsageError({"drill", "--policy", "os", "--iterations", "1", "--seed", "-1"}, "--seed");
  ExpectUsageError({"demo", "--records", "1", "--size", "-4294967295", "--dir", scratch}, "--size");
}

TEST_F(CliInputTest, UnsignedArgumentsTakePlainDecimals) {
  ASSERT_EQ(Run({"ingest", dir_}, "a\nb\nc\n").exit_code, 0);
  EXPECT_EQ(RunOk({"dump", dir_, "--from", "2"}), "b\nc\n");
  EXPECT_EQ(RunOk({"dump", dir_, "--from", "0002"}), "b\nc\n");  // decimal, never octal
  EXPECT_EQ(json::parse(RunOk({"prove", dir_, "3", "--json"}))["leaf_index"], 2);
  EXPECT_EQ(json::parse(RunOk({"root", dir_, "--size", "2", "--json"}))["tree_size"], 2);
}

// A 100 KB type name with a NUL near its start: the error stays one short
// line, and shows the NUL escaped instead of ending the message there.
TEST_F(CliInputTest, ErrorsQuoteHugeNamesShortAndEscapeNul) {
  const std::string name = "ab" + std::string(1, '\0') + std::string(100000, 'x');
  const json event = {{"actor", {{"type", name}, {"id", "1"}}}};
  std::string err = ExpectOneLineFailure({"emit", dir_, "--stdin"}, event.dump() + "\n");
  EXPECT_LT(err.size(), 300u) << err.substr(0, 400);
  EXPECT_NE(err.find("unknown entity type 'ab\\x00xxx"), std::string::npos) << err;
  EXPECT_NE(err.find("(100003 bytes)"), std::string::npos) << err;

  const json schema = {{"name", name}};
  err = ExpectOneLineFailure({"define-type", dir_, "--json", schema.dump()}, "");
  EXPECT_LT(err.size(), 300u) << err.substr(0, 400);
  EXPECT_NE(err.find("'ab\\x00xxx"), std::string::npos) << err;

  err = ExpectOneLineFailure({"drill", "--policy", std::string(100000, 'p')}, "");
  EXPECT_LT(err.size(), 300u) << err.substr(0, 400);
}

TEST_F(CliInputTest, EventAndQueryErrorsQuoteHugeInputsShort) {
  const std::string key = "ke" + std::string(1, '\0') + std::string(100000, 'y');
  json event = {{"actor", {{"type", "default_actor"}, {"id", "1"}}}, {key, 1}};
  std::string err = ExpectOneLineFailure({"emit", dir_, "--stdin"}, event.dump() + "\n");
  EXPECT_LT(err.size(), 300u) << err.substr(0, 400);
  EXPECT_NE(err.find("unknown key 'ke\\x00yyy"), std::string::npos) << err;

  event.erase(key);
  ASSERT_EQ(Run({"emit", dir_, "--json", event.dump()}).exit_code, 0);
  err = ExpectOneLineFailure({"query", dir_, "--column", std::string(100000, 'c')}, "");
  EXPECT_LT(err.size(), 300u) << err.substr(0, 400);
  EXPECT_NE(err.find("(100000 bytes)"), std::string::npos) << err;
}

TEST_F(CliInputTest, IngestDropsTheCarriageReturnOfCrlfLines) {
  ASSERT_EQ(Run({"ingest", dir_}, "a\r\nb\r\nc\r").exit_code, 0);
  std::vector<std::string> lines = SplitLines(RunOk({"dump", dir_, "--json"}));
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(json::parse(lines[0])["payload"], "a");
  EXPECT_EQ(json::parse(lines[1])["payload"], "b");
  EXPECT_EQ(json::parse(lines[2])["payload"], "c");
}

TEST_F(CliInputTest, IngestKeepsACarriageReturnInsideALine) {
  ASSERT_EQ(Run({"ingest", dir_}, "a\rb\n\r\r\n").exit_code, 0);
  EXPECT_EQ(RunOk({"dump", dir_}), "a\rb\n\r\n");
}

// --- a failed run leaves no new store behind --------------------------------

constexpr char kGoodEvent[] = R"({"actor":{"type":"default_actor","id":"1"}})";
constexpr char kUnknownType[] = R"({"actor":{"type":"robot","id":"1"}})";

TEST_F(CliInputTest, FailedEmitDoesNotCreateTheStore) {
  WriteFile(Path("bad.pem"), "not a key\n");
  const std::vector<std::vector<std::string>> runs = {
      {"emit", dir_, "--json", "{\"actor\": "},                                 // invalid JSON
      {"emit", dir_, "--json", kUnknownType},                                   // needs the store
      {"emit", dir_, "--json", kGoodEvent, "--signing-key", Path("bad.pem")},   // bad key file
      {"emit", dir_, "--json", kGoodEvent, "--signing-key", Path("none.pem")},  // no key file
  };
  for (const std::vector<std::string>& args : runs) {
    SCOPED_TRACE(args[3]);
    ExpectOneLineFailure(args, "");
    EXPECT_FALSE(fs::exists(dir_));
  }
  ExpectOneLineFailure({"emit", dir_, "--stdin"}, std::string(kUnknownType) + "\n");
  EXPECT_FALSE(fs::exists(dir_));
}

TEST_F(CliInputTest, FailedIngestDoesNotCreateTheLog) {
  WriteFile(Path("bad.pem"), "not a key\n");
  ExpectOneLineFailure({"ingest", dir_, "--signing-key", Path("bad.pem")}, "a\n");
  EXPECT_FALSE(fs::exists(dir_));
  ExpectOneLineFailure({"ingest", dir_, "--segment-size", "10"}, "a\n");
  EXPECT_FALSE(fs::exists(dir_));
  // Found only with the log open: the first line is too long for its segments.
  ExpectOneLineFailure({"ingest", dir_, "--segment-size", "4096"}, std::string(3000, 'x') + "\n");
  EXPECT_FALSE(fs::exists(dir_));
}

TEST_F(CliInputTest, RefusedDefinitionDoesNotCreateTheStore) {
  // Each is refused only once the store is open (the names are checked there).
  ExpectOneLineFailure(
      {"define-type", dir_, "--json", R"({"name":"bad name!","fields":[{"name":"a"}]})"}, "");
  EXPECT_FALSE(fs::exists(dir_));
  ExpectOneLineFailure({"define-column", dir_, "bad name!", "text"}, "");
  EXPECT_FALSE(fs::exists(dir_));
}

TEST_F(CliInputTest, FailedRunKeepsAStoreHoldingRecords) {
  RunResult r =
      Run({"emit", dir_, "--stdin"}, std::string(kGoodEvent) + "\n" + kUnknownType + "\n");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(json::parse(RunOk({"stat", dir_, "--json"}))["records"], 1);

  std::string log = Path("log");
  r = Run({"ingest", log, "--segment-size", "4096"}, "short\n" + std::string(3000, 'x') + "\n");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(RunOk({"dump", log}), "short\n");
}

TEST_F(CliInputTest, FailedRunKeepsADirectoryThatExistedBefore) {
  fs::create_directory(dir_);
  ExpectOneLineFailure({"emit", dir_, "--json", kUnknownType}, "");
  EXPECT_TRUE(fs::is_directory(dir_));
}

}  // namespace
}  // namespace quipu
