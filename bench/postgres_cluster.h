// bench/postgres_cluster.h — a throw-away PostgreSQL cluster for event_bench:
// initdb and `pg_ctl start` in a directory of the benchmark's scratch space,
// reachable only through a Unix socket in that directory (no TCP), stopped
// with `pg_ctl stop -m fast` and removed by the destructor, on every path.
//
// Settings that make a commit comparable with quipu's GroupCommit: fsync=on,
// synchronous_commit=on (a COMMIT returns once its WAL is flushed;
// wal_sync_method is the platform default, fdatasync on Linux). The rest are
// defaults, as a user starting PostgreSQL would have them.
//
// initdb and the server refuse to run as root. As root the programs run as
// the `postgres` user through `runuser -u postgres --`, and the cluster
// directory is chowned to it; its parents must let that user through.
//
// Child programs are started with posix_spawn and an argument vector (no
// shell), with stdin from /dev/null and output into `cluster.log`, and every
// wait is bounded. Should the benchmark die without cleaning up, the server
// notices its removed lock file within a minute and shuts itself down.
#ifndef QUIPU_BENCH_POSTGRES_CLUSTER_H_
#define QUIPU_BENCH_POSTGRES_CLUSTER_H_

#include <fcntl.h>
#include <glob.h>
#include <pwd.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "quipu/status.h"

extern char** environ;

namespace bench {

// Runs argv (argv[0] a path) in `cwd` with stdout and stderr appended to
// `log`. OK when it exits 0 within `timeout_s`; otherwise it is sent SIGTERM,
// then SIGKILL two seconds later, and the error says what happened.
inline quipu::Status RunProgram(const std::vector<std::string>& argv, const std::string& cwd,
                                const std::string& log, double timeout_s) {
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, log.c_str(),
                                   O_WRONLY | O_CREAT | O_APPEND, 0644);
  posix_spawn_file_actions_adddup2(&actions, STDOUT_FILENO, STDERR_FILENO);
  // The programs may run as another user, who need not be able to enter our cwd.
  posix_spawn_file_actions_addchdir_np(&actions, cwd.c_str());
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = 0;
  const int rc = posix_spawn(&pid, args[0], &actions, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) return quipu::Status::IOError("spawn " + argv[0], rc);

  using Clock = std::chrono::steady_clock;
  auto wait_until = [pid](Clock::time_point deadline, int* status) {
    for (;;) {
      const pid_t done = waitpid(pid, status, WNOHANG);
      if (done == pid || (done < 0 && errno != EINTR)) return true;
      if (Clock::now() >= deadline) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  };
  int status = 0;
  const auto limit =
      std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(timeout_s));
  if (!wait_until(Clock::now() + limit, &status)) {
    kill(pid, SIGTERM);
    if (!wait_until(Clock::now() + std::chrono::seconds(2), &status)) {
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
    }
    return quipu::Status::IOError(argv[0] + " did not finish within " + std::to_string(timeout_s) +
                                  " s");
  }
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return quipu::Status::OK();
  return quipu::Status::IOError(
      argv[0] + (WIFEXITED(status) ? " exited with " + std::to_string(WEXITSTATUS(status))
                                   : " was killed by a signal"));
}

// The last `max` bytes of a file, for error messages.
inline std::string TailOf(const std::string& path, size_t max = 1500) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  std::string s = ss.str();
  return s.size() > max ? s.substr(s.size() - max) : s;
}

// The directory holding initdb, pg_ctl and postgres: `pg_config --bindir`,
// else the newest /usr/lib/postgresql/*/bin (Debian's layout). Empty if none.
inline std::string FindPostgresBinaries(const std::string& scratch) {
  auto complete = [](const std::string& dir) {
    for (const char* p : {"initdb", "pg_ctl", "postgres"}) {
      if (access((dir + "/" + p).c_str(), X_OK) != 0) return false;
    }
    return true;
  };
  for (const char* pg_config : {"/usr/bin/pg_config", "/usr/local/bin/pg_config"}) {
    if (access(pg_config, X_OK) != 0) continue;
    const std::string out = scratch + "/pg_config.out";
    if (RunProgram({pg_config, "--bindir"}, scratch, out, 10).ok()) {
      std::string dir = TailOf(out);
      std::filesystem::remove(out);
      while (!dir.empty() && (dir.back() == '\n' || dir.back() == '\r')) dir.pop_back();
      if (complete(dir)) return dir;
    }
    std::filesystem::remove(out);
  }
  glob_t g{};
  std::vector<std::string> dirs;
  if (glob("/usr/lib/postgresql/*/bin", 0, nullptr, &g) == 0) {
    for (size_t i = 0; i < g.gl_pathc; ++i) dirs.push_back(g.gl_pathv[i]);
  }
  globfree(&g);
  // Newest major version first: "/usr/lib/postgresql/15/bin" sorts by number.
  std::sort(dirs.begin(), dirs.end(), [](const std::string& a, const std::string& b) {
    return std::atoi(a.c_str() + 20) > std::atoi(b.c_str() + 20);
  });
  for (const std::string& d : dirs) {
    if (complete(d)) return d;
  }
  return "";
}

