// What a directory must be before the log engine writes to it or a reader
// reads it: the log's kind in every segment header, no log created over
// someone else's files, a log whose start is gone refused, and readers that
// outlive their log.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "log/engine.h"
#include "log/format.h"
#include "quipu/inspect.h"
#include "quipu/log.h"
#include "quipu/reader.h"
#include "test_dir.h"
#include "util/coding.h"
#include "util/crc32c.h"

namespace quipu {
namespace {

namespace fs = std::filesystem;
using testing::TestDir;

LogOptions Options(LogKind kind) {
  LogOptions options;
  options.kind = kind;
  options.durability = DurabilityPolicy::OsManaged();
  options.segment_size = 4096;
  options.max_record_size = 256;
  return options;
}

void WriteLog(const std::string& dir, LogKind kind, int records) {
  auto log = OpenLogEngine(dir, Options(kind));
  ASSERT_TRUE(log.ok()) << log.status().ToString();
  for (int i = 0; i < records; ++i) {
    ASSERT_TRUE((*log)->Append("record " + std::to_string(i)).ok());
  }
  ASSERT_TRUE((*log)->Close().ok());
}

uint32_t HeaderFlags(const std::string& segment_path) {
  std::ifstream in(segment_path, std::ios::binary);
  char header[format::kSegmentHeaderSize];
  in.read(header, sizeof header);
  return DecodeFixed32(header + 12);
}

TEST(StoreIdentityTest, EverySegmentRecordsTheKind) {
  TestDir dir;
  WriteLog(dir.log(), LogKind::kAuditStore, 1000);  // several 4 KiB segments
  int segments = 0;
  for (const auto& entry : fs::directory_iterator(dir.log())) {
    if (entry.path().extension() != ".qlog") continue;
    ++segments;
    EXPECT_EQ(HeaderFlags(entry.path()), 2u) << entry.path();
  }
  EXPECT_GT(segments, 2);
  auto kind = ReadLogKind(dir.log());
  ASSERT_TRUE(kind.ok()) << kind.status().ToString();
  EXPECT_EQ(*kind, LogKind::kAuditStore);
  auto summary = InspectLog(dir.log());
  ASSERT_TRUE(summary.ok());
  EXPECT_EQ(summary->kind, LogKind::kAuditStore);
}

TEST(StoreIdentityTest, WriterOfTheOtherKindIsRefusedAndChangesNothing) {
  for (auto [written, opener] : {std::pair{LogKind::kAuditStore, LogKind::kPlain},
                                 std::pair{LogKind::kPlain, LogKind::kAuditStore}}) {
    TestDir dir;
    WriteLog(dir.log(), written, 5);
    const auto size = fs::file_size(dir.log() + "/" + format::SegmentFileName(1));
    auto log = OpenLogEngine(dir.log(), Options(opener));
    ASSERT_FALSE(log.ok());
    EXPECT_EQ(log.status().code(), Status::Code::kFailedPrecondition) << log.status().ToString();
    EXPECT_NE(log.status().message().find(written == LogKind::kAuditStore ? "this is an audit store"
                                                                          : "this is a plain log"),
              std::string::npos)
        << log.status().ToString();
    EXPECT_EQ(fs::file_size(dir.log() + "/" + format::SegmentFileName(1)), size);
    auto same = OpenLogEngine(dir.log(), Options(written));
    ASSERT_TRUE(same.ok()) << same.status().ToString();
    EXPECT_EQ((*same)->LastLsn(), 5u);
    EXPECT_TRUE((*same)->Close().ok());
  }
}

// Segments written before kinds were recorded have flags 0: any writer may
// take them, and its new segments carry its kind.
TEST(StoreIdentityTest, LogWithoutKindIsAdoptedByItsNextWriter) {
  TestDir dir;
  WriteLog(dir.log(), LogKind::kPlain, 1);
  const std::string first = dir.log() + "/" + format::SegmentFileName(1);
  {
    std::fstream f(first, std::ios::in | std::ios::out | std::ios::binary);
    const std::string legacy = format::EncodeSegmentHeader(1, LogKind::kPlain);
    std::string patched = legacy;
    patched[12] = 0;  // flags
    std::string crc;
    PutFixed32(&crc, crc32c::Mask(crc32c::Value(patched.data(), 28)));
    patched.replace(28, 4, crc);
    f.seekp(0);
    f.write(patched.data(), patched.size());
  }
  ASSERT_EQ(HeaderFlags(first), 0u);
  auto kind = ReadLogKind(dir.log());
  ASSERT_TRUE(kind.ok()) << kind.status().ToString();
  EXPECT_FALSE(kind->has_value());
  WriteLog(dir.log(), LogKind::kAuditStore, 1000);
  auto now = ReadLogKind(dir.log());
  ASSERT_TRUE(now.ok());
  EXPECT_EQ(*now, LogKind::kAuditStore);
}

TEST(StoreIdentityTest, NoLogIsCreatedAmongOtherFiles) {
  TestDir dir;
  fs::create_directories(dir.log());
  std::ofstream(dir.log() + "/notes.txt") << "mine";
  auto log = OpenLogEngine(dir.log(), Options(LogKind::kPlain));
  ASSERT_FALSE(log.ok());
  EXPECT_EQ(log.status().code(), Status::Code::kFailedPrecondition);
  EXPECT_NE(log.status().message().find("'notes.txt'"), std::string::npos)
      << log.status().ToString();
  EXPECT_FALSE(fs::exists(dir.log() + "/" + format::SegmentFileName(1)));
}

TEST(StoreIdentityTest, EmptyDirectoryBecomesALog) {
  TestDir dir;
  fs::create_directories(dir.log());
  WriteLog(dir.log(), LogKind::kPlain, 3);
  auto summary = InspectLog(dir.log());
  ASSERT_TRUE(summary.ok());
  EXPECT_EQ(summary->records, 3u);
}

TEST(StoreIdentityTest, ReadersSayADirectoryWithoutSegmentsIsNoLog) {
  TestDir dir;
  fs::create_directories(dir.log());
  std::ofstream(dir.log() + "/random.bin") << "not a log";
  for (const Status& s : {InspectLog(dir.log()).status(), CheckLog(dir.log()).status(),
                          OpenLogReader(dir.log(), 1).status(), ReadLogKind(dir.log()).status()}) {
    EXPECT_EQ(s.code(), Status::Code::kNotFound) << s.ToString();
    EXPECT_NE(s.message().find("not a quipu log"), std::string::npos) << s.ToString();
  }
  const Status missing = InspectLog(dir.path() + "/nope").status();
  EXPECT_EQ(missing.code(), Status::Code::kNotFound) << missing.ToString();
}

TEST(StoreIdentityTest, LogWhoseFirstSegmentIsGoneIsRefusedEverywhere) {
  TestDir dir;
  WriteLog(dir.log(), LogKind::kPlain, 1000);
  fs::remove(dir.log() + "/" + format::SegmentFileName(1));
  for (const Status& s : {InspectLog(dir.log()).status(), OpenLogReader(dir.log(), 1).status(),
                          OpenLogEngine(dir.log(), Options(LogKind::kPlain)).status()}) {
    EXPECT_TRUE(s.IsCorruption()) << s.ToString();
    EXPECT_NE(s.message().find("LSN 1: missing"), std::string::npos) << s.ToString();
  }
}

TEST(StoreIdentityTest, ReaderOutlivingItsLogFailsCleanly) {
  TestDir dir;
  std::unique_ptr<LogReader> reader;
  {
    auto log = OpenLogEngine(dir.log(), Options(LogKind::kPlain));
    ASSERT_TRUE(log.ok());
    ASSERT_TRUE((*log)->Append("one").ok());
    ASSERT_TRUE((*log)->Flush().ok());
    auto opened = (*log)->NewReader(1);
    ASSERT_TRUE(opened.ok());
    reader = std::move(*opened);
    auto first = reader->Next();
    ASSERT_TRUE(first.ok() && *first);
    EXPECT_EQ(reader->payload(), "one");
  }  // the log is destroyed here
  auto more = reader->Next();
  ASSERT_FALSE(more.ok());
  EXPECT_EQ(more.status().code(), Status::Code::kFailedPrecondition) << more.status().ToString();
}

TEST(StoreIdentityTest, NoReaderFromAClosedLog) {
  TestDir dir;
  auto log = OpenLogEngine(dir.log(), Options(LogKind::kPlain));
  ASSERT_TRUE(log.ok());
  ASSERT_TRUE((*log)->Close().ok());
  EXPECT_EQ((*log)->NewReader(1).status().code(), Status::Code::kFailedPrecondition);
}

}  // namespace
}  // namespace quipu
