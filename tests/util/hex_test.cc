#include "util/hex.h"

#include <gtest/gtest.h>

#include <string>

namespace quipu {
namespace {

TEST(HexTest, EncodesEveryByteAsTwoLowerCaseDigits) {
  EXPECT_EQ(HexEncode(""), "");
  EXPECT_EQ(HexEncode(std::string("\x00\x01\x7f\x80\xab\xff", 6)), "00017f80abff");
}

TEST(HexTest, DecodeInvertsEncodeForEveryByteValue) {
  std::string all;
  for (int b = 0; b < 256; b++) all.push_back(static_cast<char>(b));
  std::string back;
  ASSERT_TRUE(HexDecode(HexEncode(all), &back));
  EXPECT_EQ(back, all);
  ASSERT_TRUE(HexDecode("ABcd", &back));
  EXPECT_EQ(back, "\xab\xcd");
}

TEST(HexTest, DecodeRefusesOddLengthsAndNonDigits) {
  std::string out;
  EXPECT_FALSE(HexDecode("abc", &out));
  EXPECT_FALSE(HexDecode("0g", &out));
  EXPECT_FALSE(HexDecode("  ", &out));
  EXPECT_FALSE(HexDecode("0x", &out));
}

}  // namespace
}  // namespace quipu
