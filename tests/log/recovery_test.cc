// What Open does with damaged or half-written logs, and what it reports.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <vector>

#include "log/engine.h"
#include "log/format.h"
#include "quipu/inspect.h"
#include "quipu/log.h"
#include "quipu/reader.h"
#include "test_dir.h"
#include "util/coding.h"

namespace quipu {
namespace {

namespace fs = std::filesystem;
using testing::TestDir;

std::string Payload(Lsn i) { return "payload-" + std::to_string(i); }

// Writes `records` records (OsManaged, then Close) with small segments.
void WriteLog(const std::string& dir, Lsn records, uint64_t segment_size = 1 << 20) {
  LogOptions options;
  options.durability = DurabilityPolicy::OsManaged();
  options.segment_size = segment_size;
  options.max_record_size = 256;
  auto log = OpenLogEngine(dir, options);
  ASSERT_TRUE(log.ok()) << log.status().ToString();
  for (Lsn i = 1; i <= records; ++i) ASSERT_TRUE((*log)->Append(Payload(i)).ok());
  ASSERT_TRUE((*log)->Close().ok());
}

std::vector<std::string> SegmentFiles(const std::string& dir) {
  std::vector<std::string> names;
  for (const auto& entry : fs::directory_iterator(dir)) {
    const std::string name = entry.path().filename();
    if (name.ends_with(".qlog")) names.push_back(name);
  }
  std::sort(names.begin(), names.end());
  return names;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

void WriteFile(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << bytes;
}

void AppendToFile(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::app);
  out << bytes;
}

// Offset of the frame holding the k-th record (0-based) of a segment.
uint64_t FrameOffset(const std::string& bytes, int k) {
  uint64_t off = format::kSegmentHeaderSize;
  for (int i = 0; i < k; ++i) off += format::kFrameHeaderSize + DecodeFixed32(&bytes[off + 4]);
  return off;
}

void FlipByte(const std::string& path, uint64_t offset) {
  std::string bytes = ReadFile(path);
  bytes[offset] ^= 0x20;
  WriteFile(path, bytes);
}

LogOptions Defaults() {
  LogOptions options;
  options.max_record_size = 256;
  options.segment_size = 1 << 20;
  return options;
}

TEST(RecoveryTest, TornTailIsTruncatedAndReported) {
  TestDir dir;
  WriteLog(dir.log(), 10);
  const std::string seg = dir.log() + "/" + SegmentFiles(dir.log()).back();
  const uint64_t clean_size = fs::file_size(seg);
  // A frame header promising 100 bytes, followed by only 7 of them.
  std::string torn;
  PutFixed32(&torn, 0xdeadbeef);
  PutFixed32(&torn, 100);
  torn += "partial";
  AppendToFile(seg, torn);

  auto log = OpenLogEngine(dir.log(), Defaults());
  ASSERT_TRUE(log.ok()) << log.status().ToString();
  EXPECT_EQ((*log)->LastLsn(), 10u);
  const RecoveryReport& report = (*log)->Recovery();
  EXPECT_EQ(report.dropped_bytes, torn.size());
  EXPECT_EQ(report.offset, clean_size);
  EXPECT_EQ(report.file, SegmentFiles(dir.log()).back());
  EXPECT_NE(report.reason.find("torn"), std::string::npos) << report.reason;
  EXPECT_EQ(fs::file_size(seg), clean_size);
  auto lsn = (*log)->Append("after");
  ASSERT_TRUE(lsn.ok());
  EXPECT_EQ(*lsn, 11u);
  ASSERT_TRUE((*log)->Close().ok());

  auto summary = InspectLog(dir.log());
  ASSERT_TRUE(summary.ok());
  EXPECT_NE(summary->last_recovery.find("dropped " + std::to_string(torn.size()) + " bytes"),
            std::string::npos)
      << summary->last_recovery;
}

// Cuts the sync marker a clean Close leaves at the end of the newest segment,
// as if the writer had died before closing.
void StripClosingMarker(const std::string& seg) {
  fs::resize_file(seg, fs::file_size(seg) - format::kMarkerFrameSize);
}

TEST(RecoveryTest, ChecksumFailingLastFrameIsATornTail) {
  TestDir dir;
  WriteLog(dir.log(), 10);
  const std::string seg = dir.log() + "/" + SegmentFiles(dir.log()).back();
  StripClosingMarker(seg);
  const std::string bytes = ReadFile(seg);
  FlipByte(seg, FrameOffset(bytes, 9) + format::kFrameHeaderSize);  // payload of record 10
  auto log = OpenLogEngine(dir.log(), Defaults());
  ASSERT_TRUE(log.ok()) << log.status().ToString();
  EXPECT_EQ((*log)->LastLsn(), 9u);
  EXPECT_NE((*log)->Recovery().reason.find("checksum"), std::string::npos);
}

TEST(RecoveryTest, TornTailEndsADirectoryReaderAndFailsCheck) {
  TestDir dir;
  WriteLog(dir.log(), 5);
  const std::string name = SegmentFiles(dir.log()).back();
  AppendToFile(dir.log() + "/" + name, std::string(5, '\x01'));
  auto reader = OpenLogReader(dir.log(), 1);
  ASSERT_TRUE(reader.ok());
  int n = 0;
  for (;;) {
    auto more = (*reader)->Next();
    ASSERT_TRUE(more.ok()) << more.status().ToString();
    if (!*more) break;
    ++n;
  }
  EXPECT_EQ(n, 5);
  Status check = CheckLog(dir.log()).status();
  EXPECT_TRUE(check.IsCorruption());
  EXPECT_NE(check.message().find(name), std::string::npos);
  EXPECT_NE(check.message().find("torn tail"), std::string::npos);
  auto summary = InspectLog(dir.log());
  ASSERT_TRUE(summary.ok());
  EXPECT_EQ(summary->torn_bytes, 5u);
}

TEST(RecoveryTest, CorruptionInSealedSegmentIsRefused) {
  TestDir dir;
  WriteLog(dir.log(), 300, 1024);
  const auto files = SegmentFiles(dir.log());
  ASSERT_GT(files.size(), 3u);
  const std::string victim = dir.log() + "/" + files[1];
  const uint64_t frame = FrameOffset(ReadFile(victim), 3);
  FlipByte(victim, frame + format::kFrameHeaderSize + 2);
  const uint64_t size_before = fs::file_size(victim);

  auto log = OpenLogEngine(dir.log(), Defaults());
  ASSERT_FALSE(log.ok());
  const Status& s = log.status();
  EXPECT_TRUE(s.IsCorruption()) << s.ToString();
  EXPECT_NE(s.message().find(files[1]), std::string::npos) << s.ToString();
  EXPECT_NE(s.message().find("offset " + std::to_string(frame)), std::string::npos) << s.ToString();
  EXPECT_EQ(fs::file_size(victim), size_before) << "nothing is cut without salvage";
  EXPECT_EQ(SegmentFiles(dir.log()), files) << "nothing is deleted";

  Status check = CheckLog(dir.log()).status();
  EXPECT_TRUE(check.IsCorruption());
  EXPECT_NE(check.message().find("offset " + std::to_string(frame)), std::string::npos);

  auto reader = OpenLogReader(dir.log(), 1);
  ASSERT_TRUE(reader.ok());
  Status read_error;
  for (;;) {
    auto more = (*reader)->Next();
    if (!more.ok()) {
      read_error = more.status();
      break;
    }
    ASSERT_TRUE(*more) << "the reader must not stop quietly before the damage";
  }
  EXPECT_TRUE(read_error.IsCorruption());
}

TEST(RecoveryTest, CorruptionBeforeValidFramesOfTheNewestSegmentIsRefused) {
  TestDir dir;
  WriteLog(dir.log(), 20);
  const std::string seg = dir.log() + "/" + SegmentFiles(dir.log()).back();
  const uint64_t frame = FrameOffset(ReadFile(seg), 4);
  FlipByte(seg, frame + format::kFrameHeaderSize);
  auto log = OpenLogEngine(dir.log(), Defaults());
  ASSERT_FALSE(log.ok());
  EXPECT_TRUE(log.status().IsCorruption());
  EXPECT_NE(log.status().message().find("offset " + std::to_string(frame)), std::string::npos)
      << log.status().ToString();
  EXPECT_NE(log.status().message().find("were durable"), std::string::npos);
}

TEST(RecoveryTest, DamageAfterTheLastSyncMarkerIsATornTailEvenWithFramesAfterIt) {
  // Power loss with writeback reordering: a hole in never-synced bytes, later
  // unsynced frames intact. No marker vouches for the hole, so it is cut.
  TestDir dir;
  WriteLog(dir.log(), 20);  // OsManaged: nothing synced before Close
  const std::string seg = dir.log() + "/" + SegmentFiles(dir.log()).back();
  StripClosingMarker(seg);
  const uint64_t frame = FrameOffset(ReadFile(seg), 4);
  FlipByte(seg, frame + format::kFrameHeaderSize);
  auto log = OpenLogEngine(dir.log(), Defaults());
  ASSERT_TRUE(log.ok()) << log.status().ToString();
  EXPECT_EQ((*log)->LastLsn(), 4u);
  EXPECT_EQ((*log)->Recovery().offset, frame);
}

TEST(RecoveryTest, DamageBeforeASyncMarkerIsRefusedAfterACrash) {
  TestDir dir;
  {
    LogOptions options = Defaults();
    options.durability = DurabilityPolicy::Always();  // a marker follows every sync
    auto log = OpenLogEngine(dir.log(), options);
    ASSERT_TRUE(log.ok());
    for (Lsn i = 1; i <= 10; ++i) ASSERT_TRUE((*log)->Append(Payload(i)).ok());
    ASSERT_TRUE((*log)->Close().ok());
  }
  const std::string seg = dir.log() + "/" + SegmentFiles(dir.log()).back();
  StripClosingMarker(seg);
  const std::string bytes = ReadFile(seg);
  // Record 3's frame (markers sit between records, so find it by content).
  const uint64_t at = bytes.find(Payload(3));
  ASSERT_NE(at, std::string::npos);
  FlipByte(seg, at);
  auto log = OpenLogEngine(dir.log(), Defaults());
  ASSERT_FALSE(log.ok());
  EXPECT_TRUE(log.status().IsCorruption()) << log.status().ToString();
}

TEST(RecoveryTest, SalvageKeepsTheLongestValidPrefixAndSaysWhatItDropped) {
  TestDir dir;
  WriteLog(dir.log(), 300, 1024);
  const auto files = SegmentFiles(dir.log());
  const std::string victim = dir.log() + "/" + files[1];
  const uint64_t frame = FrameOffset(ReadFile(victim), 3);
  FlipByte(victim, frame + format::kFrameHeaderSize);
  Lsn base = 0;
  ASSERT_TRUE(format::ParseSegmentFileName(files[1], &base));

  LogOptions options = Defaults();
  options.recovery = RecoveryMode::kSalvage;
  auto log = OpenLogEngine(dir.log(), options);
  ASSERT_TRUE(log.ok()) << log.status().ToString();
  EXPECT_EQ((*log)->LastLsn(), base + 2) << "records before the damaged one survive";
  const RecoveryReport& report = (*log)->Recovery();
  EXPECT_EQ(report.file, files[1]);
  EXPECT_EQ(report.offset, frame);
  EXPECT_EQ(report.dropped_segments, files.size() - 2);
  EXPECT_GT(report.dropped_bytes, 0u);
  EXPECT_EQ(SegmentFiles(dir.log()).size(), 2u);
  auto lsn = (*log)->Append("continues");
  ASSERT_TRUE(lsn.ok());
  EXPECT_EQ(*lsn, base + 3);
  ASSERT_TRUE((*log)->Close().ok());
  EXPECT_TRUE(CheckLog(dir.log()).ok());
}

TEST(RecoveryTest, WrongMagicIsRefused) {
  TestDir dir;
  WriteLog(dir.log(), 3);
  const std::string seg = dir.log() + "/" + SegmentFiles(dir.log()).back();
  std::string bytes = ReadFile(seg);
  bytes.replace(0, 8, "NOTQUIPU");
  WriteFile(seg, bytes);
  auto log = OpenLogEngine(dir.log(), Defaults());
  ASSERT_FALSE(log.ok());
  EXPECT_NE(log.status().message().find("magic"), std::string::npos) << log.status().ToString();
}

TEST(RecoveryTest, NewerFormatVersionIsRefused) {
  TestDir dir;
  WriteLog(dir.log(), 3);
  const std::string seg = dir.log() + "/" + SegmentFiles(dir.log()).back();
  std::string bytes = ReadFile(seg);
  bytes[8] = 9;
  WriteFile(seg, bytes);
  auto log = OpenLogEngine(dir.log(), Defaults());
  ASSERT_FALSE(log.ok());
  EXPECT_EQ(log.status().code(), Status::Code::kNotSupported) << log.status().ToString();
}

TEST(RecoveryTest, SegmentCaughtBeingCreatedIsRebuilt) {
  for (size_t kept : {size_t{0}, size_t{10}, format::kSegmentHeaderSize}) {
    TestDir dir;
    WriteLog(dir.log(), 7);
    // The next segment's file exists but its header never fully arrived.
    const std::string header = format::EncodeSegmentHeader(8, LogKind::kPlain);
    const std::string next = dir.log() + "/" + format::SegmentFileName(8);
    WriteFile(next, kept == format::kSegmentHeaderSize ? std::string(kept, '\0')
                                                       : header.substr(0, kept));
    auto log = OpenLogEngine(dir.log(), Defaults());
    ASSERT_TRUE(log.ok()) << log.status().ToString();
    EXPECT_EQ((*log)->LastLsn(), 7u);
    auto lsn = (*log)->Append("eight");
    ASSERT_TRUE(lsn.ok());
    EXPECT_EQ(*lsn, 8u);
    ASSERT_TRUE((*log)->Close().ok());
    EXPECT_TRUE(CheckLog(dir.log()).ok());
  }
}

TEST(RecoveryTest, MissingMiddleSegmentIsRefused) {
  TestDir dir;
  WriteLog(dir.log(), 300, 1024);
  const auto files = SegmentFiles(dir.log());
  fs::remove(dir.log() + "/" + files[2]);
  auto log = OpenLogEngine(dir.log(), Defaults());
  ASSERT_FALSE(log.ok());
  EXPECT_TRUE(log.status().IsCorruption());
  EXPECT_NE(log.status().message().find(files[1]), std::string::npos) << log.status().ToString();
}

TEST(RecoveryTest, SealedSegmentCutShortIsRefused) {
  TestDir dir;
  WriteLog(dir.log(), 300, 1024);
  const auto files = SegmentFiles(dir.log());
  const std::string victim = dir.log() + "/" + files[0];
  fs::resize_file(victim, FrameOffset(ReadFile(victim), 5));
  auto log = OpenLogEngine(dir.log(), Defaults());
  ASSERT_FALSE(log.ok());
  EXPECT_TRUE(log.status().IsCorruption()) << log.status().ToString();
  EXPECT_NE(log.status().message().find(files[0]), std::string::npos);
}

}  // namespace
}  // namespace quipu
