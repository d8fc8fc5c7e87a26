#include "log/format.h"

#include <gtest/gtest.h>

#include "util/coding.h"
#include "util/crc32c.h"

namespace quipu::format {
namespace {

TEST(FormatTest, SegmentNamesSortByLsnAndRoundTrip) {
  EXPECT_EQ(SegmentFileName(1), "00000000000000000001.qlog");
  EXPECT_LT(SegmentFileName(9), SegmentFileName(10));
  Lsn base = 0;
  ASSERT_TRUE(ParseSegmentFileName(SegmentFileName(18446744073709551615ull), &base));
  EXPECT_EQ(base, 18446744073709551615ull);
  EXPECT_FALSE(ParseSegmentFileName("00000000000000000000.qlog", &base));
  EXPECT_FALSE(ParseSegmentFileName("0000000000000000001.qlog", &base));
  EXPECT_FALSE(ParseSegmentFileName("0000000000000000000x.qlog", &base));
  EXPECT_FALSE(ParseSegmentFileName("99999999999999999999.qlog", &base));  // > 2^64
  EXPECT_FALSE(ParseSegmentFileName("LOCK", &base));
}

TEST(FormatTest, HeaderRoundTrips) {
  const std::string header = EncodeSegmentHeader(42);
  ASSERT_EQ(header.size(), kSegmentHeaderSize);
  Lsn base = 0;
  ASSERT_TRUE(DecodeSegmentHeader(header, "f", &base).ok());
  EXPECT_EQ(base, 42u);
}

TEST(FormatTest, WrongMagicIsRefused) {
  std::string header = EncodeSegmentHeader(1);
  header[0] = 'X';
  Lsn base = 0;
  Status s = DecodeSegmentHeader(header, "seg", &base);
  EXPECT_TRUE(s.IsCorruption());
  EXPECT_NE(s.message().find("magic"), std::string::npos);
}

TEST(FormatTest, NewerVersionIsRefusedAsNotSupported) {
  std::string header = EncodeSegmentHeader(1);
  header[8] = 2;  // version 2, CRC now stale: version is judged first
  Lsn base = 0;
  Status s = DecodeSegmentHeader(header, "seg", &base);
  EXPECT_EQ(s.code(), Status::Code::kNotSupported) << s.ToString();
  EXPECT_NE(s.message().find("version 2"), std::string::npos);
}

TEST(FormatTest, HeaderBitFlipIsCorruption) {
  std::string header = EncodeSegmentHeader(1);
  header[17] ^= 1;
  Lsn base = 0;
  EXPECT_TRUE(DecodeSegmentHeader(header, "seg", &base).IsCorruption());
}

TEST(FormatTest, FrameCrcDependsOnSegmentBase) {
  const uint32_t partial = PartialFrameCrc("payload");
  EXPECT_NE(FinishFrameCrc(partial, 1), FinishFrameCrc(partial, 2));
}

TEST(FormatTest, FrameLayoutIsCrcLengthPayload) {
  std::string frame;
  AppendFrame(&frame, 0x01020304u, "abc");
  ASSERT_EQ(frame.size(), kFrameHeaderSize + 3);
  EXPECT_EQ(frame.substr(0, 4), std::string("\x04\x03\x02\x01", 4));
  EXPECT_EQ(frame.substr(4, 4), std::string("\x03\x00\x00\x00", 4));
  EXPECT_EQ(frame.substr(8), "abc");
}

// docs/format.md: frame_crc = ror(crc32c(length ‖ payload ‖ base_lsn), 17) + 0x9A3C5E71.
TEST(FormatTest, FrameCrcMatchesTheDocumentedFormula) {
  const std::string payload = "hello, quipu";
  std::string covered;
  PutFixed32(&covered, static_cast<uint32_t>(payload.size()));
  covered += payload;
  PutFixed64(&covered, 77);
  const uint32_t crc = crc32c::Value(covered);
  const uint32_t masked = ((crc >> 17) | (crc << 15)) + 0x9A3C5E71u;
  EXPECT_EQ(FinishFrameCrc(PartialFrameCrc(payload), 77), masked);
}

// docs/format.md: the header's fields sit at the documented offsets.
TEST(FormatTest, HeaderFieldsSitAtDocumentedOffsets) {
  const std::string h = EncodeSegmentHeader(0x0102030405060708ull);
  EXPECT_EQ(h.substr(0, 8), "QUIPULOG");
  EXPECT_EQ(DecodeFixed32(h.data() + 8), 1u);
  EXPECT_EQ(DecodeFixed32(h.data() + 12), 0u);
  EXPECT_EQ(DecodeFixed64(h.data() + 16), 0x0102030405060708ull);
  EXPECT_EQ(DecodeFixed32(h.data() + 24), 0u);
  EXPECT_EQ(crc32c::Unmask(DecodeFixed32(h.data() + 28)), crc32c::Value(h.data(), 28));
}

}  // namespace
}  // namespace quipu::format
