// The fixture of the FaultEnv tests (fault_env_test.cc,
// fault_env_power_loss_test.cc): a FaultEnv over a temporary directory, and
// ways to look at the real files behind its back.
#ifndef QUIPU_TESTS_IO_FAULT_ENV_FIXTURE_H_
#define QUIPU_TESTS_IO_FAULT_ENV_FIXTURE_H_

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <string>

#include "io/fault_env.h"
#include "test_dir.h"

namespace quipu {

class FaultEnvTest : public ::testing::Test {
 protected:
  std::string Path(const std::string& name) const { return dir_ + "/" + name; }

  // The real file's content, read behind the FaultEnv's back; "<absent>" if none.
  std::string Disk(const std::string& name) const {
    if (!std::filesystem::exists(Path(name))) return "<absent>";
    std::ifstream in(Path(name), std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
  }

  std::unique_ptr<WritableFile> Create(const std::string& name) {
    auto f = env_.NewWritableFile(Path(name));
    EXPECT_TRUE(f.ok()) << f.status().ToString();
    return f.ok() ? std::move(f).value() : nullptr;
  }

  // A file whose entry is durable and whose first `synced` bytes are durable.
  std::unique_ptr<WritableFile> CreateDurable(const std::string& name, const std::string& synced) {
    auto f = Create(name);
    EXPECT_TRUE(f->Append(synced).ok());
    EXPECT_TRUE(f->Sync().ok());
    EXPECT_TRUE(env_.SyncDir(dir_).ok());
    return f;
  }

  void PowerLoss(PowerLossOptions options = {}) {
    Status s = env_.PowerLoss(options);
    ASSERT_TRUE(s.ok()) << s.ToString();
  }

  testing::TestDir temp_;
  const std::string dir_ = temp_.path();
  FaultEnv env_{Env::Default()};
};

// Distinct, recognisable bytes: `salt` shifts the sequence.
inline std::string Pattern(size_t n, int salt) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; ++i) {
    s[i] = static_cast<char>('a' + (i * 7 + static_cast<size_t>(salt)) % 26);
  }
  return s;
}

}  // namespace quipu

#endif  // QUIPU_TESTS_IO_FAULT_ENV_FIXTURE_H_
