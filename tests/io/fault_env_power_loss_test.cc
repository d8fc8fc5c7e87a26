// FaultEnv's power loss: torn writes, pages written back in any order, and
// overwrites of synced bytes.
#include <gtest/gtest.h>

#include <string>

#include "fault_env_fixture.h"

namespace quipu {
namespace {

TEST_F(FaultEnvTest, TearKeepsAnAlignedPrefixNotBelowSyncedSize) {
  const std::string synced = Pattern(1000, 1);
  const std::string unsynced = Pattern(5000, 2);
  bool kept_some = false;
  for (uint64_t seed = 0; seed < 64; ++seed) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    const std::string name = "f" + std::to_string(seed);
    auto f = CreateDurable(name, synced);
    ASSERT_TRUE(f->Append(unsynced).ok());
    PowerLoss({.tear_last_write = true, .seed = seed});
    const std::string after = Disk(name);
    ASSERT_GE(after.size(), synced.size());
    ASSERT_LE(after.size(), synced.size() + unsynced.size());
    if (after.size() != synced.size()) {
      EXPECT_EQ(after.size() % 512, 0u);
      kept_some = true;
    }
    EXPECT_EQ(after, (synced + unsynced).substr(0, after.size()));
  }
  EXPECT_TRUE(kept_some);  // the seeds really do pick different tears
}

TEST_F(FaultEnvTest, TearIsDeterministicForASeed) {
  auto tear = [&](const std::string& name) {
    auto f = CreateDurable(name, "");
    EXPECT_TRUE(f->Append(Pattern(100000, 3)).ok());
    PowerLoss({.tear_last_write = true, .seed = 1234});
    return Disk(name).size();
  };
  EXPECT_EQ(tear("x"), tear("y"));
}

TEST_F(FaultEnvTest, TearStaysInsideTheFirstUnsyncedWrite) {
  for (uint64_t seed = 0; seed < 32; ++seed) {
    const std::string name = "f" + std::to_string(seed);
    auto f = CreateDurable(name, "");
    ASSERT_TRUE(f->Append(Pattern(1500, 4)).ok());
    ASSERT_TRUE(f->Append(Pattern(8000, 5)).ok());
    PowerLoss({.tear_last_write = true, .seed = seed});
    const size_t size = Disk(name).size();
    EXPECT_TRUE(size == 0 || size == 512 || size == 1024) << "seed " << seed << " size " << size;
  }
}

TEST_F(FaultEnvTest, TearNeverAppliesWithoutTheOption) {
  auto f = CreateDurable("a", "x");
  ASSERT_TRUE(f->Append(Pattern(100000, 6)).ok());
  PowerLoss({.tear_last_write = false, .seed = 99});
  EXPECT_EQ(Disk("a"), "x");
}

TEST_F(FaultEnvTest, RandomPagesKeepSomeUnsyncedPagesAndZeroTheHoles) {
  const std::string synced = Pattern(1000, 7);
  const std::string unsynced = Pattern(9 * 4096, 8);
  const std::string full = synced + unsynced;
  bool saw_hole = false;
  bool saw_cut = false;
  for (uint64_t seed = 0; seed < 32; ++seed) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    const std::string name = "p" + std::to_string(seed);
    auto f = CreateDurable(name, synced);
    ASSERT_TRUE(f->Append(unsynced).ok());
    PowerLoss({.keep_random_pages = true, .seed = seed});
    const std::string after = Disk(name);
    ASSERT_GE(after.size(), synced.size());
    ASSERT_LE(after.size(), full.size());
    EXPECT_EQ(after.substr(0, synced.size()), synced) << "synced bytes are never touched";
    if (after.size() < full.size()) {
      saw_cut = true;
      EXPECT_TRUE(after.size() == synced.size() || after.size() % 4096 == 0);
    }
    // Every page past the synced size is either what was written or zeros.
    for (size_t page = 0; page < after.size(); page += 4096) {
      const size_t lo = std::max(page, synced.size());
      const size_t hi = std::min(page + 4096, after.size());
      if (lo >= hi) continue;
      const std::string got = after.substr(lo, hi - lo);
      if (got == full.substr(lo, hi - lo)) continue;
      EXPECT_EQ(got, std::string(hi - lo, '\0')) << "page at " << page;
      saw_hole = true;
    }
  }
  EXPECT_TRUE(saw_hole);
  EXPECT_TRUE(saw_cut);
}

TEST_F(FaultEnvTest, RandomPagesWithCertaintyKeepEverythingOrNothing) {
  auto f = CreateDurable("a", "s");
  ASSERT_TRUE(f->Append(Pattern(10000, 9)).ok());
  PowerLoss({.keep_random_pages = true, .page_keep_probability = 1.0, .seed = 3});
  EXPECT_EQ(Disk("a"), "s" + Pattern(10000, 9));
  auto again = env_.ReopenWritableFile(Path("a"));
  ASSERT_TRUE(again.ok());
  ASSERT_TRUE((*again)->Append(Pattern(10000, 10)).ok());
  PowerLoss({.keep_random_pages = true, .page_keep_probability = 0.0, .seed = 3});
  EXPECT_EQ(Disk("a"), "s" + Pattern(10000, 9));
}

TEST_F(FaultEnvTest, RandomPagesDecideEachOverwrittenPageWhole) {
  // Synced zeros, overwritten in place and not synced (a log writing into
  // zeros it wrote ahead): each page comes back all new or all durable.
  const std::string zeros(8 * 4096, '\0');
  const std::string fresh = Pattern(8 * 4096 - 100, 11);
  bool saw_new = false;
  bool saw_old = false;
  for (uint64_t seed = 0; seed < 16; ++seed) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    const std::string name = "o" + std::to_string(seed);
    auto f = CreateDurable(name, zeros);
    ASSERT_TRUE(f->WriteAt(50, fresh).ok());
    PowerLoss({.keep_random_pages = true, .seed = seed});
    const std::string after = Disk(name);
    ASSERT_EQ(after.size(), zeros.size()) << "the durable size stays";
    std::string written = zeros;
    written.replace(50, fresh.size(), fresh);
    for (size_t page = 0; page < after.size(); page += 4096) {
      const std::string got = after.substr(page, 4096);
      if (got == written.substr(page, 4096)) {
        saw_new = true;
      } else {
        EXPECT_EQ(got, zeros.substr(page, 4096)) << "page at " << page;
        saw_old = true;
      }
    }
  }
  EXPECT_TRUE(saw_new);
  EXPECT_TRUE(saw_old);
}

TEST_F(FaultEnvTest, WithoutRandomPagesEveryOverwriteIsUndone) {
  auto f = CreateDurable("a", std::string(10000, '\0'));
  ASSERT_TRUE(f->WriteAt(10, Pattern(9000, 12)).ok());
  PowerLoss({.tear_last_write = true, .seed = 5});
  EXPECT_EQ(Disk("a"), std::string(10000, '\0'));
}

}  // namespace
}  // namespace quipu
