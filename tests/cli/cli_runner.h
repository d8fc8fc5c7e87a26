// tests/cli/cli_runner.h — runs the built `quipu` binary as a child process
// for black-box CLI tests: a fresh temporary directory per test (dir_ names a
// store inside it), stdin from a string or a pipe, stdout, stderr, the exit
// code and the peak memory collected. RunOptions can start the child with some
// of its standard descriptors closed, or with extra environment variables.
#ifndef QUIPU_TESTS_CLI_CLI_RUNNER_H_
#define QUIPU_TESTS_CLI_CLI_RUNNER_H_

#include <fcntl.h>
#include <gtest/gtest.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
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
  std::string out;      // empty when stdout was closed
  std::string err;      // empty when stderr was closed
  long max_rss_kb = 0;  // the child's peak resident set (wait4), in KiB
};

struct RunOptions {
  // Which of 0, 1, 2 the child starts with closed instead of redirected.
  std::vector<int> closed_fds;
  // "NAME=value" entries added to (or replacing in) the child's environment.
  std::vector<std::string> env;
};

inline RunOptions WithClosedFds(std::vector<int> fds) {
  RunOptions options;
  options.closed_fds = std::move(fds);
  return options;
}

inline RunOptions WithEnv(std::vector<std::string> env) {
  RunOptions options;
  options.env = std::move(env);
  return options;
}

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
  RunResult Run(std::vector<std::string> args, std::string_view input = "",
                const RunOptions& options = {}) {
    fs::path in = tmp_ / "stdin";
    WriteFile(in, input);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    if (Closed(options, 0)) {
      posix_spawn_file_actions_addclose(&actions, 0);
    } else {
      posix_spawn_file_actions_addopen(&actions, 0, in.c_str(), O_RDONLY, 0);
    }
    return Spawn(
        std::move(args), &actions, [] {}, options);
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
                  Fn while_running, const RunOptions& options = {}) {
    fs::path out = tmp_ / "stdout", err = tmp_ / "stderr";
    WriteFile(out, "");  // so a closed stdout or stderr reads back as empty
    WriteFile(err, "");
    args.insert(args.begin(), QUIPU_CLI_PATH);
    std::vector<char*> argv;
    for (std::string& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    std::vector<std::string> env = ChildEnvironment(options.env);
    std::vector<char*> envp;
    for (std::string& e : env) envp.push_back(e.data());
    envp.push_back(nullptr);
    const int out_flags = O_WRONLY | O_CREAT | O_TRUNC;
    for (int fd : {1, 2}) {
      if (Closed(options, fd)) {
        posix_spawn_file_actions_addclose(actions, fd);
      } else {
        posix_spawn_file_actions_addopen(actions, fd, (fd == 1 ? out : err).c_str(), out_flags,
                                         0644);
      }
    }
    pid_t pid;
    int rc = posix_spawn(&pid, argv[0], actions, nullptr, argv.data(), envp.data());
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

  static bool Closed(const RunOptions& options, int fd) {
    return std::find(options.closed_fds.begin(), options.closed_fds.end(), fd) !=
           options.closed_fds.end();
  }

  // This process's environment with `extra` ("NAME=value") added or replacing.
  static std::vector<std::string> ChildEnvironment(const std::vector<std::string>& extra) {
    std::vector<std::string> env;
    for (char** e = environ; *e != nullptr; ++e) {
      std::string_view entry = *e;
      bool replaced = std::any_of(extra.begin(), extra.end(), [&](const std::string& x) {
        return entry.substr(0, entry.find('=') + 1) == x.substr(0, x.find('=') + 1);
      });
      if (!replaced) env.emplace_back(entry);
    }
    env.insert(env.end(), extra.begin(), extra.end());
    return env;
  }

 protected:
  fs::path tmp_;
  std::string dir_;
};

}  // namespace quipu::clitest

#endif  // QUIPU_TESTS_CLI_CLI_RUNNER_H_
