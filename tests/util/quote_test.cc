#include "util/quote.h"

#include <gtest/gtest.h>

#include <string>

namespace quipu {
namespace {

TEST(QuoteTest, ShortPrintableInputIsOnlyQuoted) {
  EXPECT_EQ(QuoteInput("document"), "'document'");
  EXPECT_EQ(QuoteInput(""), "''");
  EXPECT_EQ(QuoteInput("h\xc3\xa9llo"), "'h\xc3\xa9llo'");  // UTF-8 passes through
}

TEST(QuoteTest, NulAndControlBytesAreEscaped) {
  std::string quoted = QuoteInput(std::string("a\0b\n\x1f\x7f", 6));
  EXPECT_EQ(quoted, "'a\\x00b\\x0a\\x1f\\x7f'");
  EXPECT_EQ(quoted.find('\0'), std::string::npos);
}

TEST(QuoteTest, QuotesAndBackslashesAreEscaped) {
  EXPECT_EQ(QuoteInput("it's a\\b"), "'it\\'s a\\\\b'");
}

TEST(QuoteTest, LongInputIsCutAndItsLengthGiven) {
  std::string name(100000, 'x');
  EXPECT_EQ(QuoteInput(name), "'" + std::string(kQuoteMaxBytes, 'x') + "'\u2026(100000 bytes)");
  EXPECT_EQ(QuoteInput("abcdef", 3), "'abc'\u2026(6 bytes)");
  EXPECT_EQ(QuoteInput("abc", 3), "'abc'");  // exactly the limit: nothing cut
}

TEST(QuoteTest, CutNeverSplitsAUtf8Sequence) {
  // "a" then U+00E9 (2 bytes): a cut after 2 bytes would leave half of it.
  EXPECT_EQ(QuoteInput("a\xc3\xa9z", 2), "'a'\u2026(4 bytes)");
  EXPECT_EQ(QuoteInput("a\xc3\xa9z", 3), "'a\xc3\xa9'\u2026(4 bytes)");
}

TEST(QuoteTest, BytesThatAreNotUtf8AreStillShown) {
  EXPECT_EQ(QuoteInput(std::string(10, '\x80'), 4), "'\x80'\u2026(10 bytes)");
}

TEST(QuoteTest, EscapesCountAsTheirInputByte) {
  std::string quoted = QuoteInput(std::string(100, '\0'), 4);
  EXPECT_EQ(quoted, "'\\x00\\x00\\x00\\x00'\u2026(100 bytes)");
}

}  // namespace
}  // namespace quipu
