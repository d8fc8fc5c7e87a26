// A real etcd cluster of 1 or 3 members on 127.0.0.1, for tests.
//
// Each member is /usr/bin/etcd (Debian's etcd-server, installed by
// scripts/setup.sh) with free ports, its own data directory under a fresh
// temporary directory, and its log (zap, stderr) in <dir>/<name>.log.
// Short raft timings (50 ms heartbeat, 500 ms election) keep elections,
// and so the tests, quick. The destructor SIGKILLs every member still
// running, reaps it, and removes the directory; members are also killed
// if the test process dies (PR_SET_PDEATHSIG of the thread that started
// them), so a crashed or timed-out test leaves no etcd behind.
//
//   EtcdCluster cluster(3);
//   ASSERT_TRUE(cluster.Start());
//   ... Client::Create({.endpoints = cluster.endpoints()}) ...
//   cluster.Kill(0);  ASSERT_TRUE(cluster.Restart(0));
//
// Not thread-safe: drive it from the test's main thread.
#ifndef QUIPU_TESTS_ETCD_ETCD_CLUSTER_H_
#define QUIPU_TESTS_ETCD_ETCD_CLUSTER_H_

#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace quipu::testing {

inline constexpr char kEtcdBinary[] = "/usr/bin/etcd";

// Skips the current test when etcd is not installed.
#define QUIPU_SKIP_WITHOUT_ETCD()                                                  \
  do {                                                                             \
    if (!::quipu::testing::EtcdCluster::Available()) {                             \
      GTEST_SKIP() << "no " << ::quipu::testing::kEtcdBinary                       \
                   << ": run scripts/setup.sh (it installs Debian's etcd-server)"; \
    }                                                                              \
  } while (0)

class EtcdCluster {
 public:
  // `extra_args` are passed to every member, e.g. {"--max-request-bytes", "65536"}.
  explicit EtcdCluster(int members, std::vector<std::string> extra_args = {})
      : extra_args_(std::move(extra_args)) {
    std::string templ = ::testing::TempDir() + "quipu-etcd-XXXXXX";
    dir_ = mkdtemp(templ.data()) != nullptr ? templ : std::string();
    // All ports are picked while every probe socket is still bound, so no
    // two members get the same one.
    std::vector<int> probes;
    for (int i = 0; i < members; ++i) {
      members_.push_back(Member{"m" + std::to_string(i), FreePort(&probes), FreePort(&probes)});
    }
    for (int fd : probes) close(fd);
  }

  ~EtcdCluster() {
    for (size_t i = 0; i < members_.size(); ++i) Kill(static_cast<int>(i));
    if (!dir_.empty()) {
      std::error_code ignored;
      std::filesystem::remove_all(dir_, ignored);
    }
  }
  EtcdCluster(const EtcdCluster&) = delete;
  EtcdCluster& operator=(const EtcdCluster&) = delete;

  static bool Available() { return access(kEtcdBinary, X_OK) == 0; }

  // Starts every member and waits until each reports itself healthy.
  ::testing::AssertionResult Start(std::chrono::seconds wait = std::chrono::seconds(20)) {
    if (dir_.empty()) return ::testing::AssertionFailure() << "mkdtemp failed";
    for (size_t i = 0; i < members_.size(); ++i) {
      auto started = Spawn(static_cast<int>(i), "new");
      if (!started) return started;
    }
    return WaitHealthy(wait);
  }

  // SIGKILLs member `i` (no clean shutdown) and reaps it.
  void Kill(int i) {
    Member& m = members_.at(i);
    if (m.pid <= 0) return;
    ::kill(m.pid, SIGKILL);
    int status = 0;
    while (waitpid(m.pid, &status, 0) < 0 && errno == EINTR) {
    }
    m.pid = -1;
  }

  // SIGSTOPs member `i`: it keeps its sockets but answers nothing, like a
  // hung machine. Resume(i) lets it go on.
  // (A pid of -1 would signal every process we may signal: never send it.)
  void Pause(int i) { Signal(i, SIGSTOP); }
  void Resume(int i) { Signal(i, SIGCONT); }

