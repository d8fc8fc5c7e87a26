// tests/cli/cli_runner.h — runs the built `quipu` binary as a child process
// for black-box CLI tests: a fresh temporary directory per test (dir_ names a
// store inside it), stdin from a string or a pipe, stdout, stderr, the exit
// code and the peak memory collected.
#ifndef QUIPU_TESTS_CLI_CLI_RUNNER_H_
#define QUIPU_TESTS_CLI_CLI_RUNNER_H_

#include <fcntl.h>
#include <gtest/gtest.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#ifndef QUIPU_CLI_PATH
#define QUIPU_CLI_PATH "./quipu"
#endif

extern char** environ;

namespace quipu::clitest {

namespace fs = std::filesystem;

struct RunResult {
  int exit_code = -1;
  std::string out;
  std::string err;
  long max_rss_kb = 0;  // the child's peak resident set (wait4), in KiB
};

inline std::string ReadFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

inline void WriteFile(const fs::path& path, std::string_view data) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(data.data(), static_cast<std::streamsize>(data.size()));
}

inline std::vector<std::string> SplitLines(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

class CliFixture : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = (fs::temp_directory_path() / "quipu-cli-XXXXXX").string();
    ASSERT_NE(mkdtemp(pattern.data()), nullptr);
    tmp_ = pattern;
    dir_ = (tmp_ / "store").string();
  }
  void TearDown() override { fs::remove_all(tmp_); }

  // Runs `quipu args...` with `input` on stdin.
  RunResult Run(std::vector<std::string> args, std::string_view input = "") {
    fs::path in = tmp_ / "stdin";
    WriteFile(in, input);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 0, in.c_str(), O_RDONLY, 0);
    return Spawn(std::move(args), &actions, [] {});
  }

  // Runs `quipu args...` with stdin a pipe that `feed(fd)` writes to (then
  // the pipe is closed): for inputs too large to keep in memory or a file.
  // A write after the child stopped reading fails with EPIPE, not SIGPIPE.
  template <typename Feed>
  RunResult RunPiped(std::vector<std::string> args, Feed feed) {
    int fds[2];
    if (pipe(fds) != 0) return RunResult{-1, "", "pipe failed", 0};
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, fds[0], 0);
    posix_spawn_file_actions_addclose(&actions, fds[0]);
    posix_spawn_file_actions_addclose(&actions, fds[1]);
    RunResult result = Spawn(std::move(args), &actions, [&] {
      close(fds[0]);
      void (*old)(int) = signal(SIGPIPE, SIG_IGN);
      feed(fds[1]);
      close(fds[1]);
      signal(SIGPIPE, old);
    });
    return result;
  }

  // Runs and expects exit 0; returns stdout.
  std::string RunOk(std::vector<std::string> args, std::string_view input = "") {
    std::string shown;
    for (const std::string& a : args) shown += a + " ";
    RunResult r = Run(std::move(args), input);
    EXPECT_EQ(r.exit_code, 0) << "quipu " << shown << "\nstderr: " << r.err;
    return r.out;
  }

  std::string Path(const std::string& name) const { return (tmp_ / name).string(); }

 private:
  // Spawns quipu with `actions` (which set up stdin; this adds stdout and
  // stderr and destroys them), runs `while_running` and waits.
  template <typename Fn>
  RunResult Spawn(std::vector<std::string> args, posix_spawn_file_actions_t* actions,
                  Fn while_running) {
    fs::path out = tmp_ / "stdout", err = tmp_ / "stderr";
    args.insert(args.begin(), QUIPU_CLI_PATH);
    std::vector<char*> argv;
    for (std::string& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    posix_spawn_file_actions_addopen(actions, 1, out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_addopen(actions, 2, err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    pid_t pid;
    int rc = posix_spawn(&pid, argv[0], actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(actions);
    RunResult result;
    if (rc != 0) {
      result.err = std::string("posix_spawn failed: ") + std::strerror(rc);
      return result;
    }
    while_running();
    int status = 0;
    struct rusage usage {};
    while (wait4(pid, &status, 0, &usage) < 0 && errno == EINTR) {
    }
    result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    result.max_rss_kb = usage.ru_maxrss;
    result.out = ReadFile(out);
    result.err = ReadFile(err);
    return result;
  }

 protected:
  fs::path tmp_;
  std::string dir_;
};

}  // namespace quipu::clitest

#endif  // QUIPU_TESTS_CLI_CLI_RUNNER_H_
