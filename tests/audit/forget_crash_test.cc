// A power cut at every step of AuditStore::Forget (each file sync and
// directory change: the forget record, the index, the key slot) leaves the
// subject either wholly readable or wholly forgotten — never a mix — in a
// store that opens, verifies, and answers alike after a rebuild.
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <string>

#include "audit_test_util.h"
#include "io/fault_env.h"
#include "quipu/audit.h"
#include "quipu/keys.h"
#include "quipu/tree.h"
#include "step_env.h"
#include "store_dump.h"
#include "test_dir.h"

namespace quipu::testing {
namespace {

std::shared_ptr<const MasterKeys> Key() {
  auto keys = MasterKeys::Parse(
      "quipu-master-key 1 f00102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\n");
  EXPECT_TRUE(keys.ok());
  return *keys;
}

std::unique_ptr<AuditStore> OpenStore(const std::string& dir, Env* env, bool rebuild = false) {
  AuditOptions options;
  options.log.env = env;
  options.log.durability = DurabilityPolicy::OsManaged();
  options.keys = Key();
  options.rebuild_index = rebuild;
  auto store = AuditStore::Open(dir, options);
  EXPECT_TRUE(store.ok()) << store.status().ToString();
  return store.ok() ? std::move(*store) : nullptr;
}

void Fill(AuditStore* store) {
  TypeSchema person{"person", {}};
  person.fields.push_back(
      {"email", FieldKind::kText, false, true, Protection::kEncryptedIndexed, 0});
  person.fields.push_back({"note", FieldKind::kText, false, false, Protection::kEncrypted, 0});
  ASSERT_TRUE(store->DefineType(person).ok());
  for (int i = 0; i < 40; ++i) {
    const std::string id = i % 2 == 0 ? "alice" : "bob" + std::to_string(i % 5);
    EntityInput in{"person", id, {}};
    in.fields["email"] = Value::Text(id + "@example.org");
    in.fields["note"] = Value::Text("note " + std::to_string(i));
    ASSERT_TRUE(store->Emit(MakeEvent(in, "m", {})).ok());
  }
  ASSERT_TRUE(store->log()->Sync().ok());
}

// "readable", "forgotten" or a description of a mix.
std::string AliceState(const AuditStore& store) {
  auto history = store.EntityHistory("person", "alice");
  if (!history.ok()) return history.status().ToString();
  size_t plain = 0, erased = 0;
  for (const EntityVersion& v : *history) {
    for (const auto& [name, value] : v.fields) {
      plain += value.hidden == Hidden::kNo;
      erased += value.hidden == Hidden::kErased;
    }
  }
  Query q;
  q.actor = EntityFilter{"person", "email", MatchOp::kExact, "alice@example.org"};
  const size_t matched = AllPages(store, q).size();
  if (erased == 0 && plain > 0 && matched == 20) return "readable";
  if (plain == 0 && erased > 0 && matched == 0) return "forgotten";
  return "mixed: " + std::to_string(plain) + " plain, " + std::to_string(erased) + " erased, " +
         std::to_string(matched) + " rows matched";
}

TEST(ForgetCrashTest, APowerCutAtAnyStepLeavesTheSubjectReadableOrForgotten) {
  TestDir dir;
  int steps = 0;
  {
    FaultEnv disk(Env::Default());
    StepEnv stepper(&disk, /*file_syncs=*/true);
    auto store = OpenStore(dir.log(), &stepper);
    ASSERT_NE(store, nullptr);
    Fill(store.get());
    ASSERT_EQ(AliceState(*store), "readable");
    const int start = stepper.steps_taken();
    ASSERT_TRUE(store->Forget("person", "alice").ok());
    steps = stepper.steps_taken() - start;
    ASSERT_EQ(AliceState(*store), "forgotten");
    ASSERT_TRUE(store->Close().ok());
  }
  ASSERT_GE(steps, 2);
  std::printf("a forget takes %d steps\n", steps);
  int forgotten = 0, readable = 0;
  for (int crash_at = 0; crash_at <= steps; ++crash_at) {
    SCOPED_TRACE("power cut before step " + std::to_string(crash_at) + " of " +
                 std::to_string(steps));
    std::filesystem::remove_all(dir.log());
    FaultEnv disk(Env::Default());
    CrashDuring(
        &disk, crash_at, [&](Env* env) { return OpenStore(dir.log(), env); }, Fill,
        [](AuditStore* store) { return store->Forget("person", "alice").ok(); });
    ASSERT_TRUE(disk.PowerLoss().ok());
    std::string state, dump;
    {
      auto store = OpenStore(dir.log(), &disk);
      ASSERT_NE(store, nullptr);
      state = AliceState(*store);
      dump = DumpStore(*store);
      ASSERT_TRUE(store->Close().ok());
    }
    EXPECT_TRUE(state == "readable" || state == "forgotten") << state;
    forgotten += state == "forgotten";
    readable += state == "readable";
    VerifyOptions verify;
    verify.env = &disk;
    auto report = VerifyIntegrity(dir.log(), verify);
    EXPECT_TRUE(report.ok()) << report.status().ToString();
    auto rebuilt = OpenStore(dir.log(), &disk, /*rebuild=*/true);
    ASSERT_NE(rebuilt, nullptr);
    EXPECT_EQ(AliceState(*rebuilt), state) << "rebuilt from the log";
    EXPECT_EQ(DumpStore(*rebuilt), dump);
    ASSERT_TRUE(rebuilt->Close().ok());
  }
  EXPECT_GT(forgotten, 0);
  EXPECT_GT(readable, 0);
}

}  // namespace
}  // namespace quipu::testing
