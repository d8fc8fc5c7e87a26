// Process-kill drill: `quipu ingest` runs as a child process under each
// durability policy, is fed numbered lines and is SIGKILLed at a random
// moment; the log it leaves is then checked against what it printed.
//
// A process kill loses only what the child still held in user space (the
// log's buffer, at most two buffers while one is being written); the OS keeps
// everything write(2) accepted. So, after every kill:
//   1. the log is a prefix of the fed lines: record i holds line i, no gaps,
//      no reordering, nothing never fed;
//   2. every LSN printed in a "durable N" line is present;
//   3. every "appended N" is present under `always` (it syncs before Append
//      returns); under every:N at most N-1 printed records are missing; under
//      the others the missing ones fit in the user-space buffers.
// The same directory is killed again and again, so later rounds also kill the
// child while it is recovering the previous round's torn tail. At the end a
// clean Open and Close must leave a log that CheckLog passes.
//
// QUIPU_SEED=<n> repeats a run; QUIPU_DRILL_FULL=1 runs 60 kills per policy instead of 6.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "quipu/inspect.h"
#include "quipu/log.h"
#include "quipu/reader.h"
#include "test_dir.h"

#ifndef QUIPU_CLI_PATH
#define QUIPU_CLI_PATH "./quipu"
#endif

extern char** environ;

namespace quipu {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

// Small segments so that kills also land around rotation; records may use
// half of one (see `quipu ingest --segment-size`).
constexpr uint64_t kSegmentSize = 16 << 10;
// What the child can hold in user space: the buffer being filled and the one
// being written (LogOptions::buffer_size each), plus the frame in hand.
const uint64_t kUserSpaceBytes = 2 * LogOptions().buffer_size + kSegmentSize;
// Caps one round's input, so a fast child cannot grow the log without end.
constexpr uint64_t kMaxLinesPerRound = 200000;

uint64_t Seed() {
  const char* env = std::getenv("QUIPU_SEED");
  return env != nullptr ? std::strtoull(env, nullptr, 10) : std::random_device()();
}

int KillsPerPolicy() {
  const char* full = std::getenv("QUIPU_DRILL_FULL");
  return full != nullptr && std::string(full) == "1" ? 60 : 6;
}

// Line `seq` (from 1): names its number, padded to a length that varies with
// it, so a record in the wrong place or cut short cannot pass for another.
std::string Line(uint64_t seq) {
  std::string line = "r" + std::to_string(seq) + " ";
  line.append((seq * 2654435761u >> 7) % 97, static_cast<char>('a' + seq % 26));
  return line;
}

// Frame bytes a record of line `seq` takes (8-byte frame header).
uint64_t FrameBytes(uint64_t seq) { return 8 + Line(seq).size(); }

// What the child printed before it died.
struct ChildReport {
  uint64_t last_appended = 0;  // 0: none printed
  uint64_t last_durable = 0;
  std::string error;  // a line that breaks ingest's output contract
};

// Parses ingest's stdout as it arrives; keeps an unfinished last line.
class ReportParser {
 public:
  explicit ReportParser(uint64_t first_lsn) : next_appended_(first_lsn) {}

  void Feed(std::string_view bytes) {
    partial_.append(bytes);
    size_t start = 0;
    for (size_t nl; (nl = partial_.find('\n', start)) != std::string::npos; start = nl + 1) {
      OnLine(std::string_view(partial_).substr(start, nl - start));
    }
    partial_.erase(0, start);
  }

  const ChildReport& report() const { return report_; }

