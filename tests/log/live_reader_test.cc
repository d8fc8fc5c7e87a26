// An in-process reader of a log being written: it must return only what the
// writer has flushed, as the writer flushed it, even when bytes it read
// ahead were then cut and written again differently (a full disk makes the
// writer drop unacknowledged records and reuse their LSNs).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "log/format.h"
#include "log/reader_impl.h"
#include "log/segment_scan.h"
#include "quipu/env.h"
#include "test_dir.h"

namespace quipu {
namespace {

// A live source whose readable LSN the test moves by hand.
class HandSource final : public ReadSource {
 public:
  explicit HandSource(Lsn* readable) : readable_(readable) {}
  Status View(std::vector<SegmentRef>* segments, Lsn* readable) override {
    *segments = {{format::SegmentFileName(1), 1}};
    *readable = *readable_;
    return Status::OK();
  }
  bool live() const override { return true; }

 private:
  Lsn* readable_;
};

std::string Frame(const std::string& payload) {
  std::string frame;
  format::AppendFrame(&frame,
                      format::FrameCrc(static_cast<uint32_t>(payload.size()), payload, /*base=*/1),
                      payload);
  return frame;
}

void WriteSegment(const std::string& path, const std::vector<std::string>& payloads) {
  std::string bytes = format::EncodeSegmentHeader(1, LogKind::kPlain);
  for (const std::string& p : payloads) bytes += Frame(p);
  std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
}

TEST(LiveReaderTest, BytesReadAheadAreNotTrustedOnceTheWriterMovesOn) {
  testing::TestDir dir;
  std::filesystem::create_directories(dir.log());
  const std::string segment = dir.log() + "/" + format::SegmentFileName(1);
  // Records 1 and 2 are flushed; "dropped-3" is a write the writer will cut.
  WriteSegment(segment, {"one", "two", "dropped-3"});
  Lsn readable = 2;
  auto reader = NewLogReader(Env::Default(), dir.log(), std::make_unique<HandSource>(&readable), 1);
  for (const char* expected : {"one", "two"}) {
    auto more = reader->Next();
    ASSERT_TRUE(more.ok() && *more) << more.status().ToString();
    EXPECT_EQ(reader->payload(), expected);
  }
  auto end = reader->Next();
  ASSERT_TRUE(end.ok());
  EXPECT_FALSE(*end);

  // The writer cut the dropped record and wrote another one as LSN 3.
  WriteSegment(segment, {"one", "two", "three, written again"});
  readable = 3;
  auto more = reader->Next();
  ASSERT_TRUE(more.ok() && *more) << more.status().ToString();
  EXPECT_EQ(reader->lsn(), 3u);
  EXPECT_EQ(reader->payload(), "three, written again");
}

}  // namespace
}  // namespace quipu