// A single-quoted postgresql.conf string.
inline std::string ConfString(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("''") : std::string(1, c);
  return q + "'";
}

class PostgresCluster {
 public:
  PostgresCluster() = default;
  PostgresCluster(const PostgresCluster&) = delete;
  PostgresCluster& operator=(const PostgresCluster&) = delete;
  ~PostgresCluster() { (void)Stop(); }

  // Creates and starts a cluster in `dir` (which must not exist; its parent
  // is the benchmark's scratch directory), accepting `max_connections`. A
  // FailedPrecondition error means PostgreSQL cannot run here (no server
  // binaries, no postgres user, a directory it cannot reach); others mean a
  // step failed, with the end of its log.
  quipu::Status Start(const std::string& dir, int max_connections) {
    dir_ = std::filesystem::absolute(dir).lexically_normal().string();
    // The server's socket path must fit in sockaddr_un (107 bytes).
    if (dir_.size() + sizeof("/.s.PGSQL.5432") > 107) {
      return quipu::Status::FailedPrecondition("the socket path under " + dir_ +
                                               " is too long for a Unix socket");
    }
    const std::string scratch = std::filesystem::path(dir_).parent_path().string();
    bin_ = FindPostgresBinaries(scratch);
    if (bin_.empty()) {
      return quipu::Status::FailedPrecondition(
          "no PostgreSQL server binaries (initdb, pg_ctl, postgres) from pg_config --bindir or "
          "in /usr/lib/postgresql/*/bin; install postgresql-15");
    }
    if (mkdir(dir_.c_str(), 0700) != 0) return quipu::Status::IOError("mkdir " + dir_, errno);
    created_ = true;
    QUIPU_RETURN_IF_ERROR(AsServerUser(scratch));
    log_ = dir_ + "/cluster.log";
    data_ = dir_ + "/data";

    quipu::Status s = Run({bin_ + "/initdb", "-D", data_, "-U", "postgres", "--auth=trust",
                           "--locale=C", "--encoding=UTF8"},
                          120);
    if (!s.ok()) return Failed("initdb", s);
    std::ofstream conf(data_ + "/postgresql.conf", std::ios::app);
    conf << "\n# event_bench: a private cluster, durable commits\n"
         << "listen_addresses = ''\n"
         << "unix_socket_directories = " << ConfString(dir_) << "\n"
         << "max_connections = " << max_connections << "\n"
         << "fsync = on\nsynchronous_commit = on\nfull_page_writes = on\n";
    conf.close();
    if (!conf) return quipu::Status::IOError("write " + data_ + "/postgresql.conf");
    s = Run({bin_ + "/pg_ctl", "start", "-D", data_, "-w", "-t", "60", "-s", "-l",
             dir_ + "/server.log"},
            90);
    started_ = true;  // even on error: a server may be up that -w did not see ready
    if (!s.ok()) return Failed("pg_ctl start", s);
    return quipu::Status::OK();
  }

  // Stops the server (fast shutdown: sessions are ended, nothing is lost) and
  // removes the directory. Safe to call twice.
  quipu::Status Stop() {
    quipu::Status s;
    if (started_) {
      s = Run({bin_ + "/pg_ctl", "stop", "-D", data_, "-m", "fast", "-w", "-t", "60", "-s"}, 90);
      if (!s.ok()) {
        // Immediate shutdown: the directory goes anyway.
        const pid_t pid = PostmasterPid();
        if (pid > 0) kill(pid, SIGQUIT);
      }
      started_ = false;
    }
    if (created_) {
      std::error_code ec;
      std::filesystem::remove_all(dir_, ec);
      created_ = false;
    }
    return s;
  }

  // Where clients connect: the socket directory (libpq's `host`).
  const std::string& socket_dir() const { return dir_; }
  const std::string& bin_dir() const { return bin_; }

  // The server's process id, from the data directory's lock file (0 if unknown).
  pid_t PostmasterPid() const {
    std::ifstream in(data_ + "/postmaster.pid");
    long pid = 0;
    in >> pid;
    return static_cast<pid_t>(pid);
  }

