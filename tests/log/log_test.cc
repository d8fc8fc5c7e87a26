// Behaviour of the log through its public API on the real filesystem.
#include "quipu/log.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <thread>
#include <vector>

#include "log/engine.h"
#include "quipu/inspect.h"
#include "quipu/reader.h"
#include "read_log.h"
#include "test_dir.h"

namespace quipu {
namespace {

using testing::TestDir;

std::string Payload(Lsn i) { return "record-" + std::to_string(i) + std::string(i % 50, 'x'); }

std::unique_ptr<Log> OpenOrDie(const std::string& dir, const LogOptions& options = {}) {
  auto log = OpenLogEngine(dir, options);
  EXPECT_TRUE(log.ok()) << log.status().ToString();
  return log.ok() ? std::move(*log) : nullptr;
}

// Reads every record from `from` with a directory reader.
std::vector<std::pair<Lsn, std::string>> ReadAll(const std::string& dir, Lsn from = 1) {
  std::vector<std::pair<Lsn, std::string>> out;
  auto reader = OpenLogReader(dir, from);
  EXPECT_TRUE(reader.ok()) << reader.status().ToString();
  if (!reader.ok()) return out;
  testing::ForEachRecord(**reader, [&](Lsn lsn, std::string_view payload) {
    out.emplace_back(lsn, std::string(payload));
  });
  return out;
}

LogOptions SmallSegments() {
  LogOptions options;
  options.segment_size = 4096;
  options.max_record_size = 1024;
  options.durability = DurabilityPolicy::OsManaged();
  return options;
}

TEST(LogTest, AppendsGetDenseLsnsFromOne) {
  TestDir dir;
  auto log = OpenOrDie(dir.log());
  for (Lsn i = 1; i <= 5; ++i) {
    auto lsn = log->Append(Payload(i));
    ASSERT_TRUE(lsn.ok());
    EXPECT_EQ(*lsn, i);
  }
  EXPECT_EQ(log->LastLsn(), 5u);
  EXPECT_EQ(log->DurableLsn(), 5u);  // Always is the default
  ASSERT_TRUE(log->Close().ok());
}

TEST(LogTest, RecordsSurviveReopenAndLsnsContinue) {
  TestDir dir;
  {
    auto log = OpenOrDie(dir.log());
    for (Lsn i = 1; i <= 3; ++i) ASSERT_TRUE(log->Append(Payload(i)).ok());
    ASSERT_TRUE(log->Close().ok());
  }
  auto log = OpenOrDie(dir.log());
  EXPECT_EQ(log->LastLsn(), 3u);
  EXPECT_EQ(log->DurableLsn(), 3u);
  auto lsn = log->Append("four");
  ASSERT_TRUE(lsn.ok());
  EXPECT_EQ(*lsn, 4u);
  ASSERT_TRUE(log->Close().ok());
  auto records = ReadAll(dir.log());
  ASSERT_EQ(records.size(), 4u);
  EXPECT_EQ(records[3].second, "four");
  EXPECT_TRUE(log->Recovery().dropped_bytes == 0);
}

TEST(LogTest, EmptyAndBinaryPayloadsRoundTrip) {
  TestDir dir;
  const std::string binary("\0\n\xff\x01", 4);
  auto log = OpenOrDie(dir.log());
  ASSERT_TRUE(log->Append("").ok());
  ASSERT_TRUE(log->Append(binary).ok());
  ASSERT_TRUE(log->Close().ok());
  auto records = ReadAll(dir.log());
  ASSERT_EQ(records.size(), 2u);
  EXPECT_EQ(records[0].second, "");
  EXPECT_EQ(records[1].second, binary);
}

TEST(LogTest, TooLargeRecordIsRefusedAndNothingIsAppended) {
  TestDir dir;
  LogOptions options;
  options.max_record_size = 100;
  auto log = OpenOrDie(dir.log(), options);
  auto big = log->Append(std::string(101, 'a'));
  ASSERT_FALSE(big.ok());
  EXPECT_EQ(big.status().code(), Status::Code::kInvalidArgument);
  EXPECT_NE(big.status().message().find("max_record_size"), std::string::npos);
  auto ok = log->Append(std::string(100, 'a'));
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(*ok, 1u);
}

TEST(LogTest, BadOptionsAreRefused) {
  TestDir dir;
  LogOptions options;
  options.segment_size = 100;  // cannot hold a max-size record
  auto log = OpenLogEngine(dir.log(), options);
  ASSERT_FALSE(log.ok());
  EXPECT_EQ(log.status().code(), Status::Code::kInvalidArgument);
  options = LogOptions();
  options.durability = DurabilityPolicy::EveryN(0);
  EXPECT_FALSE(OpenLogEngine(dir.log(), options).ok());
}

TEST(LogTest, MissingDirectoryWithoutCreateIsNotFound) {
  TestDir dir;
  LogOptions options;
  options.create_if_missing = false;
  auto log = OpenLogEngine(dir.log(), options);
  ASSERT_FALSE(log.ok());
  EXPECT_EQ(log.status().code(), Status::Code::kNotFound);
}

TEST(LogTest, SecondOpenerIsRefusedNamingThePid) {
  TestDir dir;
  auto log = OpenOrDie(dir.log());
  auto second = OpenLogEngine(dir.log(), {});
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), Status::Code::kBusy);
  EXPECT_NE(second.status().message().find(std::to_string(getpid())), std::string::npos)
      << second.status().ToString();
  ASSERT_TRUE(log->Close().ok());
  EXPECT_TRUE(OpenLogEngine(dir.log(), {}).ok());  // released by Close
}

