// A line longer than the record limit is refused as soon as the limit is
// passed, by `ingest` and `emit` alike: the error names the line, the
// records before it stay acked and durable, and memory stays bounded
// however long the line is.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cerrno>
#include <string>
#include <vector>

#include "cli/audit_fixture.h"

namespace quipu {
namespace {

using clitest::ReadAcks;
using clitest::RunResult;
using clitest::SplitLines;

constexpr size_t kLimit = 1 << 20;       // LogOptions::max_record_size
constexpr size_t kHugeLine = 64u << 20;  // fed through a pipe, never held here
constexpr size_t kSmallLine = 2u << 20;  // also too long: the baseline
// What the huge line may add to the peak RSS: the reader needs a few MiB,
// reading the whole line would take 64.
constexpr long kMaxGrowthKb = 32 << 10;

// Writes `head`, then `bytes` of 'x' and a '\n', until done or the reader
// has gone away.
void Feed(int fd, const std::string& head, size_t bytes) {
  auto write_all = [fd](const char* p, size_t n) {
    while (n > 0) {
      ssize_t w = write(fd, p, n);
      if (w < 0 && errno == EINTR) continue;
      if (w < 0) return false;  // EPIPE: the reader stopped, as it should
      p += w;
      n -= static_cast<size_t>(w);
    }
    return true;
  };
  if (!write_all(head.data(), head.size())) return;
  const std::string chunk(1 << 16, 'x');
  for (size_t left = bytes; left > 0;) {
    size_t n = std::min(left, chunk.size());
    if (!write_all(chunk.data(), n)) return;
    left -= n;
  }
  write_all("\n", 1);
}

class LineLimitTest : public clitest::AuditFixture {
 protected:
  // Runs `args` with `head` and then a line of 64 MiB, and again (after the
  // caller checked the first run's outcome) with a line of 2 MiB, and
  // expects both peaks to be about the same. Peak RSS as wait4 reports it
  // includes what the child shared with this process before exec
  // (posix_spawn is a vfork) and, under ASan, a large fixed cost: only the
  // difference between the runs is what the line cost.
  RunResult RunHugeLine(const std::vector<std::string>& args, const std::string& head) {
    RunResult huge = RunPiped(args, [&](int fd) { Feed(fd, head, kHugeLine); });
    huge_rss_kb_ = huge.max_rss_kb;
    args_ = args;
    head_ = head;
    return huge;
  }
  void ExpectBoundedMemory() {
    RunResult small = RunPiped(args_, [&](int fd) { Feed(fd, head_, kSmallLine); });
    EXPECT_EQ(small.exit_code, 1) << small.err;
    EXPECT_LT(huge_rss_kb_ - small.max_rss_kb, kMaxGrowthKb)
        << "peak RSS " << huge_rss_kb_ << " KiB with a 64 MiB line, " << small.max_rss_kb
        << " KiB with a 2 MiB one";
  }

  long huge_rss_kb_ = 0;
  std::vector<std::string> args_;
  std::string head_;
};

TEST_F(LineLimitTest, IngestRefusesAnOverlongLineEarlyAndKeepsTheRecordsBefore) {
  RunResult r = RunHugeLine({"ingest", dir_, "--durability", "group"}, "one\ntwo\n");
  ExpectRefused(r, "ingest", {"line 3: longer than 1048576 bytes"});
  clitest::LastAcks acks = ReadAcks(r.out);
  EXPECT_EQ(acks.appended, 2);
  EXPECT_EQ(acks.durable, 2);
  EXPECT_EQ(RunOk({"dump", dir_}), "one\ntwo\n");
  ExpectBoundedMemory();
}

TEST_F(LineLimitTest, EmitRefusesAnOverlongLineEarlyAndKeepsTheEventsBefore) {
  DefineSchema();
  std::string head = DocEvent("1", "a", "x") + "\n\n" + DocEvent("1", "b", "y") + "\n";
  RunResult r = RunHugeLine({"emit", dir_, "--stdin", "--durability", "os"}, head);
  ExpectRefused(r, "emit", {"line 4: longer than 1048576 bytes"});
  clitest::LastAcks acks = ReadAcks(r.out);
  EXPECT_EQ(acks.appended, 2);
  EXPECT_EQ(acks.durable, 2);
  EXPECT_EQ(QueryIds({}).size(), 2u);
  ExpectBoundedMemory();
}

TEST_F(LineLimitTest, TheLimitIsExactAndCountsAFinalLineWithoutNewline) {
  std::string at_limit(kLimit, 'a');
  RunResult ok = Run({"ingest", dir_}, at_limit + "\n" + at_limit);
  EXPECT_EQ(ok.exit_code, 0) << ok.err;
  EXPECT_EQ(ReadAcks(ok.out).durable, 2);
  ExpectRefused(Run({"ingest", dir_}, "b\n" + at_limit + "a\n"), "ingest",
                {"line 2: longer than 1048576 bytes"});
  ExpectRefused(Run({"ingest", dir_}, "c\n" + at_limit + "a"), "ingest",
                {"line 2: longer than 1048576 bytes"});
  // Each refused run kept its first line.
  EXPECT_EQ(SplitLines(RunOk({"dump", dir_})).size(), 4u);
}

TEST_F(LineLimitTest, SmallSegmentsLimitLinesToHalfASegment) {
  RunResult r = Run({"ingest", dir_, "--segment-size", "4096"}, "ok\n" + std::string(2049, 'z'));
  ExpectRefused(r, "ingest", {"line 2: longer than 2048 bytes"});
  EXPECT_EQ(ReadAcks(r.out).durable, 1);
}

}  // namespace
}  // namespace quipu
