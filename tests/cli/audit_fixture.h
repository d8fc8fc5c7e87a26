// tests/cli/audit_fixture.h — a CliFixture with a small audit schema and
// helpers to emit and query, for the audit verbs' black-box tests.
#ifndef QUIPU_TESTS_CLI_AUDIT_FIXTURE_H_
#define QUIPU_TESTS_CLI_AUDIT_FIXTURE_H_

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "cli/cli_runner.h"

namespace quipu::clitest {

// Types user {email: text indexed, age: number indexed} and document
// {title: text required indexed, meta: json indexed}; columns tenant
// (text), n (number) and blob (json).
class AuditFixture : public CliFixture {
 protected:
  void DefineSchema() {
    ASSERT_EQ(Run({"define-type", dir_, "--json",
                   R"({"name":"user","fields":[{"name":"email","indexed":true},)"
                   R"({"name":"age","kind":"number","indexed":true}]})"})
                  .exit_code,
              0);
    ASSERT_EQ(Run({"define-type", dir_, "--json",
                   R"({"name":"document","fields":[{"name":"title","required":true,)"
                   R"("indexed":true},{"name":"meta","kind":"json","indexed":true}]})"})
                  .exit_code,
              0);
    for (const char* column : {"tenant text", "n number", "blob json"}) {
      std::string spec = column;
      size_t space = spec.find(' ');
      ASSERT_EQ(
          Run({"define-column", dir_, spec.substr(0, space), spec.substr(space + 1)}).exit_code, 0);
    }
  }

  // An event of user `user` on document `doc`, as one NDJSON line.
  static std::string DocEvent(const std::string& user, const std::string& doc,
                              const std::string& title) {
    nlohmann::json event = {
        {"actor", {{"type", "user"}, {"id", user}}},
        {"method", "document.update"},
        {"targets", {{{"type", "document"}, {"id", doc}, {"fields", {{"title", title}}}}}}};
    return event.dump();
  }

  RunResult Emit(const std::string& event) { return Run({"emit", dir_, "--json", event}); }

  // log_ids of the hits of one query page (--json), checking the cursor line.
  std::vector<int> QueryIds(std::vector<std::string> args) {
    args.insert(args.begin(), {"query", dir_, "--json", "--limit", "10000"});
    RunResult r = Run(args);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    std::vector<std::string> lines = SplitLines(r.out);
    std::vector<int> ids;
    if (lines.empty()) {
      ADD_FAILURE() << "no cursor line";
      return ids;
    }
    for (size_t i = 0; i + 1 < lines.size(); i++) {
      ids.push_back(nlohmann::json::parse(lines[i])["log_id"].get<int>());
    }
    return ids;
  }

  // Expects a refusal: exit 1, one line on stderr from `verb` holding each
  // of `pieces`.
  void ExpectRefused(const RunResult& r, const std::string& verb,
                     const std::vector<std::string>& pieces) {
    EXPECT_EQ(r.exit_code, 1) << r.err;
    std::vector<std::string> lines = SplitLines(r.err);
    ASSERT_EQ(lines.size(), 1u) << r.err;
    EXPECT_EQ(lines[0].rfind("quipu " + verb + ": ", 0), 0u) << lines[0];
    for (const std::string& piece : pieces) {
      EXPECT_NE(lines[0].find(piece), std::string::npos)
          << "want '" << piece << "' in " << lines[0];
    }
  }
};

// The last "appended" and "durable" numbers of a run's acks.
struct LastAcks {
  long appended = 0;
  long durable = 0;
};
inline LastAcks ReadAcks(const std::string& out) {
  LastAcks acks;
  for (const std::string& line : SplitLines(out)) {
    if (line.rfind("appended ", 0) == 0) acks.appended = std::stol(line.substr(9));
    if (line.rfind("durable ", 0) == 0) acks.durable = std::stol(line.substr(8));
  }
  return acks;
}

}  // namespace quipu::clitest

#endif  // QUIPU_TESTS_CLI_AUDIT_FIXTURE_H_
