// Shared helpers for the LogTree tests: a bare log engine (log/engine.h)
// with small segments on a FaultEnv, the tree opened over it separately (as
// Log::Open does), and the in-memory tree the on-disk one must agree with.
#ifndef QUIPU_TESTS_INTEGRITY_TREE_FIXTURE_H_
#define QUIPU_TESTS_INTEGRITY_TREE_FIXTURE_H_

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "integrity/log_tree.h"
#include "integrity/memory_tree.h"
#include "integrity/spine.h"
#include "io/fault_env.h"
#include "log/engine.h"
#include "quipu/log.h"
#include "quipu/tree.h"
#include "test_dir.h"

namespace quipu::testing {

// The seed of a randomized test: QUIPU_SEED if set, else random; printed so
// a failure can be replayed.
inline uint64_t TestSeed() {
  const char* env = std::getenv("QUIPU_SEED");
  const uint64_t seed = env != nullptr ? std::strtoull(env, nullptr, 10) : std::random_device{}();
  std::cout << "QUIPU_SEED=" << seed << "\n";
  return seed;
}

class TreeFixture : public ::testing::Test {
 protected:
  TreeFixture() : env_(Env::Default()) {}

  LogOptions Options(DurabilityPolicy policy = DurabilityPolicy::Always()) {
    LogOptions options;
    options.env = &env_;
    options.durability = policy;
    options.segment_size = segment_size_;
    options.max_record_size = 1024;
    // Small, so records become readable (flushed) long before they are
    // durable: the follower then runs ahead of DurableLsn().
    options.buffer_size = 2048;
    return options;
  }

  TreeOptions TreeOpts() {
    TreeOptions options;
    options.poll_interval = std::chrono::milliseconds(1);
    return options;
  }

  void OpenLog(DurabilityPolicy policy = DurabilityPolicy::Always()) {
    auto log = OpenLogEngine(dir_.log(), Options(policy));
    ASSERT_TRUE(log.ok()) << log.status().ToString();
    log_ = std::move(*log);
  }

  Status OpenTree(const TreeOptions& options) {
    auto tree = OpenLogTree(log_.get(), dir_.log(), &env_, options, nullptr);
    if (!tree.ok()) return tree.status();
    tree_ = std::move(*tree);
    return Status::OK();
  }
  void OpenTree() { ASSERT_TRUE(OpenTree(TreeOpts()).ok()); }

  VerifyOptions VerifyOpts() {
    VerifyOptions options;
    options.env = &env_;
    return options;
  }

  void CloseAll() {
    if (tree_ != nullptr) {
      EXPECT_TRUE(tree_->Close().ok());
    }
    tree_.reset();
    if (log_ != nullptr) {
      EXPECT_TRUE(log_->Close().ok());
    }
    log_.reset();
  }

  void Append(int count, const std::string& prefix = "record-") {
    for (int i = 0; i < count; ++i) {
      const std::string payload = prefix + std::to_string(payloads_.size());
      auto lsn = log_->Append(payload);
      ASSERT_TRUE(lsn.ok()) << lsn.status().ToString();
      payloads_.push_back(payload);
    }
  }

  // A closed log of 40 records (one segment, so the spine was synced only at
  // Close) with garbage appended where nodes past the synced claim would go.
  void MakeSpineWithGarbagePastItsSyncedClaim() {
    OpenLog();
    OpenTree();
    Append(40);
    ASSERT_TRUE(tree_->CatchUp().ok());
    CloseAll();
    auto file = env_.ReopenWritableFile(spine::SpinePath(dir_.log()));
    ASSERT_TRUE(file.ok());
    ASSERT_TRUE((*file)->Append(std::string(32 * 9, '\x5a')).ok());
    ASSERT_TRUE((*file)->Close().ok());
  }

  // A log of 400 records whose tree was synced over all of them, closed,
  // and then its newest segment deleted: the spine vouches for lost records.
  void MakeLogTruncatedBelowItsSpine() {
    OpenLog();
    OpenTree();
    Append(400);
    ASSERT_TRUE(tree_->CatchUp().ok());
    CloseAll();
    auto names = env_.ListDir(dir_.log());
    ASSERT_TRUE(names.ok());
    std::sort(names->begin(), names->end());
    std::string newest;
    for (const std::string& name : *names) {
      if (name.ends_with(".qlog")) newest = name;
    }
    ASSERT_TRUE(env_.RemoveFile(dir_.log() + "/" + newest).ok());
  }

  // A closed log of 20 "theirs-" records under the spine of 20 "mine-" ones.
  void MakeLogUnderAnotherLogsSpine() {
    OpenLog();
    OpenTree();
    Append(20, "mine-");
    CloseAll();
    const std::string spine = spine::SpinePath(dir_.log());
    ASSERT_TRUE(env_.RenameFile(spine, dir_.path() + "/saved").ok());
    std::filesystem::remove_all(dir_.log());
    payloads_.clear();
    OpenLog();
    Append(20, "theirs-");
    CloseAll();
    ASSERT_TRUE(env_.RenameFile(dir_.path() + "/saved", spine).ok());
  }

  // The in-memory tree over the first `n` payloads appended.
  merkle::MemoryTree Memory(size_t n) const {
    merkle::MemoryTree tree;
    for (size_t i = 0; i < n; ++i) tree.AppendPayload(payloads_[i]);
    return tree;
  }

  uint64_t segment_size_ = 4096;
  TestDir dir_;
  FaultEnv env_;
  std::unique_ptr<Log> log_;
  std::unique_ptr<OwnedLogTree> tree_;
  std::vector<std::string> payloads_;
};

}  // namespace quipu::testing

#endif  // QUIPU_TESTS_INTEGRITY_TREE_FIXTURE_H_
