// The SPINE file's header slots and node arithmetic.
#include "integrity/spine.h"

#include <gtest/gtest.h>

namespace quipu::spine {
namespace {

TEST(SpineTest, HigherSequenceSlotWins) {
  const std::string header = EncodeSlot({6, 40}) + EncodeSlot({7, 55});
  auto decoded = DecodeHeader(header, "SPINE");
  ASSERT_TRUE(decoded.ok());
  EXPECT_EQ(decoded->sequence, 7u);
  EXPECT_EQ(decoded->synced_leaves, 55u);
}

TEST(SpineTest, TornNewerSlotFallsBackToTheOlderClaim) {
  std::string header = EncodeSlot({8, 90}) + EncodeSlot({7, 55});
  header[24] ^= 0x01;  // a bit of slot 0's synced_leaves
  auto decoded = DecodeHeader(header, "SPINE");
  ASSERT_TRUE(decoded.ok());
  EXPECT_EQ(decoded->synced_leaves, 55u);
}

TEST(SpineTest, NeitherSlotValidIsCorruption) {
  std::string header = EncodeSlot({0, 0}) + EncodeSlot({1, 0});
  header[3] = 'X';
  header[kSlotSize + 60] ^= 0x10;
  auto decoded = DecodeHeader(header, "SPINE");
  EXPECT_TRUE(decoded.status().IsCorruption()) << decoded.status().ToString();
  EXPECT_TRUE(DecodeHeader(header.substr(0, 100), "SPINE").status().IsCorruption());
}

TEST(SpineTest, NewerVersionIsNotSupported) {
  std::string header = EncodeSlot({0, 0}) + EncodeSlot({1, 0});
  header[8] = 2;
  EXPECT_EQ(DecodeHeader(header, "SPINE").status().code(), Status::Code::kNotSupported);
}

TEST(SpineTest, LeavesWithinInvertsFileSizeFor) {
  EXPECT_EQ(LeavesWithin(0), 0u);
  EXPECT_EQ(LeavesWithin(kHeaderSize), 0u);
  for (uint64_t n = 0; n < 2000; ++n) {
    ASSERT_EQ(LeavesWithin(FileSizeFor(n)), n);
    // A partly written next leaf (or its interior nodes) does not count.
    ASSERT_EQ(LeavesWithin(FileSizeFor(n + 1) - 1), n);
  }
  EXPECT_EQ(NodeOffset(0, 0), kHeaderSize);
  EXPECT_EQ(NodeOffset(1, 0), kHeaderSize + 2 * kNodeSize);
}

}  // namespace
}  // namespace quipu::spine