  // Starts member `i` again on its data directory and ports, and waits
  // until every running member is healthy.
  ::testing::AssertionResult Restart(int i, std::chrono::seconds wait = std::chrono::seconds(20)) {
    Kill(i);
    auto started = Spawn(i, "existing");
    if (!started) return started;
    return WaitHealthy(wait);
  }

  // Every running member answers GET /health with {"health":"true"}.
  ::testing::AssertionResult WaitHealthy(std::chrono::seconds wait) {
    const auto deadline = std::chrono::steady_clock::now() + wait;
    for (size_t i = 0; i < members_.size(); ++i) {
      if (members_[i].pid <= 0) continue;
      while (Get(members_[i].client_port, "/health").find("\"health\":\"true\"") ==
             std::string::npos) {
        if (std::chrono::steady_clock::now() > deadline) {
          return ::testing::AssertionFailure() << "etcd member " << i << " not healthy after "
                                               << wait.count() << " s; its log ends with:\n"
                                               << LogTail(static_cast<int>(i));
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
      }
    }
    return ::testing::AssertionSuccess();
  }

  // The index of the member that is the raft leader, or -1 (asks each
  // running member's /v3/maintenance/status).
  int LeaderIndex() const {
    std::vector<std::string> ids(members_.size());
    std::string leader;
    for (size_t i = 0; i < members_.size(); ++i) {
      if (members_[i].pid <= 0) continue;
      const std::string status = Post(members_[i].client_port, "/v3/maintenance/status", "{}");
      ids[i] = StringField(status, "member_id");
      if (leader.empty()) leader = StringField(status, "leader");
    }
    for (size_t i = 0; i < ids.size(); ++i) {
      if (!leader.empty() && ids[i] == leader) return static_cast<int>(i);
    }
    return -1;
  }

  std::string endpoint(int i) const {
    return "http://127.0.0.1:" + std::to_string(members_.at(i).client_port);
  }
  std::vector<std::string> endpoints() const {
    std::vector<std::string> all;
    for (size_t i = 0; i < members_.size(); ++i) all.push_back(endpoint(static_cast<int>(i)));
    return all;
  }
  int size() const { return static_cast<int>(members_.size()); }

  // The last `bytes` of member `i`'s log, for failure messages.
  std::string LogTail(int i, size_t bytes = 3000) const {
    std::ifstream in(dir_ + "/" + members_.at(i).name + ".log");
    std::stringstream text;
    text << in.rdbuf();
    const std::string all = text.str();
    return all.size() > bytes ? all.substr(all.size() - bytes) : all;
  }

 private:
  struct Member {
    std::string name;
    int client_port = 0;
    int peer_port = 0;
    pid_t pid = -1;
  };

  void Signal(int i, int signal) {
    if (members_.at(i).pid > 0) ::kill(members_[i].pid, signal);
  }

  // Binds a socket to port 0 and leaves it open in `*probes`.
  static int FreePort(std::vector<int>* probes) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(addr);
    if (fd < 0 || bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
        getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
      ADD_FAILURE() << "cannot find a free port";
      return 0;
    }
    probes->push_back(fd);
    return ntohs(addr.sin_port);
  }

  std::vector<std::string> Args(int i, const char* state) const {
    const Member& m = members_[i];
    const std::string peer = "http://127.0.0.1:" + std::to_string(m.peer_port);
    std::string cluster;
    for (const Member& other : members_) {
      cluster += (cluster.empty() ? "" : ",") + other.name +
                 "=http://127.0.0.1:" + std::to_string(other.peer_port);
    }
    std::vector<std::string> args = {kEtcdBinary,
                                     "--name",
                                     m.name,
                                     "--data-dir",
                                     dir_ + "/" + m.name,
                                     "--listen-client-urls",
                                     endpoint(i),
                                     "--advertise-client-urls",
                                     endpoint(i),
                                     "--listen-peer-urls",
                                     peer,
                                     "--initial-advertise-peer-urls",
                                     peer,
                                     "--initial-cluster",
                                     cluster,
                                     "--initial-cluster-state",
                                     state,
                                     "--initial-cluster-token",
                                     "quipu-test",
                                     "--heartbeat-interval",
                                     "50",
                                     "--election-timeout",
                                     "500",
                                     "--logger=zap",
                                     "--log-outputs=stderr"};
    args.insert(args.end(), extra_args_.begin(), extra_args_.end());
    return args;
  }

