// Black-box tests of the access log from the CLI: `access-log enable`, each
// read verb recorded before it prints (as the OS user, with the shape of the
// filter and never its values), `query --access`, and a read that cannot be
// recorded failing without output.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "cli/audit_fixture.h"

namespace quipu::clitest {
namespace {

using nlohmann::json;

constexpr const char* kSecret = "secret-needle-31337";

class AccessLogCliTest : public AuditFixture {
 protected:
  void SetUp() override {
    AuditFixture::SetUp();
    DefineSchema();
    ASSERT_EQ(Emit(DocEvent("u1", "d1", "Q3 plan")).exit_code, 0);
    ASSERT_EQ(Emit(DocEvent("u2", "d2", "Q4 plan")).exit_code, 0);
  }

  std::string AccessDir() const { return dir_ + "/access"; }

  // The access log's rows, oldest first.
  std::vector<json> AccessRows() {
    std::vector<json> rows;
    for (const std::string& line :
         SplitLines(RunOk({"query", dir_, "--access", "--oldest-first", "--json"}))) {
      json row = json::parse(line);
      if (row.contains("log_id")) rows.push_back(row);
    }
    return rows;
  }

  static bool FileHolds(const fs::path& path, const std::string& needle) {
    return ReadFile(path).find(needle) != std::string::npos;
  }
};

TEST_F(AccessLogCliTest, WithoutItReadsRecordNothing) {
  RunOk({"query", dir_});
  EXPECT_FALSE(fs::exists(AccessDir()));
  ExpectRefused(Run({"query", dir_, "--access"}), "query", {"access"});
}

TEST_F(AccessLogCliTest, EnableNeedsAnAuditStore) {
  RunOk({"ingest", Path("plain")}, "one\n");
  ExpectRefused(Run({"access-log", "enable", Path("plain")}), "access-log enable",
                {"not an audit store"});
  EXPECT_EQ(Run({"access-log", "enable", Path("missing")}).exit_code, 1);
  RunOk({"access-log", "enable", dir_});
  RunOk({"access-log", "enable", dir_});  // again: nothing changes
}

TEST_F(AccessLogCliTest, EveryReadVerbIsRecordedWithItsShapeAndNeverItsValues) {
  RunOk({"access-log", "enable", dir_});
  RunOk({"query", dir_, "--target", std::string("document.title=") + kSecret, "--column",
         std::string("tenant=") + kSecret, "--limit", "5"});
  RunOk({"history", dir_, "document", "d1"});
  RunOk({"entities", dir_, "user"});
  RunOk({"types", dir_});
  RunOk({"export", dir_, "--actor-prefix", std::string("user.email=") + kSecret});
  RunOk({"root", dir_});
  RunOk({"prove", dir_, "--log-id", "1"});
  RunOk({"consistency", dir_, "--old", "3"});
  RunOk({"dump", dir_});

  std::vector<json> rows = AccessRows();
  std::vector<std::string> verbs;
  for (const json& row : rows) verbs.push_back(row["method"]);
  EXPECT_EQ(verbs, (std::vector<std::string>{"query", "history", "entities", "types", "export",
                                             "root", "prove", "consistency", "dump"}));
  for (const json& row : rows) {
    EXPECT_EQ(row["actor"]["id"].get<std::string>().rfind("os:", 0), 0u) << row;
  }
  EXPECT_EQ(rows[0]["content"],
            json::parse(R"({"rows":0,"shape":{"columns":["tenant"],"limit":5,)"
                        R"("order":"newest_first","targets":[{"field":"title","op":"exact",)"
                        R"("type":"document"}]}})"));
  EXPECT_EQ(rows[1]["content"], json::parse(R"({"rows":1,"shape":{"type":"document"}})"));
  EXPECT_EQ(rows[2]["content"]["rows"], 2);
  EXPECT_TRUE(rows[4]["content"]["rows"].is_null()) << "an export is recorded before its rows";
  EXPECT_EQ(rows[4]["content"]["shape"]["actor"]["op"], "prefix");
  EXPECT_EQ(rows[6]["content"]["shape"]["by"], "log_id");

  // Not one byte of the searched values in any file of the access log.
  for (const auto& entry : fs::recursive_directory_iterator(AccessDir())) {
    if (entry.is_regular_file()) EXPECT_FALSE(FileHolds(entry.path(), kSecret)) << entry.path();
  }
  // Reading the access log is not itself recorded; it has a tree of its own.
  EXPECT_EQ(AccessRows().size(), rows.size());
  RunOk({"verify", AccessDir()});
}

TEST_F(AccessLogCliTest, AReadThatCannotBeRecordedFailsAndShowsNothing) {
  RunOk({"access-log", "enable", dir_});
  RunOk({"query", dir_});
  // Damage the access log's only segment where recovery may not cut it:
  // its header.
  fs::path segment;
  for (const auto& entry : fs::directory_iterator(AccessDir())) {
    if (entry.path().extension() == ".qlog") segment = entry.path();
  }
  ASSERT_FALSE(segment.empty());
  std::string bytes = ReadFile(segment);
  bytes[0] ^= 0xFF;
  WriteFile(segment, bytes);
  for (const std::vector<std::string>& read :
       {std::vector<std::string>{"query", dir_, "--json"},
        std::vector<std::string>{"history", dir_, "document", "d1"},
        std::vector<std::string>{"export", dir_}, std::vector<std::string>{"root", dir_}}) {
    RunResult r = Run(read);
    EXPECT_EQ(r.exit_code, 1) << read[0] << ": " << r.err;
    EXPECT_EQ(r.out, "") << read[0];
    EXPECT_NE(r.err.find("access log"), std::string::npos) << r.err;
  }
}

}  // namespace
}  // namespace quipu::clitest
