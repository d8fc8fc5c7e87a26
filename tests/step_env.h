// StepEnv: crashes a FaultEnv just before the n-th directory operation
// (creating, renaming or removing a file, syncing a directory) and, when
// asked, file sync, so that a test can stop a multi-step change, such as a
// purge, at every step.
#ifndef QUIPU_TESTS_STEP_ENV_H_
#define QUIPU_TESTS_STEP_ENV_H_

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "io/fault_env.h"
#include "quipu/env.h"

namespace quipu::testing {

class StepEnv final : public Env {
 public:
  explicit StepEnv(FaultEnv* base, bool file_syncs = false)
      : base_(base), file_syncs_(file_syncs) {}
  void CrashBeforeStep(int n) { steps_left_ = n; }
  int steps_taken() const { return taken_; }

  Result<std::unique_ptr<WritableFile>> NewWritableFile(const std::string& path) override {
    Step();
    return Wrap(base_->NewWritableFile(path));
  }
  Result<std::unique_ptr<WritableFile>> ReopenWritableFile(const std::string& path) override {
    return Wrap(base_->ReopenWritableFile(path));
  }
  Result<std::unique_ptr<RandomAccessFile>> NewRandomAccessFile(const std::string& path) override {
    return base_->NewRandomAccessFile(path);
  }
  Result<std::vector<std::string>> ListDir(const std::string& dir) override {
    return base_->ListDir(dir);
  }
  Status CreateDir(const std::string& dir) override { return base_->CreateDir(dir); }
  Status SyncDir(const std::string& dir) override {
    Step();
    return base_->SyncDir(dir);
  }
  Status RenameFile(const std::string& from, const std::string& to) override {
    Step();
    return base_->RenameFile(from, to);
  }
  Status RemoveFile(const std::string& path) override {
    Step();
    return base_->RemoveFile(path);
  }
  Result<bool> FileExists(const std::string& path) override { return base_->FileExists(path); }
  Result<std::unique_ptr<FileLock>> LockFile(const std::string& path) override {
    return base_->LockFile(path);
  }

 private:
  class SteppedFile final : public WritableFile {
   public:
    SteppedFile(StepEnv* env, std::unique_ptr<WritableFile> file)
        : env_(env), file_(std::move(file)) {}
    Status Append(std::string_view data) override { return file_->Append(data); }
    Status WriteAt(uint64_t offset, std::string_view data) override {
      return file_->WriteAt(offset, data);
    }
    Status Truncate(uint64_t size) override { return file_->Truncate(size); }
    Status Sync() override {
      env_->Step();
      return file_->Sync();
    }
    Status Close() override { return file_->Close(); }
    uint64_t Size() const override { return file_->Size(); }

   private:
    StepEnv* env_;
    std::unique_ptr<WritableFile> file_;
  };

  Result<std::unique_ptr<WritableFile>> Wrap(Result<std::unique_ptr<WritableFile>> file) {
    if (!file_syncs_ || !file.ok()) return file;
    return std::unique_ptr<WritableFile>(std::make_unique<SteppedFile>(this, std::move(*file)));
  }

  void Step() {
    ++taken_;
    if (steps_left_ >= 0 && steps_left_-- == 0) base_->Crash();
  }

  FaultEnv* base_;
  const bool file_syncs_;
  int steps_left_ = -1;
  int taken_ = 0;
};

// One run of a drill: `open` makes the target (a store, say) over a StepEnv
// on `disk`, `fill` fills it, and `act` — the change under test, returning
// whether it succeeded — runs with the power cut before its step
// `crash_at`, or right after it when it takes fewer steps. The target is
// dropped before this returns; the caller then calls disk->PowerLoss().
template <typename Open, typename Fill, typename Act>
void CrashDuring(FaultEnv* disk, int crash_at, Open&& open, Fill&& fill, Act&& act) {
  StepEnv stepper(disk, /*file_syncs=*/true);
  auto target = open(&stepper);
  ASSERT_NE(target, nullptr);
  fill(target.get());
  stepper.CrashBeforeStep(crash_at);
  if (act(target.get())) disk->Crash();  // past the last step: cut the power after it
}

}  // namespace quipu::testing

#endif  // QUIPU_TESTS_STEP_ENV_H_
