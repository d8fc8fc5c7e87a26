// Tests for util/coding.h: fixed-width little-endian integers.
#include "util/coding.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <random>
#include <string>
#include <vector>

namespace quipu {
namespace {

TEST(CodingTest, Fixed32IsLittleEndian) {
  char buf[4];
  EncodeFixed32(buf, 0x04030201u);
  EXPECT_EQ(std::string(buf, 4), std::string("\x01\x02\x03\x04", 4));
  EXPECT_EQ(DecodeFixed32("\x78\x56\x34\x12"), 0x12345678u);
}

TEST(CodingTest, Fixed64IsLittleEndian) {
  char buf[8];
  EncodeFixed64(buf, 0x0807060504030201ull);
  EXPECT_EQ(std::string(buf, 8), std::string("\x01\x02\x03\x04\x05\x06\x07\x08", 8));
  EXPECT_EQ(DecodeFixed64("\xef\xcd\xab\x89\x67\x45\x23\x01"), 0x0123456789abcdefull);
}

TEST(CodingTest, HighBytesDecodeWithoutSignExtension) {
  EXPECT_EQ(DecodeFixed32("\xff\xff\xff\xff"), 0xffffffffu);
  EXPECT_EQ(DecodeFixed32("\x80\x00\x00\x00"), 0x80u);
  EXPECT_EQ(DecodeFixed64("\x00\x00\x00\x00\x00\x00\x00\x80"), 0x8000000000000000ull);
}

TEST(CodingTest, Fixed32RoundTrips) {
  std::mt19937 rng(1);
  for (uint32_t v : {0u, 1u, 0x7fu, 0x80u, 0xffu, 0x100u, 0xffffffffu}) {
    std::string s;
    PutFixed32(&s, v);
    ASSERT_EQ(s.size(), 4u);
    EXPECT_EQ(DecodeFixed32(s.data()), v);
  }
  for (int i = 0; i < 1000; ++i) {
    const uint32_t v = rng();
    char buf[4];
    EncodeFixed32(buf, v);
    ASSERT_EQ(DecodeFixed32(buf), v);
  }
}

TEST(CodingTest, Fixed64RoundTripsEveryPowerOfTwoNeighbourhood) {
  std::string s;
  std::vector<uint64_t> values;
  for (int shift = 0; shift < 64; ++shift) {
    const uint64_t p = uint64_t{1} << shift;
    values.push_back(p - 1);
    values.push_back(p);
    values.push_back(p + 1);
  }
  values.push_back(std::numeric_limits<uint64_t>::max());
  for (uint64_t v : values) PutFixed64(&s, v);
  ASSERT_EQ(s.size(), values.size() * 8);
  for (size_t i = 0; i < values.size(); ++i) {
    EXPECT_EQ(DecodeFixed64(s.data() + 8 * i), values[i]) << i;
  }
}

TEST(CodingTest, PutAppendsToExistingContent) {
  std::string s = "hdr";
  PutFixed32(&s, 1);
  PutFixed64(&s, 2);
  ASSERT_EQ(s.size(), 3u + 4 + 8);
  EXPECT_EQ(s.substr(0, 3), "hdr");
  EXPECT_EQ(DecodeFixed32(s.data() + 3), 1u);
  EXPECT_EQ(DecodeFixed64(s.data() + 7), 2u);
}

}  // namespace
}  // namespace quipu