 private:
  void OnLine(std::string_view line) {
    uint64_t n = 0;
    auto number = [&](std::string_view prefix) {
      if (!line.starts_with(prefix)) return false;
      auto rest = line.substr(prefix.size());
      auto [end, ec] = std::from_chars(rest.data(), rest.data() + rest.size(), n);
      return ec == std::errc() && end == rest.data() + rest.size();
    };
    if (number("appended ")) {
      if (n != next_appended_)
        return Bad(line, "expected appended " + std::to_string(next_appended_));
      ++next_appended_;
      report_.last_appended = n;
    } else if (number("durable ")) {
      if (n < report_.last_durable || n > report_.last_appended) return Bad(line, "out of order");
      report_.last_durable = n;
    } else {
      Bad(line, "unknown line");
    }
  }
  void Bad(std::string_view line, const std::string& why) {
    if (report_.error.empty()) report_.error = "\"" + std::string(line) + "\": " + why;
  }

  uint64_t next_appended_;
  std::string partial_;
  ChildReport report_;
};

// The lines of one round, written to the child's stdin as the pipe accepts them.
class Feeder {
 public:
  Feeder(uint64_t first_seq, std::mt19937_64* rng)
      : first_seq_(first_seq), next_seq_(first_seq), rng_(rng) {}

  // Writes what the non-blocking `fd` takes now; a dead child's EPIPE is
  // ignored (the kill is what the round is about).
  void WriteSome(int fd) {
    if (written_ == pending_.size()) Refill();
    if (pending_.empty()) return;
    ssize_t n = write(fd, pending_.data() + written_, pending_.size() - written_);
    if (n <= 0) return;
    written_ += static_cast<size_t>(n);
    while (!line_ends_.empty() && line_ends_.front().first <= written_) {
      fed_ = line_ends_.front().second;
      line_ends_.erase(line_ends_.begin());
    }
  }

  // True once the round's line budget is spent and written.
  bool done() const {
    return written_ == pending_.size() && next_seq_ - first_seq_ >= kMaxLinesPerRound;
  }

  // The last line written in full (with its newline); 0 if none.
  uint64_t fed() const { return fed_; }

