// Black-box tests of `quipu token create|list|revoke`.
#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <sys/stat.h>

#include <chrono>
#include <ctime>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "cli/cli_runner.h"

namespace quipu {
namespace {

namespace fs = std::filesystem;

using clitest::ReadFile;
using clitest::RunResult;
using clitest::SplitLines;
using clitest::WriteFile;
using nlohmann::json;

std::string Sha256Hex(const std::string& text) {
  unsigned char digest[32];
  unsigned int len = 0;
  EXPECT_EQ(EVP_Digest(text.data(), text.size(), digest, &len, EVP_sha256(), nullptr), 1);
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string hex;
  for (unsigned int i = 0; i < len; ++i) {
    hex += kDigits[digest[i] >> 4];
    hex += kDigits[digest[i] & 0xF];
  }
  return hex;
}

int64_t NowSeconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// "2027-01-01T00:00", the minute of `seconds` since the epoch, in UTC.
std::string Rfc3339Minute(int64_t seconds) {
  const std::time_t t = static_cast<std::time_t>(seconds);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M", &tm);
  return text;
}

class TokenCliTest : public clitest::CliFixture {
 protected:
  // Runs `token create --config FILE --json args...`; returns its JSON.
  json Create(std::vector<std::string> args) {
    args.insert(args.begin(), {"token", "create", "--config", config_, "--json"});
    std::string out = RunOk(std::move(args));
    std::vector<std::string> lines = SplitLines(out);
    EXPECT_EQ(lines.size(), 1u) << out;
    return lines.empty() ? json() : json::parse(lines[0]);
  }

  json ListJson() { return json::parse(RunOk({"token", "list", "--config", config_, "--json"})); }

  void SetUp() override {
    CliFixture::SetUp();
    config_ = Path("tokens.json");
  }

  std::string config_;
};

TEST_F(TokenCliTest, CreatePrintsATokenWhoseHashIsAllTheFileKeeps) {
  json created = Create({"--grant", "emit,query", "--scope", "tenant=acme"});
  const std::string token = created["token"];
  ASSERT_EQ(token.size(), 68u);
  EXPECT_EQ(token.substr(0, 4), "qpt_");
  const std::string hash = Sha256Hex(token);
  EXPECT_EQ(created["id"], "t_" + hash.substr(0, 8));
  EXPECT_EQ(created["grants"], json({"emit", "query"}));
  EXPECT_TRUE(created["expires"].is_null());
  EXPECT_EQ(created["scope"], json({{"column", "tenant"}, {"value", "acme"}}));

  const json file = json::parse(ReadFile(config_));
  ASSERT_EQ(file["tokens"].size(), 1u);
  EXPECT_EQ(file["tokens"][0]["hash"], "sha256:" + hash);
  EXPECT_EQ(file["tokens"][0]["id"], created["id"]);
  EXPECT_EQ(ReadFile(config_).find(token.substr(4)), std::string::npos);
  struct stat st {};
  ASSERT_EQ(::stat(config_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0600u);
  EXPECT_FALSE(fs::exists(config_ + ".tmp"));
}

TEST_F(TokenCliTest, CreateTextShowsTheIdAndTheTokenOnce) {
  std::string out = RunOk({"token", "create", "--config", config_, "--grant", "admin"});
  std::vector<std::string> lines = SplitLines(out);
  ASSERT_GE(lines.size(), 2u) << out;
  EXPECT_EQ(lines[0].rfind("id     t_", 0), 0u) << out;
  ASSERT_EQ(lines[1].rfind("token  qpt_", 0), 0u) << out;
  const std::string token = lines[1].substr(7);
  const json file = json::parse(ReadFile(config_));
  EXPECT_EQ(file["tokens"][0]["hash"], "sha256:" + Sha256Hex(token));
  EXPECT_EQ(file["tokens"][0]["grants"], json({"admin"}));
}

TEST_F(TokenCliTest, ExpiresTakesADurationFromNowOrAnRfc3339Time) {
  const int64_t before = NowSeconds();
  json in_30_days = Create({"--grant", "query", "--expires", "30d"});
  const int64_t after = NowSeconds();
  ASSERT_TRUE(in_30_days["expires"].is_string());
  // To the minute: 30 days from some moment between `before` and `after`.
  const std::string expires = in_30_days["expires"].get<std::string>().substr(0, 16);
  EXPECT_TRUE(expires == Rfc3339Minute(before + 30 * 86400) ||
              expires == Rfc3339Minute(after + 30 * 86400))
      << expires;
  const json listed = ListJson()["tokens"][0];
  EXPECT_EQ(listed["expires"], in_30_days["expires"]);
  EXPECT_EQ(listed["expired"], false);

  json at = Create({"--grant", "query", "--expires", "2999-01-01T00:00:00+01:00"});
  EXPECT_EQ(at["expires"], "2998-12-31T23:00:00.000000Z");
  for (const char* d : {"12h", "90m", "999999d"}) Create({"--grant", "query", "--expires", d});
}

TEST_F(TokenCliTest, ListShowsEntriesButNeverHashes) {
  json a = Create({"--grant", "emit", "--name", "billing service", "--scope", "tenant=acme",
                   "--expires", "2999-01-01"});
  json b = Create({"--grant", "query,admin"});
  std::string out = RunOk({"token", "list", "--config", config_});
  EXPECT_NE(out.find(a["id"].get<std::string>()), std::string::npos) << out;
  EXPECT_NE(out.find(b["id"].get<std::string>()), std::string::npos) << out;
  EXPECT_NE(out.find("billing service"), std::string::npos) << out;
  EXPECT_NE(out.find("tenant=acme"), std::string::npos) << out;
  EXPECT_NE(out.find("query,admin"), std::string::npos) << out;
  EXPECT_NE(out.find("2999-01-01T00:00:00.000000Z"), std::string::npos) << out;
  EXPECT_NE(out.find("never"), std::string::npos) << out;
  const std::string hash_hex = Sha256Hex(a["token"]);
  for (const std::string& text : {out, RunOk({"token", "list", "--config", config_, "--json"})}) {
    EXPECT_EQ(text.find("sha256"), std::string::npos) << text;
    EXPECT_EQ(text.find(hash_hex.substr(8)), std::string::npos) << text;
    EXPECT_EQ(text.find(a["token"].get<std::string>()), std::string::npos) << text;
  }
  const json list = ListJson();
  ASSERT_EQ(list["tokens"].size(), 2u);
  EXPECT_EQ(list["tokens"][0]["name"], "billing service");
  EXPECT_EQ(list["tokens"][0]["grants"], json({"emit"}));
  EXPECT_EQ(list["tokens"][0]["scope"]["value"], "acme");
  EXPECT_EQ(list["tokens"][1]["scope"], nullptr);
  EXPECT_EQ(list["tokens"][1]["expires"], nullptr);
}

TEST_F(TokenCliTest, ListMarksExpiredTokens) {
  WriteFile(config_, R"({"tokens": [{"id": "t_old", "hash": "sha256:)" + std::string(64, 'a') +
                         R"(", "grants": ["emit"], "expires": "2020-01-01T00:00:00Z"}]})");
  std::string out = RunOk({"token", "list", "--config", config_});
  EXPECT_NE(out.find("(expired)"), std::string::npos) << out;
  EXPECT_EQ(ListJson()["tokens"][0]["expired"], true);
}

