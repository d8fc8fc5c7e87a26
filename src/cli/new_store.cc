#include "cli/new_store.h"

#include <unistd.h>

#include <vector>

#include "quipu/env.h"
#include "quipu/inspect.h"

namespace quipu::cli {

namespace {

// Removes `dir` if it holds only an empty store. Best effort: the run has
// already failed, and its error is the one to report.
void RemoveIfEmptyStore(const std::string& dir) {
  Env* env = Env::Default();
  Result<std::vector<std::string>> names = env->ListDir(dir);
  if (!names.ok()) return;
  for (const std::string& name : *names) {
    if (!IsLogFileName(name)) return;  // someone else's file: not ours to judge
  }
  // The run has closed the store, so the count is final; a record, even one
  // from a process that opened the directory since, keeps everything.
  Result<LogSummary> log = InspectLog(dir, env);
  if (!log.ok() || log->records > 0) return;
  for (const std::string& name : *names) {
    const std::string path = dir + "/" + name;
    if (name == "index") {
      // The derived index of the empty store: RocksDB's files, no more.
      Result<std::vector<std::string>> files = env->ListDir(path);
      if (!files.ok()) return;
      for (const std::string& file : *files) {
        if (!env->RemoveFile(path + "/" + file).ok()) return;
      }
      if (::rmdir(path.c_str()) != 0) return;
      continue;
    }
    if (!env->RemoveFile(path).ok()) return;
  }
  // rmdir(2), not a recursive removal: whatever appeared meanwhile stays.
  (void)::rmdir(dir.c_str());
}

}  // namespace

Status RunRemovingNewStore(const std::string& dir, const std::function<Status()>& verb) {
  Result<bool> existed = Env::Default()->FileExists(dir);
  Status s = verb();
  if (!s.ok() && existed.ok() && !*existed) RemoveIfEmptyStore(dir);
  return s;
}

}  // namespace quipu::cli