TEST(LogTest, ClosedLogRefusesCalls) {
  TestDir dir;
  auto log = OpenOrDie(dir.log());
  ASSERT_TRUE(log->Close().ok());
  EXPECT_EQ(log->Append("x").status().code(), Status::Code::kFailedPrecondition);
  EXPECT_EQ(log->Sync().code(), Status::Code::kFailedPrecondition);
  EXPECT_EQ(log->Close().code(), Status::Code::kFailedPrecondition);
}

TEST(LogTest, SegmentsRotateAtTheConfiguredSizeAndAreSealed) {
  TestDir dir;
  auto log = OpenOrDie(dir.log(), SmallSegments());
  for (Lsn i = 1; i <= 500; ++i) ASSERT_TRUE(log->Append(Payload(i)).ok());
  ASSERT_TRUE(log->Close().ok());
  auto summary = InspectLog(dir.log());
  ASSERT_TRUE(summary.ok()) << summary.status().ToString();
  ASSERT_GT(summary->segments.size(), 5u);
  EXPECT_EQ(summary->records, 500u);
  EXPECT_EQ(summary->last_lsn, 500u);
  for (const SegmentSummary& s : summary->segments) {
    EXPECT_LE(s.bytes, 4096u) << s.file;
    EXPECT_EQ(s.sealed, &s != &summary->segments.back());
  }
  EXPECT_TRUE(CheckLog(dir.log()).ok());
}

TEST(LogTest, SealedSegmentsAreNeverWrittenAgain) {
  TestDir dir;
  {
    auto log = OpenOrDie(dir.log(), SmallSegments());
    for (Lsn i = 1; i <= 200; ++i) ASSERT_TRUE(log->Append(Payload(i)).ok());
    ASSERT_TRUE(log->Close().ok());
  }
  auto before = InspectLog(dir.log());
  ASSERT_TRUE(before.ok());
  {
    auto log = OpenOrDie(dir.log(), SmallSegments());
    for (Lsn i = 201; i <= 400; ++i) ASSERT_TRUE(log->Append(Payload(i)).ok());
    ASSERT_TRUE(log->Close().ok());
  }
  auto after = InspectLog(dir.log());
  ASSERT_TRUE(after.ok());
  for (size_t i = 0; i + 1 < before->segments.size(); ++i) {
    EXPECT_EQ(before->segments[i].bytes, after->segments[i].bytes);
  }
}