TEST_F(TokenCliTest, RevokeRemovesOnlyThatToken) {
  json a = Create({"--grant", "emit"});
  json b = Create({"--grant", "query"});
  EXPECT_EQ(RunOk({"token", "revoke", "--config", config_, a["id"]}),
            "revoked " + a["id"].get<std::string>() + "\n");
  const json list = ListJson();
  ASSERT_EQ(list["tokens"].size(), 1u);
  EXPECT_EQ(list["tokens"][0]["id"], b["id"]);
  EXPECT_EQ(json::parse(ReadFile(config_))["tokens"][0]["hash"], "sha256:" + Sha256Hex(b["token"]));

  RunResult again = Run({"token", "revoke", "--config", config_, a["id"]});
  EXPECT_EQ(again.exit_code, 1);
  EXPECT_EQ(again.err.rfind("quipu token revoke: Not found: ", 0), 0u) << again.err;
  EXPECT_FALSE(fs::exists(config_ + ".tmp"));
}

TEST_F(TokenCliTest, BadFlagValuesAreUsageErrorsAndWriteNothing) {
  const std::vector<std::vector<std::string>> bad = {
      {"--grant", "read"},
      {"--grant", ""},
      {"--grant", "emit,emit"},
      {"--grant", "emit", "--scope", "tenant"},
      {"--grant", "emit", "--scope", "9tenant=acme"},
      {"--grant", "emit", "--scope", "tenant="},
      {"--grant", "emit", "--expires", "tomorrow"},
      {"--grant", "emit", "--expires", "2020-01-01T00:00:00Z"},
      {"--grant", "emit", "--expires", "0d"},
      {"--grant", "emit", "--expires", "30w"},
      {"--grant", "emit", "--expires", "1234567d"},
      {"--scope", "tenant=acme"},  // no --grant
  };
  for (std::vector<std::string> args : bad) {
    std::string shown;
    for (const std::string& a : args) shown += a + " ";
    args.insert(args.begin(), {"token", "create", "--config", config_});
    RunResult r = Run(args);
    EXPECT_EQ(r.exit_code, 2) << shown << "\n" << r.err;
    EXPECT_EQ(r.err.rfind("quipu token create: ", 0), 0u) << r.err;
    EXPECT_FALSE(fs::exists(config_)) << shown;
  }
  EXPECT_EQ(Run({"token"}).exit_code, 2);
  EXPECT_EQ(Run({"token", "create", "--grant", "emit"}).exit_code, 2);  // no --config
  EXPECT_EQ(Run({"token", "revoke", "--config", config_}).exit_code, 2);
}

TEST_F(TokenCliTest, ABadOrMissingTokenFileFailsWithExitOne) {
  RunResult missing = Run({"token", "list", "--config", config_});
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_NE(missing.err.find("does not exist"), std::string::npos) << missing.err;

  WriteFile(config_, R"({"tokens": [], "extra": 1})");
  RunResult bad = Run({"token", "create", "--config", config_, "--grant", "emit"});
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_NE(bad.err.find("unknown key 'extra'"), std::string::npos) << bad.err;
  EXPECT_EQ(bad.out, "");  // no token shown that was not stored
  EXPECT_EQ(ReadFile(config_), R"({"tokens": [], "extra": 1})");
}

}  // namespace
}  // namespace quipu