  ::testing::AssertionResult Spawn(int i, const char* state) {
    std::vector<std::string> args = Args(i, state);
    std::vector<char*> argv;
    for (std::string& arg : args) argv.push_back(arg.data());
    argv.push_back(nullptr);
    const std::string log = dir_ + "/" + members_[i].name + ".log";
    const pid_t parent = getpid();
    // Only async-signal-safe calls between fork and exec.
    const pid_t pid = fork();
    if (pid < 0) return ::testing::AssertionFailure() << "fork: " << strerror(errno);
    if (pid == 0) {
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (getppid() != parent) _exit(127);
      const int null_fd = open("/dev/null", O_RDONLY);
      const int log_fd = open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
      if (null_fd < 0 || log_fd < 0) _exit(127);
      dup2(null_fd, 0);
      dup2(log_fd, 1);
      dup2(log_fd, 2);
      execv(argv[0], argv.data());
      _exit(127);
    }
    members_[i].pid = pid;
    return ::testing::AssertionSuccess();
  }

  // A plain HTTP/1.0 exchange with 127.0.0.1:`port`; the whole answer, or
  // "" on any failure. Kept apart from the client under test on purpose.
  static std::string Exchange(int port, const std::string& request) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return "";
    timeval tv{1, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    std::string answer;
    if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0 &&
        send(fd, request.data(), request.size(), MSG_NOSIGNAL) ==
            static_cast<ssize_t>(request.size())) {
      char buf[4096];
      for (ssize_t n; (n = recv(fd, buf, sizeof(buf), 0)) > 0;) answer.append(buf, n);
    }
    close(fd);
    return answer;
  }

  static std::string Get(int port, const std::string& path) {
    return Exchange(port, "GET " + path + " HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n");
  }

  static std::string Post(int port, const std::string& path, const std::string& body) {
    return Exchange(port, "POST " + path + " HTTP/1.0\r\nHost: 127.0.0.1\r\nContent-Length: " +
                              std::to_string(body.size()) + "\r\n\r\n" + body);
  }

  // The value of "name":"value" in `json`, or "".
  static std::string StringField(const std::string& json, const std::string& name) {
    const std::string open = "\"" + name + "\":\"";
    const size_t start = json.find(open);
    if (start == std::string::npos) return "";
    const size_t end = json.find('"', start + open.size());
    return end == std::string::npos ? ""
                                    : json.substr(start + open.size(), end - start - open.size());
  }

  std::string dir_;
  std::vector<std::string> extra_args_;
  std::vector<Member> members_;
};

// A fixture whose tests share one single-member cluster, started once per
// test suite; each test skips without etcd and fails if it did not start.
class SharedEtcdTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!EtcdCluster::Available()) return;
    cluster_ = new EtcdCluster(1);
    ::testing::AssertionResult started = cluster_->Start();
    start_error_ = started ? "" : started.message();
  }
  static void TearDownTestSuite() {
    delete cluster_;
    cluster_ = nullptr;
  }
  // Derived fixtures call this first in their SetUp.
  void SetUp() override {
    QUIPU_SKIP_WITHOUT_ETCD();
    ASSERT_TRUE(start_error_.empty()) << start_error_;
  }

  static inline EtcdCluster* cluster_ = nullptr;
  static inline std::string start_error_;
};

}  // namespace quipu::testing

#endif  // QUIPU_TESTS_ETCD_ETCD_CLUSTER_H_