TEST(LogTest, ReaderStartsAtAnyLsnAcrossSegments) {
  TestDir dir;
  auto log = OpenOrDie(dir.log(), SmallSegments());
  for (Lsn i = 1; i <= 300; ++i) ASSERT_TRUE(log->Append(Payload(i)).ok());
  ASSERT_TRUE(log->Close().ok());
  for (Lsn from : {Lsn{0}, Lsn{1}, Lsn{2}, Lsn{57}, Lsn{150}, Lsn{299}, Lsn{300}, Lsn{301}}) {
    auto records = ReadAll(dir.log(), from);
    const Lsn first = std::max<Lsn>(from, 1);
    ASSERT_EQ(records.size(), first > 300 ? 0 : 300 - first + 1) << "from " << from;
    for (size_t k = 0; k < records.size(); ++k) {
      EXPECT_EQ(records[k].first, first + k);
      EXPECT_EQ(records[k].second, Payload(first + k));
    }
  }
}

TEST(LogTest, LiveReaderSeesFlushedRecordsAndFollowsTheWriter) {
  TestDir dir;
  auto log = OpenOrDie(dir.log(), SmallSegments());
  auto reader = log->NewReader(1);
  ASSERT_TRUE(reader.ok());
  ASSERT_TRUE(log->Append("a").ok());
  auto more = (*reader)->Next();
  ASSERT_TRUE(more.ok());
  EXPECT_FALSE(*more) << "an unflushed record must not be visible";
  ASSERT_TRUE(log->Flush().ok());
  more = (*reader)->Next();
  ASSERT_TRUE(more.ok() && *more);
  EXPECT_EQ((*reader)->payload(), "a");
  for (Lsn i = 2; i <= 300; ++i) ASSERT_TRUE(log->Append(Payload(i)).ok());
  ASSERT_TRUE(log->Flush().ok());
  Lsn expect = 2;
  while (true) {
    more = (*reader)->Next();
    ASSERT_TRUE(more.ok()) << more.status().ToString();
    if (!*more) break;
    EXPECT_EQ((*reader)->lsn(), expect);
    EXPECT_EQ((*reader)->payload(), Payload(expect));
    ++expect;
  }
  EXPECT_EQ(expect, 301u);
  ASSERT_TRUE(log->Close().ok());
}

TEST(LogTest, ConcurrentReaderWhileWritingSeesAPrefixInOrder) {
  TestDir dir;
  LogOptions options = SmallSegments();
  options.buffer_size = 512;
  auto log = OpenOrDie(dir.log(), options);
  constexpr Lsn kRecords = 3000;
  std::thread writer([&] {
    for (Lsn i = 1; i <= kRecords; ++i) ASSERT_TRUE(log->Append(Payload(i)).ok());
    ASSERT_TRUE(log->Flush().ok());
  });
  auto reader = log->NewReader(1);
  ASSERT_TRUE(reader.ok());
  Lsn expect = 1;
  while (expect <= kRecords) {
    auto more = (*reader)->Next();
    ASSERT_TRUE(more.ok()) << more.status().ToString();
    if (!*more) {
      std::this_thread::yield();
      continue;
    }
    ASSERT_EQ((*reader)->lsn(), expect);
    ASSERT_EQ((*reader)->payload(), Payload(expect));
    ++expect;
  }
  writer.join();
  ASSERT_TRUE(log->Close().ok());
}

TEST(LogTest, ConcurrentAppendersGetDistinctDenseLsns) {
  TestDir dir;
  LogOptions options = SmallSegments();
  options.segment_size = 64 << 10;
  options.durability = DurabilityPolicy::EveryN(16);
  auto log = OpenOrDie(dir.log(), options);
  constexpr int kThreads = 8, kPerThread = 500;
  std::vector<std::vector<Lsn>> got(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        auto lsn = log->Append("t" + std::to_string(t) + "-" + std::to_string(i));
        ASSERT_TRUE(lsn.ok());
        got[t].push_back(*lsn);
      }
    });
  }
  for (auto& th : threads) th.join();
  ASSERT_TRUE(log->Close().ok());
  std::vector<bool> seen(kThreads * kPerThread + 1);
  for (auto& lsns : got) {
    for (size_t i = 1; i < lsns.size(); ++i) EXPECT_LT(lsns[i - 1], lsns[i]);
    for (Lsn l : lsns) {
      ASSERT_TRUE(l >= 1 && l <= seen.size() - 1);
      EXPECT_FALSE(seen[l]);
      seen[l] = true;
    }
  }
  auto records = ReadAll(dir.log());
  ASSERT_EQ(records.size(), size_t{kThreads * kPerThread});
}

}  // namespace
}  // namespace quipu
