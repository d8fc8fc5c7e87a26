#include "drill/drill_env.h"

namespace quipu::drill {

class ForwardingEnv::File final : public WritableFile {
 public:
  File(ForwardingEnv* env, std::string path, std::unique_ptr<WritableFile> base)
      : env_(env), path_(std::move(path)), base_(std::move(base)) {}

  Status Append(std::string_view data) override {
    env_->BeforeChange();
    return base_->Append(data);
  }
  Status WriteAt(uint64_t offset, std::string_view data) override {
    env_->BeforeChange();
    return base_->WriteAt(offset, data);
  }
  Status Truncate(uint64_t size) override {
    env_->BeforeChange();
    return base_->Truncate(size);
  }
  Status Sync() override {
    env_->BeforeChange();
    env_->BeforeFileSync(path_);
    return env_->PassSyncs() ? base_->Sync() : Status::OK();
  }
  Status Close() override { return base_->Close(); }
  uint64_t Size() const override { return base_->Size(); }

 private:
  ForwardingEnv* const env_;
  const std::string path_;
  const std::unique_ptr<WritableFile> base_;
};

Result<std::unique_ptr<WritableFile>> ForwardingEnv::Wrap(
    const std::string& path, Result<std::unique_ptr<WritableFile>> file) {
  if (!file.ok()) return file.status();
  return std::unique_ptr<WritableFile>(new File(this, path, std::move(*file)));
}

Result<std::unique_ptr<WritableFile>> ForwardingEnv::NewWritableFile(const std::string& path) {
  BeforeChange();
  return Wrap(path, target_->NewWritableFile(path));
}

Result<std::unique_ptr<WritableFile>> ForwardingEnv::ReopenWritableFile(const std::string& path) {
  return Wrap(path, target_->ReopenWritableFile(path));
}

Result<std::unique_ptr<RandomAccessFile>> ForwardingEnv::NewRandomAccessFile(
    const std::string& path) {
  return target_->NewRandomAccessFile(path);
}

Result<std::vector<std::string>> ForwardingEnv::ListDir(const std::string& dir) {
  return target_->ListDir(dir);
}

Status ForwardingEnv::CreateDir(const std::string& dir) {
  BeforeChange();
  return target_->CreateDir(dir);
}

Status ForwardingEnv::SyncDir(const std::string& dir) {
  BeforeChange();
  return PassSyncs() ? target_->SyncDir(dir) : Status::OK();
}

Status ForwardingEnv::RenameFile(const std::string& from, const std::string& to) {
  BeforeChange();
  return target_->RenameFile(from, to);
}

Status ForwardingEnv::RemoveFile(const std::string& path) {
  BeforeChange();
  return target_->RemoveFile(path);
}

Result<bool> ForwardingEnv::FileExists(const std::string& path) {
  return target_->FileExists(path);
}

Result<std::unique_ptr<FileLock>> ForwardingEnv::LockFile(const std::string& path) {
  return target_->LockFile(path);
}

void CrashAfterEnv::BeforeChange() {
  if (count_.fetch_add(1, std::memory_order_acq_rel) != at_.load()) return;
  crash_time_ = Clock::now();
  fault_->Crash();
  crashed_.store(true, std::memory_order_release);
}

}  // namespace quipu::drill
