// Tests for util/crc32c: both implementations against the RFC 3720 vectors,
// and against each other on every small length and alignment.
#include "util/crc32c.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <random>
#include <string>

namespace quipu::crc32c {
namespace {

using ExtendFn = uint32_t (*)(uint32_t, const void*, size_t);

struct Impl {
  const char* name;
  ExtendFn extend;
  bool needs_hardware;
};

class Crc32cImplTest : public ::testing::TestWithParam<Impl> {
 protected:
  void SetUp() override {
    if (GetParam().needs_hardware && !HardwareAvailable()) {
      GTEST_SKIP() << "CPU has no SSE4.2 crc32 instruction";
    }
  }
  uint32_t Crc(const void* data, size_t n) const { return GetParam().extend(0, data, n); }
  uint32_t Crc(const std::string& s) const { return Crc(s.data(), s.size()); }
};

std::string RandomBytes(size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::string s(n, '\0');
  for (char& c : s) c = static_cast<char>(rng());
  return s;
}

// RFC 3720 (iSCSI), appendix B.4.
TEST_P(Crc32cImplTest, MatchesRfc3720Vectors) {
  std::string buf(32, '\0');
  EXPECT_EQ(Crc(buf), 0x8A9136AAu);

  buf.assign(32, '\xff');
  EXPECT_EQ(Crc(buf), 0x62A8AB43u);

  for (int i = 0; i < 32; ++i) buf[i] = static_cast<char>(i);
  EXPECT_EQ(Crc(buf), 0x46DD794Eu);

  for (int i = 0; i < 32; ++i) buf[i] = static_cast<char>(31 - i);
  EXPECT_EQ(Crc(buf), 0x113FDB5Cu);

  // An iSCSI SCSI Read (10) command PDU.
  const uint8_t read_command[48] = {
      0x01, 0xc0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
      0x00, 0x00, 0x00, 0x00, 0x14, 0x00, 0x00, 0x00, 0x00, 0x00, 0x04, 0x00,
      0x00, 0x00, 0x00, 0x14, 0x00, 0x00, 0x00, 0x18, 0x28, 0x00, 0x00, 0x00,
      0x00, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
  };
  EXPECT_EQ(Crc(read_command, sizeof read_command), 0xD9963A56u);
}

TEST_P(Crc32cImplTest, MatchesCatalogueCheckValue) {
  // The "check" value of CRC-32C in the usual CRC catalogues.
  EXPECT_EQ(Crc(std::string("123456789")), 0xE3069283u);
}

TEST_P(Crc32cImplTest, EmptyInputLeavesCrcUnchanged) {
  EXPECT_EQ(Crc("", 0), 0u);
  EXPECT_EQ(GetParam().extend(0x12345678u, "", 0), 0x12345678u);
}

TEST_P(Crc32cImplTest, ExtendInPiecesEqualsWhole) {
  const std::string data = RandomBytes(1000, 7);
  const uint32_t whole = Crc(data);
  for (size_t cut = 0; cut <= data.size(); ++cut) {
    const uint32_t first = GetParam().extend(0, data.data(), cut);
    EXPECT_EQ(GetParam().extend(first, data.data() + cut, data.size() - cut), whole) << cut;
  }
}

TEST_P(Crc32cImplTest, LargeInputsInRandomPiecesEqualWhole) {
  // Big enough for the hardware path's three-lane blocks of both sizes.
  const std::string data = RandomBytes(200000, 11);
  const uint32_t whole = Crc(data);
  std::mt19937_64 rng(12);
  for (int round = 0; round < 20; ++round) {
    uint32_t crc = 0;
    size_t pos = 0;
    while (pos < data.size()) {
      const size_t n = std::min<size_t>(data.size() - pos, rng() % 70000);
      crc = GetParam().extend(crc, data.data() + pos, n);
      pos += n;
    }
    ASSERT_EQ(crc, whole) << "round " << round;
  }
}

TEST_P(Crc32cImplTest, DetectsSingleBitFlips) {
  std::string data = RandomBytes(4096, 3);
  const uint32_t good = Crc(data);
  for (size_t bit = 0; bit < data.size() * 8; bit += 97) {
    data[bit / 8] ^= static_cast<char>(1 << (bit % 8));
    EXPECT_NE(Crc(data), good) << bit;
    data[bit / 8] ^= static_cast<char>(1 << (bit % 8));
  }
}

INSTANTIATE_TEST_SUITE_P(Implementations, Crc32cImplTest,
                         ::testing::Values(Impl{"Portable", ExtendPortable, false},
                                           Impl{"Hardware", ExtendHardware, true},
                                           Impl{"Dispatch", Extend, false}),
                         [](const ::testing::TestParamInfo<Impl>& info) {
                           return std::string(info.param.name);
                         });

TEST(Crc32cTest, HardwareAgreesWithPortableOnEveryLengthAndAlignment) {
  if (!HardwareAvailable()) GTEST_SKIP() << "CPU has no SSE4.2 crc32 instruction";
  const std::string data = RandomBytes(300 + 16, 42);
  for (size_t misalign = 0; misalign < 16; ++misalign) {
    for (size_t len = 0; len <= 300; ++len) {
      const char* p = data.data() + misalign;
      ASSERT_EQ(ExtendHardware(0, p, len), ExtendPortable(0, p, len))
          << "len " << len << " misalign " << misalign;
      ASSERT_EQ(ExtendHardware(0xdeadbeef, p, len), ExtendPortable(0xdeadbeef, p, len))
          << "len " << len << " misalign " << misalign;
    }
  }
}

TEST(Crc32cTest, HardwareAgreesWithPortableAroundBlockBoundaries) {
  if (!HardwareAvailable()) GTEST_SKIP() << "CPU has no SSE4.2 crc32 instruction";
  const std::string data = RandomBytes(3 * 8192 * 3 + 64, 5);
  for (size_t base : {768u, 1536u, 3 * 8192u, 2 * 3 * 8192u}) {
    for (size_t len = base - 20; len <= base + 20; ++len) {
      for (size_t misalign : {0u, 3u}) {
        const char* p = data.data() + misalign;
        ASSERT_EQ(ExtendHardware(0, p, len), ExtendPortable(0, p, len)) << len;
      }
    }
  }
}

TEST(Crc32cTest, ValueOverloadsAgree) {
  const std::string s = "hello, quipu";
  EXPECT_EQ(Value(s), Value(s.data(), s.size()));
  EXPECT_EQ(Value(s), Extend(0, s.data(), s.size()));
}

TEST(Crc32cTest, MaskRoundTripsAndChangesTheValue) {
  const uint32_t crc = Value(std::string("foo"));
  EXPECT_NE(Mask(crc), crc);
  EXPECT_NE(Mask(Mask(crc)), crc);
  EXPECT_EQ(Unmask(Mask(crc)), crc);
  EXPECT_EQ(Unmask(Unmask(Mask(Mask(crc)))), crc);
  std::mt19937 rng(1);
  for (int i = 0; i < 10000; ++i) {
    const uint32_t v = rng();
    ASSERT_EQ(Unmask(Mask(v)), v);
  }
  for (uint32_t v : {0u, 1u, 0xffffffffu, 0x80000000u}) EXPECT_EQ(Unmask(Mask(v)), v);
}

}  // namespace
}  // namespace quipu::crc32c
