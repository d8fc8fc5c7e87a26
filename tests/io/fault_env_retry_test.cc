// FaultEnv counts the one sync the fsyncgate rule forbids: another Sync on
// the file handle whose Sync failed. Syncs of other handles do not count,
// not even of the same file reopened (what recovery does).
#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "io/fault_env.h"
#include "test_dir.h"

namespace quipu {
namespace {

TEST(FaultEnvRetryTest, OnlyASyncOnTheHandleThatFailedIsARetry) {
  testing::TestDir dir;
  FaultEnv env(Env::Default());
  auto failing = env.NewWritableFile(dir.path() + "/a");
  auto other = env.NewWritableFile(dir.path() + "/b");
  ASSERT_TRUE(failing.ok() && other.ok());
  ASSERT_TRUE((*failing)->Append("x").ok());
  env.FailSyncs(1);
  EXPECT_FALSE((*failing)->Sync().ok());
  EXPECT_TRUE((*other)->Sync().ok());
  auto reopened = env.ReopenWritableFile(dir.path() + "/a");
  ASSERT_TRUE(reopened.ok());
  EXPECT_TRUE((*reopened)->Sync().ok());
  EXPECT_EQ(env.RetriedFailedSyncs(), 0u);
  EXPECT_TRUE((*failing)->Sync().ok());  // may "succeed": that is the danger
  EXPECT_EQ(env.RetriedFailedSyncs(), 1u);
}

}  // namespace
}  // namespace quipu
