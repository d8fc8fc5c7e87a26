// ZeroAheadFile: appends land at the end of the data, zeros stay ahead of
// it within the limit, and a full disk is met by the data, not hidden.
#include "io/zero_ahead_file.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <string>

#include "io/fault_env.h"
#include "test_dir.h"

namespace quipu {
namespace {

class ZeroAheadFileTest : public ::testing::Test {
 protected:
  std::string Path() const { return dir_.path() + "/f"; }

  std::string Disk() const {
    std::ifstream in(Path(), std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
  }

  std::unique_ptr<ZeroAheadFile> Open(uint64_t chunk, uint64_t limit,
                                      uint64_t max_sync_span = UINT64_MAX) {
    auto file = env_.NewWritableFile(Path());
    EXPECT_TRUE(file.ok()) << file.status().ToString();
    EXPECT_TRUE((*file)->Append("head").ok());
    return std::make_unique<ZeroAheadFile>(std::move(*file), chunk, limit, max_sync_span);
  }

  testing::TestDir dir_;
  FaultEnv env_{Env::Default()};
};

TEST_F(ZeroAheadFileTest, AppendsLandAtTheEndOfTheDataWithZerosAhead) {
  auto f = Open(/*chunk=*/100, /*limit=*/1000);
  ASSERT_TRUE(f->Append("abc").ok());
  EXPECT_EQ(f->Size(), 7u);
  EXPECT_EQ(Disk(), "headabc" + std::string(97, '\0')) << "one chunk of zeros past the old end";
  ASSERT_TRUE(f->Append(std::string(150, 'x')).ok());
  EXPECT_EQ(f->Size(), 157u);
  EXPECT_EQ(Disk().size(), 204u) << "grown by whole chunks";
  EXPECT_EQ(f->ZerosAhead(), 47u);
  ASSERT_TRUE(f->Sync().ok());
}

TEST_F(ZeroAheadFileTest, ZerosStopAtTheLimitButDataDoesNot) {
  auto f = Open(/*chunk=*/100, /*limit=*/60);
  ASSERT_TRUE(f->Append("abc").ok());
  EXPECT_EQ(Disk().size(), 60u);
  ASSERT_TRUE(f->Append(std::string(80, 'y')).ok());
  EXPECT_EQ(f->Size(), 87u);
  EXPECT_EQ(Disk(), "headabc" + std::string(80, 'y'));
}

TEST_F(ZeroAheadFileTest, LargeSyncsStopTheZerosAndSmallOnesBringThemBack) {
  auto f = Open(/*chunk=*/100, /*limit=*/1 << 20, /*max_sync_span=*/50);
  ASSERT_TRUE(f->Append(std::string(60, 'a')).ok());
  EXPECT_EQ(Disk().size(), 104u) << "no sync yet: zeros";
  ASSERT_TRUE(f->Sync().ok());  // covered 60 bytes: more than 50
  ASSERT_TRUE(f->Append(std::string(60, 'b')).ok());
  EXPECT_EQ(Disk().size(), 124u) << "past the zeros, grown plainly";
  ASSERT_TRUE(f->Sync().ok());  // 60 again
  ASSERT_TRUE(f->Append(std::string(10, 'c')).ok());
  ASSERT_TRUE(f->Sync().ok());  // 10: small
  ASSERT_TRUE(f->Append(std::string(10, 'd')).ok());
  EXPECT_EQ(f->Size(), 144u);
  EXPECT_EQ(Disk().size(), 234u) << "zeros again";
}

TEST_F(ZeroAheadFileTest, FinishCutsTheZerosAndLaterAppendsGrowPlainly) {
  auto f = Open(/*chunk=*/1000, /*limit=*/1 << 20);
  ASSERT_TRUE(f->Append("abc").ok());
  ASSERT_TRUE(f->Finish().ok());
  EXPECT_EQ(Disk(), "headabc");
  ASSERT_TRUE(f->Append("de").ok());
  EXPECT_EQ(Disk(), "headabcde");
  EXPECT_EQ(f->ZerosAhead(), 0u);
}

TEST_F(ZeroAheadFileTest, TruncateCutsDataAndZeros) {
  auto f = Open(/*chunk=*/1000, /*limit=*/1 << 20);
  ASSERT_TRUE(f->Append("abcdef").ok());
  ASSERT_TRUE(f->Truncate(6).ok());
  EXPECT_EQ(Disk(), "headab");
  ASSERT_TRUE(f->Append("Z").ok());
  EXPECT_EQ(f->Size(), 7u);
  EXPECT_EQ(Disk().substr(0, 7), "headabZ");
}

TEST_F(ZeroAheadFileTest, AFullDiskIsMetByTheDataNotHiddenByTheZeros) {
  auto f = Open(/*chunk=*/4096, /*limit=*/1 << 20);
  env_.SetSpaceLimit(10);  // the file holds 4 bytes: 6 more fit, no chunk
  ASSERT_TRUE(f->Append("abc").ok()) << "written plainly when zeros do not fit";
  EXPECT_EQ(Disk(), "headabc") << "the partial chunk was cut off again";
  Status full = f->Append("defg");
  EXPECT_TRUE(full.IsNoSpace()) << full.ToString();
  env_.ClearSpaceLimit();
  ASSERT_TRUE(f->Truncate(7).ok());
  ASSERT_TRUE(f->Append("defg").ok());
  EXPECT_EQ(Disk().substr(0, 11), "headabcdefg");
  EXPECT_GT(Disk().size(), 11u) << "zeros again once there is room";
}

}  // namespace
}  // namespace quipu