 private:
  // A batch of 1 to 2000 lines, so the child sees both trickles and floods.
  void Refill() {
    pending_.clear();
    written_ = 0;
    if (next_seq_ - first_seq_ >= kMaxLinesPerRound) return;
    const uint64_t count = std::uniform_int_distribution<uint64_t>(1, 2000)(*rng_);
    for (uint64_t i = 0; i < count; ++i, ++next_seq_) {
      pending_ += Line(next_seq_);
      pending_ += '\n';
      line_ends_.emplace_back(pending_.size(), next_seq_);
    }
  }
  const uint64_t first_seq_;
  uint64_t next_seq_;
  std::mt19937_64* rng_;
  std::string pending_;
  size_t written_ = 0;
  std::vector<std::pair<size_t, uint64_t>> line_ends_;  // (end offset, seq)
  uint64_t fed_ = 0;
};

struct Child {
  pid_t pid = -1;
  int stdin_fd = -1;
  int stdout_fd = -1;
};

// Starts `quipu ingest DIR --durability POLICY` with pipes for stdin and
// stdout (non-blocking on our side) and stderr appended to `stderr_path`.
Child Spawn(const std::string& dir, const std::string& policy, const std::string& stderr_path) {
  int in[2], out[2];
  if (pipe2(in, O_CLOEXEC) != 0) return {};
  if (pipe2(out, O_CLOEXEC) != 0) {
    close(in[0]);
    close(in[1]);
    return {};
  }
  std::vector<std::string> args = {QUIPU_CLI_PATH, "ingest", dir, "--durability", policy};
  args.insert(args.end(), {"--segment-size", std::to_string(kSegmentSize)});
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, in[0], 0);
  posix_spawn_file_actions_adddup2(&actions, out[1], 1);
  posix_spawn_file_actions_addopen(&actions, 2, stderr_path.c_str(), O_WRONLY | O_CREAT | O_APPEND,
                                   0644);
  Child child;
  int rc = posix_spawn(&child.pid, argv[0], &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  close(in[0]);
  close(out[1]);
  if (rc != 0) {
    close(in[1]);
    close(out[0]);
    return {};
  }
  child.stdin_fd = in[1];
  child.stdout_fd = out[0];
  fcntl(child.stdin_fd, F_SETFL, O_NONBLOCK);
  fcntl(child.stdout_fd, F_SETFL, O_NONBLOCK);
  return child;
}

// Reads whatever `fd` has now into `parser`. False at end of file.
bool ReadSome(int fd, ReportParser* parser) {
  char buf[1 << 16];
  ssize_t n = read(fd, buf, sizeof buf);
  if (n > 0) parser->Feed(std::string_view(buf, static_cast<size_t>(n)));
  return n != 0 && !(n < 0 && errno != EAGAIN && errno != EINTR);
}

struct RoundResult {
  ChildReport report;
  uint64_t fed = 0;     // last line written in full to the child
  bool killed = false;  // false: the child exited on its own (an error)
  int exit_status = 0;
};

// Runs one child from line `first_seq`, kills it `kill_after` later, and
// collects everything it printed.
RoundResult RunAndKill(const std::string& dir, const std::string& policy,
                       const std::string& stderr_path, uint64_t first_seq, milliseconds kill_after,
                       std::mt19937_64* rng) {
  RoundResult result;
  Child child = Spawn(dir, policy, stderr_path);
  if (child.pid < 0) return result;
  ReportParser parser(first_seq);
  Feeder feeder(first_seq, rng);
  const Clock::time_point deadline = Clock::now() + kill_after;
  bool open = true;
  for (Clock::time_point now; open && (now = Clock::now()) < deadline;) {
    const int wait_ms = static_cast<int>(std::chrono::ceil<milliseconds>(deadline - now).count());
    // A negative fd is skipped by poll: nothing left to feed.
    const int in_fd = feeder.done() ? -1 : child.stdin_fd;
    pollfd fds[2] = {{child.stdout_fd, POLLIN, 0}, {in_fd, POLLOUT, 0}};
    if (poll(fds, 2, wait_ms) < 0 && errno != EINTR) break;
    if (fds[0].revents != 0) open = ReadSome(child.stdout_fd, &parser);
    if (fds[1].revents & (POLLERR | POLLHUP)) break;
    if (fds[1].revents & POLLOUT) feeder.WriteSome(child.stdin_fd);
  }
  result.killed = kill(child.pid, SIGKILL) == 0;
  close(child.stdin_fd);
  // What the child wrote before it died is still in the pipe.
  fcntl(child.stdout_fd, F_SETFL, 0);
  while (ReadSome(child.stdout_fd, &parser)) {
  }
  close(child.stdout_fd);
  int status = 0;
  while (waitpid(child.pid, &status, 0) < 0 && errno == EINTR) {
  }
  result.killed = result.killed && WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL;
  result.exit_status = status;
  result.report = parser.report();
  result.fed = feeder.fed();
  return result;
}

// Reads the log without changing it; checks record i is line i and returns
// how many there are.
uint64_t ReadAndCheckPrefix(const std::string& dir) {
  auto reader = OpenLogReader(dir, 1);
  if (!reader.ok() && reader.status().code() == Status::Code::kNotFound) return 0;
  EXPECT_TRUE(reader.ok()) << reader.status().ToString();
  if (!reader.ok()) return 0;
  uint64_t count = 0;
  for (;;) {
    Result<bool> more = (*reader)->Next();
    EXPECT_TRUE(more.ok()) << more.status().ToString();
    if (!more.ok() || !*more) return count;
    ++count;
    EXPECT_EQ((*reader)->lsn(), count) << "hole or reordering";
    if ((*reader)->payload() != Line(count)) {
      ADD_FAILURE() << "record " << count << " is \"" << (*reader)->payload() << "\", fed \""
                    << Line(count) << "\"";
      return count;
    }
  }
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

class KillDrillTest : public ::testing::TestWithParam<const char*> {
 protected:
  static void SetUpTestSuite() { signal(SIGPIPE, SIG_IGN); }  // a dead child's stdin
};

TEST_P(KillDrillTest, SigkillLosesNothingTheOsReceived) {
  const std::string policy = GetParam();
  const uint64_t seed = Seed();
  std::cout << "kill drill: policy " << policy << ", QUIPU_SEED=" << seed << "\n";
  std::mt19937_64 rng(seed);
  testing::TestDir tmp;
  const std::string stderr_path = tmp.path() + "/stderr";
  const uint64_t every_n = policy.starts_with("every:") ? std::stoull(policy.substr(6)) : 0;

  uint64_t records = 0;  // in the log after the previous round
  for (int round = 0; round < KillsPerPolicy(); ++round) {
    // A few kills land early: during start-up and recovery of the last round.
    const int max_ms = std::bernoulli_distribution(0.25)(rng) ? 20 : 300;
    const milliseconds kill_after(std::uniform_int_distribution<int>(0, max_ms)(rng));
    SCOPED_TRACE("round " + std::to_string(round) + ", kill after " +
                 std::to_string(kill_after.count()) + " ms");
    RoundResult r = RunAndKill(tmp.log(), policy, stderr_path, records + 1, kill_after, &rng);
    ASSERT_TRUE(r.killed) << "ingest ended on its own (status " << r.exit_status << "); stderr:\n"
                          << ReadFile(stderr_path);
    ASSERT_EQ(r.report.error, "") << "ingest's output broke its contract";

    const uint64_t now = ReadAndCheckPrefix(tmp.log());
    if (HasFailure()) return;
    const ChildReport& c = r.report;
    std::cout << "  kill at " << kill_after.count() << " ms: fed " << r.fed << ", appended "
              << c.last_appended << ", durable " << c.last_durable << ", present " << now << "\n";
    EXPECT_GE(now, records) << "records present before this round were lost";
    EXPECT_LE(now, std::max(records, r.fed)) << "the log holds lines never fed";
    EXPECT_GE(now, c.last_durable) << "a record printed as durable was lost";
    const uint64_t lost = c.last_appended > now ? c.last_appended - now : 0;
    if (policy == "always") {
      EXPECT_EQ(lost, 0u) << "under always, appended means durable";
    }
    if (every_n > 0) {
      EXPECT_LE(lost, every_n - 1) << "every:N loses at most N-1";
    }
    uint64_t lost_bytes = 0;
    for (uint64_t seq = now + 1; seq <= c.last_appended; ++seq) lost_bytes += FrameBytes(seq);
    EXPECT_LE(lost_bytes, kUserSpaceBytes) << "lost more than user space can hold";
    if (HasFailure()) return;
    records = now;
  }

  // A clean open recovers the last round's torn tail; then the log is whole.
  LogOptions options;
  options.segment_size = kSegmentSize;
  options.max_record_size = kSegmentSize / 2;
  auto log = Log::Open(tmp.log(), options);
  ASSERT_TRUE(log.ok()) << log.status().ToString();
  EXPECT_EQ((*log)->LastLsn(), records);
  ASSERT_TRUE((*log)->Close().ok());
  auto check = CheckLog(tmp.log());
  ASSERT_TRUE(check.ok()) << check.status().ToString();
  EXPECT_EQ(check->records, records);
  EXPECT_EQ(ReadAndCheckPrefix(tmp.log()), records);
  std::cout << "kill drill: policy " << policy << ": " << KillsPerPolicy() << " kills, " << records
            << " records survived\n";
}

INSTANTIATE_TEST_SUITE_P(Policies, KillDrillTest,
                         ::testing::Values("always", "every:16", "every:64,5", "group", "os"),
                         [](const ::testing::TestParamInfo<const char*>& info) {
                           std::string name = info.param;
                           for (char& c : name) {
                             if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
                           }
                           return name;
                         });

}  // namespace
}  // namespace quipu
