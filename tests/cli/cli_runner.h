// tests/cli/cli_runner.h — runs the `quipu` binary as a child process for
// black-box CLI tests: stdin from a string, stdout/stderr and the exit code
// collected. Each fixture gets a fresh temporary directory.
#ifndef QUIPU_TESTS_CLI_CLI_RUNNER_H_
#define QUIPU_TESTS_CLI_CLI_RUNNER_H_

#include <fcntl.h>
#include <gtest/gtest.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#ifndef QUIPU_CLI_PATH
#define QUIPU_CLI_PATH "./quipu"
#endif

extern char** environ;

namespace quipu::testing {

struct CliResult {
  int exit_code = -1;
  std::string out;
  std::string err;
};

inline std::vector<std::string> SplitLines(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

class CliFixture : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern =
        (std::filesystem::temp_directory_path() / "quipu-audit-cli-XXXXXX").string();
    ASSERT_NE(mkdtemp(pattern.data()), nullptr);
    tmp_ = pattern;
  }
  void TearDown() override { std::filesystem::remove_all(tmp_); }

  // Runs `quipu args...` with `input` on stdin.
  CliResult Run(std::vector<std::string> args, std::string_view input = "") {
    std::filesystem::path in = tmp_ / "stdin", out = tmp_ / "stdout", err = tmp_ / "stderr";
    {
      std::ofstream f(in, std::ios::binary | std::ios::trunc);
      f.write(input.data(), static_cast<std::streamsize>(input.size()));
    }
    args.insert(args.begin(), QUIPU_CLI_PATH);
    std::vector<char*> argv;
    for (std::string& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 0, in.c_str(), O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&actions, 1, out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_addopen(&actions, 2, err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    pid_t pid;
    int rc = posix_spawn(&pid, argv[0], &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    CliResult result;
    if (rc != 0) {
      result.err = std::string("posix_spawn failed: ") + std::strerror(rc);
      return result;
    }
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    result.out = ReadAll(out);
    result.err = ReadAll(err);
    return result;
  }

  static std::string ReadAll(const std::filesystem::path& path) {
    std::ifstream f(path, std::ios::binary);
    std::ostringstream text;
    text << f.rdbuf();
    return text.str();
  }

  std::filesystem::path tmp_;
};

}  // namespace quipu::testing

#endif  // QUIPU_TESTS_CLI_CLI_RUNNER_H_
