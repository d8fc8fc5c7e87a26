// drill/drill_env.h — the thin Envs a crash drill stacks around FaultEnv.
//
//   NoSyncEnv       Under FaultEnv: forwards to a real Env, but fdatasync and
//                   directory fsync return at once. FaultEnv already records
//                   what each sync would have made durable, so paying for the
//                   real ones would only slow the drill to the disk's fsync
//                   rate (10 000 crashes need millions of them).
//   CrashAfterEnv   Over FaultEnv: counts the operations that change a file or
//                   directory and calls FaultEnv::Crash() just before the k-th,
//                   which then fails like every later one. That puts crashes
//                   inside an append, a rotation, or recovery itself.
//
// Thread safety: as Env; the operation count is atomic.
#ifndef QUIPU_DRILL_DRILL_ENV_H_
#define QUIPU_DRILL_DRILL_ENV_H_

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "io/fault_env.h"
#include "quipu/env.h"

namespace quipu::drill {

// Forwards every call to `target`; subclasses hook changes and syncs.
class ForwardingEnv : public Env {
 public:
  explicit ForwardingEnv(Env* target) : target_(target) {}

  Result<std::unique_ptr<WritableFile>> NewWritableFile(const std::string& path) override;
  Result<std::unique_ptr<WritableFile>> ReopenWritableFile(const std::string& path) override;
  Result<std::unique_ptr<RandomAccessFile>> NewRandomAccessFile(const std::string& path) override;
  Result<std::vector<std::string>> ListDir(const std::string& dir) override;
  Status CreateDir(const std::string& dir) override;
  Status SyncDir(const std::string& dir) override;
  Status RenameFile(const std::string& from, const std::string& to) override;
  Status RemoveFile(const std::string& path) override;
  Result<bool> FileExists(const std::string& path) override;
  Result<std::unique_ptr<FileLock>> LockFile(const std::string& path) override;

  // Runs before every operation that changes a file or directory (syncs too).
  virtual void BeforeChange() {}
  // Runs before a file's Sync (after BeforeChange), with the path the file
  // was opened under.
  virtual void BeforeFileSync(const std::string& path) { (void)path; }
  // False: file and directory syncs report success without running.
  virtual bool PassSyncs() const { return true; }

 private:
  class File;
  Result<std::unique_ptr<WritableFile>> Wrap(const std::string& path,
                                             Result<std::unique_ptr<WritableFile>> file);

  Env* const target_;
};

class NoSyncEnv final : public ForwardingEnv {
 public:
  using ForwardingEnv::ForwardingEnv;
  bool PassSyncs() const override { return false; }
};

class CrashAfterEnv final : public ForwardingEnv {
 public:
  using Clock = std::chrono::steady_clock;

  // Crashes `fault` just before change number `ops` (0 = the first).
  CrashAfterEnv(FaultEnv* fault, uint64_t ops) : ForwardingEnv(fault), fault_(fault), at_(ops) {}

  // Re-aims the crash at the `ops`-th change from now (0 = the next).
  void CrashAfter(uint64_t ops) { at_.store(count_.load() + ops); }

  void BeforeChange() override;
  bool crashed() const { return crashed_.load(std::memory_order_acquire); }
  // When the crash happened; meaningful once crashed().
  Clock::time_point crash_time() const { return crash_time_; }

 private:
  FaultEnv* const fault_;
  std::atomic<uint64_t> at_;
  std::atomic<uint64_t> count_{0};
  std::atomic<bool> crashed_{false};
  Clock::time_point crash_time_;  // written before crashed_ is set
};

}  // namespace quipu::drill

#endif  // QUIPU_DRILL_DRILL_ENV_H_
