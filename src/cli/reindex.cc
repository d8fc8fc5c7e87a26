// quipu reindex DIR: discards an audit store's derived index and rebuilds it
// from the log, with a progress bar when stderr is a terminal. Takes the
// writer lock, so it refuses to run beside a writer (Busy, exit 1).
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <memory>
#include <string>

#include "cli/audit_json.h"
#include "cli/common.h"
#include "cli/verbs.h"

namespace quipu::cli {

namespace {

// "[#########.........]  45% 450000/1000000 records" on one rewritten line.
class ProgressBar {
 public:
  ProgressBar() : tty_(isatty(STDERR_FILENO) == 1) {}
  ~ProgressBar() {
    if (tty_ && drawn_) std::fprintf(stderr, "\r\033[K");
  }
  void Show(Lsn done, Lsn total) {
    if (!tty_ || total == 0) return;
    constexpr int kWidth = 30;
    const int filled = static_cast<int>(kWidth * done / total);
    std::fprintf(stderr, "\r\033[Kquipu reindex [%s%s] %3d%% %llu/%llu records",
                 std::string(filled, '#').c_str(), std::string(kWidth - filled, '.').c_str(),
                 static_cast<int>(100 * done / total), static_cast<unsigned long long>(done),
                 static_cast<unsigned long long>(total));
    drawn_ = true;
  }

 private:
  bool tty_;
  bool drawn_ = false;
};

Status Reindex(const std::string& dir) {
  const auto start = std::chrono::steady_clock::now();
  uint64_t applied = 0;
  Status s;
  {
    AuditOptions options;
    options.rebuild_index = true;
    options.log.create_if_missing = false;  // a mistyped path is NotFound, not a new store
    ProgressBar bar;                        // its line is cleared before the summary is printed
    options.on_index_progress = [&bar](Lsn done, Lsn total) { bar.Show(done, total); };
    auto store = AuditStore::Open(dir, options);
    if (!store.ok()) return store.status();
    applied = (*store)->index_report().records_applied;
    s = (*store)->Close();
  }
  if (!s.ok()) return s;
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  FdWriter out(STDOUT_FILENO);
  char line[160];
  std::snprintf(line, sizeof line, "reindexed %s: %llu records in %.2f s\n", dir.c_str(),
                static_cast<unsigned long long>(applied), seconds);
  s = out.Write(line);
  return FirstError(s, out.Flush());
}

}  // namespace

void RegisterReindex(CLI::App& app) {
  auto dir = std::make_shared<std::string>();
  CLI::App* verb = app.add_subcommand(
      "reindex",
      "Rebuild an audit store's derived index (DIR/index) from its log. Never needed for "
      "correctness (a missing or damaged index is rebuilt on open); useful after moving a store "
      "or to reclaim space. Takes the writer lock.");
  verb->add_option("dir", *dir, "store directory")->required();
  SetAction(verb, [dir] { return Reindex(*dir); });
}

}  // namespace quipu::cli
