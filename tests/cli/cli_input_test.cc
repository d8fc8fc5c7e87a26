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
using nlohmann::json;

class CliInputTest : public clitest::CliFixture {
 protected:
  // Expects exit 1 and one line of stderr; returns it.
  std::string ExpectOneLineFailure(const std::vector<std::string>& args, std::string_view input) {
    RunResult r = Run(args, input);
    EXPECT_EQ(r.exit_code, 1) << r.err;
    EXPECT_EQ(SplitLines(r.err).size(), 1u) << r.err.substr(0, 400);
    return r.err;
  }
};

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

}  // namespace
}  // namespace quipu