  // CPU seconds the server has used so far: the postmaster, the children it
  // reaped, and those alive (backends, WAL writer, checkpointer...). Differences
  // of two readings give the server's CPU over a run; -1 if /proc says nothing.
  double ServerCpuSeconds() const {
    const pid_t postmaster = PostmasterPid();
    if (postmaster <= 0) return -1;
    double ticks = 0;
    bool found = false;
    std::error_code ec;
    for (const auto& entry : std::filesystem::directory_iterator("/proc", ec)) {
      const std::string name = entry.path().filename().string();
      if (name.empty() || name.find_first_not_of("0123456789") != std::string::npos) continue;
      std::ifstream in(entry.path() / "stat");
      std::string line;
      if (!std::getline(in, line)) continue;  // the process has gone
      // "pid (comm) state ppid ... utime stime cutime cstime ...": comm may hold
      // spaces and parentheses, so count fields from the last ')'.
      const size_t paren = line.rfind(')');
      if (paren == std::string::npos) continue;
      std::istringstream fields(line.substr(paren + 1));
      std::vector<std::string> f;
      for (std::string x; fields >> x && f.size() < 15;) f.push_back(x);
      if (f.size() < 15) continue;
      const long pid = std::atol(name.c_str());
      const long ppid = std::atol(f[1].c_str());
      if (pid == postmaster) {
        found = true;
        for (int i = 11; i <= 14; ++i) ticks += std::atof(f[i].c_str());  // own + reaped
      } else if (ppid == postmaster) {
        ticks += std::atof(f[11].c_str()) + std::atof(f[12].c_str());
      }
    }
    return found ? ticks / static_cast<double>(sysconf(_SC_CLK_TCK)) : -1;
  }

 private:
  // As root, arranges for the programs to run as `postgres` and checks that
  // this user can reach and write the cluster directory.
  quipu::Status AsServerUser(const std::string& scratch) {
    if (geteuid() != 0) return quipu::Status::OK();
    const passwd* pw = getpwnam("postgres");
    if (pw == nullptr) {
      return quipu::Status::FailedPrecondition(
          "running as root, and initdb refuses root, but there is no user postgres to run it as");
    }
    for (const char* r : {"/usr/sbin/runuser", "/sbin/runuser", "/usr/bin/runuser"}) {
      if (access(r, X_OK) == 0) {
        runuser_ = r;
        break;
      }
    }
    if (runuser_.empty()) {
      return quipu::Status::FailedPrecondition("running as root and runuser is missing");
    }
    if (chown(dir_.c_str(), pw->pw_uid, pw->pw_gid) != 0) {
      return quipu::Status::FailedPrecondition("cannot chown " + dir_ +
                                               " to postgres: " + std::strerror(errno));
    }
    // The scratch directory is ours (mkdtemp made it 0700): let postgres through.
    struct stat st {};
    if (stat(scratch.c_str(), &st) != 0 || chmod(scratch.c_str(), st.st_mode | S_IXOTH) != 0) {
      return quipu::Status::FailedPrecondition("cannot add o+x to " + scratch + ": " +
                                               std::strerror(errno));
    }
    if (!Run({"/usr/bin/test", "-w", dir_}, 10).ok()) {
      return quipu::Status::FailedPrecondition(
          "user postgres cannot reach " + dir_ +
          " (a parent directory lacks o+x); give --dir a directory it can reach, such as /tmp/...");
    }
    return quipu::Status::OK();
  }

  quipu::Status Run(std::vector<std::string> argv, double timeout_s) {
    if (!runuser_.empty()) argv.insert(argv.begin(), {runuser_, "-u", "postgres", "--"});
    // The log lives in the cluster directory: removed with it.
    return RunProgram(argv, dir_, log_.empty() ? dir_ + "/cluster.log" : log_, timeout_s);
  }

  // The step's error with the end of its output and of the server's log.
  quipu::Status Failed(const std::string& step, const quipu::Status& s) const {
    const std::string tail = TailOf(log_) + TailOf(dir_ + "/server.log");
    const quipu::Status failed = s.WithContext(step);
    if (tail.empty()) return failed;
    return quipu::Status::IOError(failed.message() + "; the log ends:\n" + tail);
  }

  std::string dir_, data_, log_, bin_, runuser_;
  bool created_ = false;
  bool started_ = false;
};

}  // namespace bench

#endif  // QUIPU_BENCH_POSTGRES_CLUSTER_H_
