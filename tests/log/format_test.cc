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

void PutFixed32Into(std::string* bytes, size_t at, uint32_t value) {
  std::string encoded;
  PutFixed32(&encoded, value);
  bytes->replace(at, 4, encoded);
}

TEST(FormatTest, HeaderRoundTrips) {
  const std::string header = EncodeSegmentHeader(42, LogKind::kAuditStore);
  ASSERT_EQ(header.size(), kSegmentHeaderSize);
  SegmentHeader decoded;
  ASSERT_TRUE(DecodeSegmentHeader(header, "f", &decoded).ok());
  EXPECT_EQ(decoded.base, 42u);
  EXPECT_EQ(decoded.kind, static_cast<uint8_t>(LogKind::kAuditStore));
}

// Segments written before kinds were recorded have flags 0: still readable.
TEST(FormatTest, HeaderWithoutKindDecodesAsKindZero) {
  std::string header = EncodeSegmentHeader(3, LogKind::kPlain);
  header[12] = 0;
  PutFixed32Into(&header, 28, crc32c::Mask(crc32c::Value(header.data(), 28)));
  SegmentHeader decoded;
  ASSERT_TRUE(DecodeSegmentHeader(header, "f", &decoded).ok());
  EXPECT_EQ(decoded.kind, 0);
  EXPECT_EQ(decoded.base, 3u);
}

TEST(FormatTest, UnknownFlagsAreRefusedAsNotSupported) {
  for (uint32_t flags : {3u, 0x100u, 0x80000001u}) {
    std::string header = EncodeSegmentHeader(1, LogKind::kPlain);
    PutFixed32Into(&header, 12, flags);
    PutFixed32Into(&header, 28, crc32c::Mask(crc32c::Value(header.data(), 28)));
    SegmentHeader decoded;
    Status s = DecodeSegmentHeader(header, "seg", &decoded);
    EXPECT_EQ(s.code(), Status::Code::kNotSupported) << flags << ": " << s.ToString();
  }
}

TEST(FormatTest, HeaderPrefixOfEitherKindIsRecognized) {
  for (LogKind kind : {LogKind::kPlain, LogKind::kAuditStore}) {
    const std::string header = EncodeSegmentHeader(9, kind);
    for (size_t n : {0, 5, 13, 20, 31}) {
      EXPECT_TRUE(IsSegmentHeaderPrefix(header.substr(0, n), 9)) << n;
    }
  }
  EXPECT_FALSE(IsSegmentHeaderPrefix(EncodeSegmentHeader(9, LogKind::kPlain).substr(0, 20), 8));
}

TEST(FormatTest, WrongMagicIsRefused) {
  std::string header = EncodeSegmentHeader(1, LogKind::kPlain);
  header[0] = 'X';
  SegmentHeader base;
  Status s = DecodeSegmentHeader(header, "seg", &base);
  EXPECT_TRUE(s.IsCorruption());
  EXPECT_NE(s.message().find("magic"), std::string::npos);
}

TEST(FormatTest, NewerVersionIsRefusedAsNotSupported) {
  std::string header = EncodeSegmentHeader(1, LogKind::kPlain);
  header[8] = 2;  // version 2, CRC now stale: version is judged first
  SegmentHeader base;
  Status s = DecodeSegmentHeader(header, "seg", &base);
  EXPECT_EQ(s.code(), Status::Code::kNotSupported) << s.ToString();
  EXPECT_NE(s.message().find("version 2"), std::string::npos);
}

TEST(FormatTest, HeaderBitFlipIsCorruption) {
  std::string header = EncodeSegmentHeader(1, LogKind::kPlain);
  header[17] ^= 1;
  SegmentHeader base;
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
  const std::string h = EncodeSegmentHeader(0x0102030405060708ull, LogKind::kPlain);
  EXPECT_EQ(h.substr(0, 8), "QUIPULOG");
  EXPECT_EQ(DecodeFixed32(h.data() + 8), 1u);
  EXPECT_EQ(DecodeFixed32(h.data() + 12), 1u);  // flags: the kind, 1 = plain
  EXPECT_EQ(DecodeFixed64(h.data() + 16), 0x0102030405060708ull);
  EXPECT_EQ(DecodeFixed32(h.data() + 24), 0u);
  EXPECT_EQ(crc32c::Unmask(DecodeFixed32(h.data() + 28)), crc32c::Value(h.data(), 28));
}

}  // namespace
}  // namespace quipu::format
