// A power cut at every step of AuditStore::Retain (each file sync and
// directory change: carry and purge records, the index's writes, the purge
// marker, the removals) leaves a store that opens, verifies, answers as
// before the purge or as after it, and whose index equals one rebuilt from
// its log. QUIPU_DRILL_FULL=1 stops at every step; by default at every
// third, and always at the first and last ones.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "audit_test_util.h"
#include "io/fault_env.h"
#include "quipu/audit.h"
#include "quipu/tree.h"
#include "step_env.h"
#include "store_dump.h"
#include "test_dir.h"

namespace quipu::testing {
namespace {

AuditOptions Options(Env* env) {
  AuditOptions options;
  options.log.env = env;
  options.log.segment_size = 16 << 10;
  options.log.max_record_size = 8 << 10;
  options.log.durability = DurabilityPolicy::OsManaged();
  return options;
}

RetentionPolicy Policy() {
  RetentionPolicy policy;
  policy.max_bytes = 24 << 10;
  return policy;
}

std::unique_ptr<AuditStore> OpenStore(const std::string& dir, Env* env, bool rebuild = false) {
  AuditOptions options = Options(env);
  options.rebuild_index = rebuild;
  auto store = AuditStore::Open(dir, options);
  EXPECT_TRUE(store.ok()) << store.status().ToString();
  return store.ok() ? std::move(*store) : nullptr;
}

void Fill(AuditStore* store) {
  ASSERT_TRUE(store->DefineType(UserType()).ok());
  for (int i = 0; i < 150; ++i) {
    Event e = MakeEvent(Actor("admin" + std::to_string(i % 3)), "m",
                        {User("u" + std::to_string(i % 7), "name" + std::to_string(i / 7))},
                        int64_t{1'000'000} + i);
    e.content = Value::Text(std::string(200, 'x'));
    if (i % 2 == 0) e.idempotency_key = "k" + std::to_string(i);
    ASSERT_TRUE(store->Emit(e).ok());
  }
  ASSERT_TRUE(store->log()->Sync().ok());
}

TEST(RetentionCrashTest, APowerCutAtAnyStepLeavesTheStorePurgedOrNot) {
  TestDir dir;
  // The dumps of the store before and after an uninterrupted purge, and how
  // many steps that purge takes.
  std::string before, after;
  int steps = 0;
  {
    FaultEnv disk(Env::Default());
    StepEnv stepper(&disk, /*file_syncs=*/true);
    auto store = OpenStore(dir.log(), &stepper);
    ASSERT_NE(store, nullptr);
    Fill(store.get());
    before = DumpStore(*store);
    const int start = stepper.steps_taken();
    auto r = store->Retain(Policy());
    ASSERT_TRUE(r.ok() && r->purged) << r.status().ToString();
    steps = stepper.steps_taken() - start;
    after = DumpStore(*store);
    ASSERT_TRUE(store->Close().ok());
  }
  ASSERT_NE(before, after);
  ASSERT_GE(steps, 6);
  const bool full = std::getenv("QUIPU_DRILL_FULL") != nullptr;
  std::printf("a purge takes %d steps\n", steps);
  int purged_runs = 0;
  int unpurged_runs = 0;
  for (int crash_at = 0; crash_at <= steps; ++crash_at) {
    if (!full && crash_at % 3 != 0 && crash_at != steps - 1) continue;
    SCOPED_TRACE("power cut before step " + std::to_string(crash_at) + " of " +
                 std::to_string(steps));
    std::filesystem::remove_all(dir.log());
    FaultEnv disk(Env::Default());
    CrashDuring(
        &disk, crash_at, [&](Env* env) { return OpenStore(dir.log(), env); }, Fill,
        [](AuditStore* store) { return store->Retain(Policy()).ok(); });
    ASSERT_TRUE(disk.PowerLoss().ok());
    std::string reopened;
    {
      auto store = OpenStore(dir.log(), &disk);
      ASSERT_NE(store, nullptr);
      reopened = DumpStore(*store);
      EXPECT_TRUE(reopened == before || reopened == after) << reopened;
      purged_runs += reopened == after;
      unpurged_runs += reopened == before;
      ASSERT_TRUE(store->Close().ok());
    }
    VerifyOptions verify;
    verify.env = &disk;
    auto report = VerifyIntegrity(dir.log(), verify);
    EXPECT_TRUE(report.ok()) << report.status().ToString();
    auto rebuilt = OpenStore(dir.log(), &disk, /*rebuild=*/true);
    ASSERT_NE(rebuilt, nullptr);
    EXPECT_EQ(DumpStore(*rebuilt), reopened) << "rebuilt from the log";
    ASSERT_TRUE(rebuilt->Close().ok());
  }
  EXPECT_GT(purged_runs, 0);
  EXPECT_GT(unpurged_runs, 0);
}

}  // namespace
}  // namespace quipu::testing
