#include "cli/anchor.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <thread>
#include <vector>

#include "quipu/checkpoint.h"
#include "quipu/env.h"

extern char** environ;

namespace quipu::cli {

namespace {

Status SysError(const std::string& what, int err) {
  return Status::IOError("anchor command: " + what + ": " + std::strerror(err), err);
}

// Writes all of `data` to the pipe. A command that exits without reading its
// stdin must not kill us with SIGPIPE, so the signal is blocked in this thread
// for the write and a pending one is consumed before unblocking.
Status WriteToPipe(int fd, const std::string& data) {
  sigset_t pipe_only, old;
  sigemptyset(&pipe_only);
  sigaddset(&pipe_only, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &pipe_only, &old);
  Status s;
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      // EPIPE: the command did not read its input; its exit status decides.
      if (errno != EPIPE) s = SysError("write to stdin", errno);
      if (errno == EPIPE) {
        struct timespec zero = {0, 0};
        while (sigtimedwait(&pipe_only, nullptr, &zero) == SIGPIPE) {
        }
      }
      break;
    }
    done += static_cast<size_t>(n);
  }
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  return s;
}

// Waits for `pid`, killing it once `timeout` has passed.
Status WaitForChild(pid_t pid, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  int status = 0;
  for (;;) {
    pid_t r = waitpid(pid, &status, WNOHANG);
    if (r == pid) break;
    if (r < 0 && errno != EINTR) return SysError("waitpid", errno);
    if (std::chrono::steady_clock::now() >= deadline) {
      kill(pid, SIGKILL);
      while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
      }
      return Status::IOError("anchor command timed out after " + std::to_string(timeout.count()) +
                             " ms and was killed");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return Status::OK();
  if (WIFEXITED(status)) {
    return Status::IOError("anchor command exited with status " +
                           std::to_string(WEXITSTATUS(status)));
  }
  return Status::IOError("anchor command killed by signal " + std::to_string(WTERMSIG(status)));
}

}  // namespace

Status RunAnchorCommand(const std::string& command, const std::string& json,
                        std::chrono::milliseconds timeout) {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) return SysError("pipe", errno);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, fds[0], STDIN_FILENO);
  // The command's chatter goes to stderr: our stdout may be parsed by a script.
  posix_spawn_file_actions_adddup2(&actions, STDERR_FILENO, STDOUT_FILENO);
  std::string sh = "/bin/sh", dash_c = "-c", cmd = command;
  std::vector<char*> argv = {sh.data(), dash_c.data(), cmd.data(), nullptr};
  pid_t pid = 0;
  int rc = posix_spawn(&pid, sh.c_str(), &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  ::close(fds[0]);
  if (rc != 0) {
    ::close(fds[1]);
    return SysError("spawn /bin/sh", rc);
  }
  Status written = WriteToPipe(fds[1], json + "\n");
  ::close(fds[1]);  // EOF for the command
  Status exited = WaitForChild(pid, timeout);
  return exited.ok() ? written : exited;
}

void AddAnchorFlag(CLI::App* verb, std::string* command) {
  verb->add_option("--anchor-cmd", *command,
                   "shell command run after each checkpoint with its JSON line on stdin, to "
                   "publish it outside this host; its failure is reported but never blocks "
                   "writes (killed after " +
                       std::to_string(kAnchorTimeout.count()) + " s)");
}

void AddSigningFlags(CLI::App* verb, SigningFlags* flags) {
  CLI::Option* key = verb->add_option(
      "--signing-key", flags->key,
      "Ed25519 private key (PEM, from `quipu keygen`): sign a checkpoint at each sealed segment "
      "and at the end");
  AddAnchorFlag(verb, &flags->anchor_cmd);
  verb->get_option("--anchor-cmd")->needs(key);
}

TreeOptions SigningTreeOptions(const SigningFlags& flags, const std::string& verb) {
  TreeOptions options;
  if (!flags.key.empty()) options.signing_key_path = flags.key;
  if (!flags.anchor_cmd.empty()) {
    options.anchor = [cmd = flags.anchor_cmd](const Checkpoint&, const std::string& json) {
      return RunAnchorCommand(cmd, json);
    };
  }
  // stderr is unbuffered and each warning one fprintf, so lines never interleave.
  options.on_background_error = [verb](const Status& s) {
    std::fprintf(stderr, "quipu %s: warning: %s\n", verb.c_str(), s.ToString().c_str());
  };
  return options;
}

void SignFinalCheckpoint(Log* log, const SigningFlags& flags, const std::string& verb) {
  if (flags.key.empty()) return;
  Result<Checkpoint> cp = log->tree()->WriteCheckpoint();
  if (!cp.ok()) {
    std::fprintf(stderr, "quipu %s: warning: %s\n", verb.c_str(), cp.status().ToString().c_str());
  }
}

}  // namespace quipu::cli
