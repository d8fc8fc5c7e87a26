// Log::DropSegmentsBefore: retention drops whole sealed segments from the
// front of a log. The log then starts at the first kept segment, its tree
// keeps proving over the purged records, `verify` accepts the recorded gap and
// still catches a retained segment removed or a record edited, and a power cut
// at any step of a purge leaves a log that opens as purged or as not.
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "log/format.h"
#include "quipu/inspect.h"
#include "read_log.h"
#include "step_env.h"
#include "tree_fixture.h"

namespace quipu {
namespace {

namespace fs = std::filesystem;

class PurgeTest : public testing::TreeFixture {
 protected:
  std::unique_ptr<Log> OpenFull(Env* env = nullptr) {
    LogOptions options = Options();
    if (env != nullptr) options.env = env;
    options.tree = TreeOpts();
    auto log = Log::Open(dir_.log(), options);
    EXPECT_TRUE(log.ok()) << log.status().ToString();
    return log.ok() ? std::move(*log) : nullptr;
  }

  void AppendTo(Log* log, int count) {
    for (int i = 0; i < count; ++i) {
      const std::string payload =
          "record-" + std::to_string(payloads_.size()) + std::string(100, 'x');
      auto lsn = log->Append(payload);
      ASSERT_TRUE(lsn.ok()) << lsn.status().ToString();
      payloads_.push_back(payload);
    }
  }

  // Base LSNs of the segment files on disk, in order.
  std::vector<Lsn> Bases() {
    std::vector<Lsn> bases;
    for (const auto& entry : fs::directory_iterator(dir_.log())) {
      Lsn base = 0;
      if (format::ParseSegmentFileName(entry.path().filename().string(), &base)) {
        bases.push_back(base);
      }
    }
    std::sort(bases.begin(), bases.end());
    return bases;
  }

  // The payloads a reader from LSN 1 returns, and the LSN it starts at.
  std::vector<std::string> ReadFromStart(Lsn* first) {
    std::vector<std::string> out;
    *first = 0;
    auto reader = OpenLogReader(dir_.log(), 1);
    EXPECT_TRUE(reader.ok()) << reader.status().ToString();
    if (!reader.ok()) return out;
    testing::ForEachRecord(**reader, [&](Lsn lsn, std::string_view payload) {
      if (*first == 0) *first = lsn;
      out.emplace_back(payload);
    });
    return out;
  }

  std::vector<std::string> Tail(Lsn first) const {
    return std::vector<std::string>(payloads_.begin() + static_cast<long>(first - 1),
                                    payloads_.end());
  }

  Result<VerifyReport> Verify() { return VerifyIntegrity(dir_.log(), VerifyOpts()); }
};

TEST_F(PurgeTest, TheLogStartsAtTheFirstKeptSegmentAndItsTreeStillProves) {
  auto log = OpenFull();
  AppendTo(log.get(), 150);
  std::vector<Lsn> bases = Bases();
  ASSERT_GE(bases.size(), 4u);
  const Lsn first_kept = bases[2];
  auto root_before = log->tree()->Root();
  ASSERT_TRUE(root_before.ok());
  ASSERT_TRUE(log->DropSegmentsBefore(first_kept, "purge record at LSN 151").ok());

  EXPECT_EQ(log->FirstLsn(), first_kept);
  EXPECT_EQ(Bases().front(), first_kept);
  auto marker = ReadPurgeMarker(dir_.log(), &env_);
  ASSERT_TRUE(marker.ok() && *marker);
  EXPECT_EQ((*marker)->first_kept, first_kept);
  EXPECT_EQ((*marker)->note, "purge record at LSN 151");
  // A reader from the start begins at the first kept record; a purged LSN
  // asked for by number is gone.
  Lsn first = 0;
  EXPECT_EQ(ReadFromStart(&first), Tail(first_kept));
  EXPECT_EQ(first, first_kept);
  auto purged_reader = log->NewReader(2);
  ASSERT_TRUE(purged_reader.ok());
  EXPECT_EQ((*purged_reader)->Next().status().code(), Status::Code::kNotFound);
  // The tree keeps every purged leaf: the same root, proofs into the purged
  // records and consistency from sizes inside them.
  auto root = log->tree()->Root();
  ASSERT_TRUE(root.ok());
  EXPECT_EQ(*root, *root_before);
  auto proof = log->tree()->ProveInclusion(1);
  ASSERT_TRUE(proof.ok()) << proof.status().ToString();
  EXPECT_TRUE(
      merkle::VerifyInclusion(merkle::LeafHash(payloads_[0]), 0, 150, proof->path, *root).ok());
  auto consistency = log->tree()->ProveConsistency(3);
  ASSERT_TRUE(consistency.ok()) << consistency.status().ToString();

  AppendTo(log.get(), 20);
  ASSERT_TRUE(log->Close().ok());
  log = OpenFull();
  EXPECT_EQ(log->FirstLsn(), first_kept);
  EXPECT_EQ(log->LastLsn(), 170u);
  ASSERT_TRUE(log->Close().ok());
  EXPECT_EQ(ReadFromStart(&first), Tail(first_kept));

  auto report = Verify();
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_EQ(report->purged, first_kept - 1);
  EXPECT_EQ(report->first_lsn, first_kept);
  EXPECT_EQ(report->records, 170 - (first_kept - 1));
  EXPECT_EQ(report->covered, 170u);
  EXPECT_EQ(report->root, Memory(170).Root());
}

TEST_F(PurgeTest, OnlyTheStartOfADurableSegmentMayBeKept) {
  auto log = OpenFull();
  AppendTo(log.get(), 150);
  std::vector<Lsn> bases = Bases();
  ASSERT_GE(bases.size(), 4u);
  EXPECT_EQ(log->DropSegmentsBefore(1, "").code(), Status::Code::kFailedPrecondition);
  EXPECT_EQ(log->DropSegmentsBefore(bases[1] + 1, "").code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(log->DropSegmentsBefore(log->LastLsn() + 5, "").code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(log->DropSegmentsBefore(bases[1], std::string(5000, 'n')).code(),
            Status::Code::kInvalidArgument)
      << "a note of more than 4 KiB";
  ASSERT_TRUE(log->DropSegmentsBefore(bases[1], "").ok());
  ASSERT_TRUE(log->DropSegmentsBefore(bases[3], "").ok()) << "a later purge moves the start on";
  EXPECT_EQ(log->DropSegmentsBefore(bases[2], "").code(), Status::Code::kInvalidArgument)
      << "never back";
  // Every sealed segment may go; the active one stays.
  ASSERT_TRUE(log->DropSegmentsBefore(Bases().back(), "").ok());
  EXPECT_EQ(Bases().size(), 1u);
  ASSERT_TRUE(log->Close().ok());
  ASSERT_TRUE(Verify().ok());
}

TEST_F(PurgeTest, VerifyStillCatchesARemovedSegmentAnEditAndADamagedSpine) {
  auto log = OpenFull();
  AppendTo(log.get(), 150);
  std::vector<Lsn> bases = Bases();
  ASSERT_TRUE(log->DropSegmentsBefore(bases[1], "").ok());
  ASSERT_TRUE(log->Close().ok());
  ASSERT_TRUE(Verify().ok());
  const std::string kept = dir_.log() + "/" + format::SegmentFileName(bases[1]);
  const std::string saved = dir_.path() + "/saved";

  // The first retained segment removed: a gap no purge recorded.
  fs::copy_file(kept, saved);
  fs::remove(kept);
  auto report = Verify();
  EXPECT_EQ(report.status().code(), Status::Code::kCorruption);
  EXPECT_NE(report.status().ToString().find("no purge dropped"), std::string::npos)
      << report.status().ToString();
  EXPECT_FALSE(Log::Open(dir_.log(), Options()).ok());
  fs::copy_file(saved, kept);
  fs::remove(saved);

  // A retained record edited.
  {
    std::fstream file(kept, std::ios::in | std::ios::out | std::ios::binary);
    file.seekp(format::kSegmentHeaderSize + 8 + 3);
    file.put('#');
  }
  EXPECT_EQ(Verify().status().code(), Status::Code::kCorruption);
}

TEST_F(PurgeTest, VerifyChecksTheSpineNodesOverThePurgedRecords) {
  auto log = OpenFull();
  AppendTo(log.get(), 150);
  ASSERT_TRUE(log->DropSegmentsBefore(Bases()[2], "").ok());
  ASSERT_TRUE(log->Close().ok());
  // Overwrite the leaf of LSN 2 in the spine: the level-1 node over LSN 1..2
  // no longer hashes its children.
  {
    std::fstream file(spine::SpinePath(dir_.log()),
                      std::ios::in | std::ios::out | std::ios::binary);
    file.seekp(spine::kHeaderSize + merkle::PostorderIndex(0, 1) * spine::kNodeSize);
    file.put('\x01');
  }
  auto report = Verify();
  EXPECT_EQ(report.status().code(), Status::Code::kCorruption);
  EXPECT_NE(report.status().ToString().find("purged LSNs 1..2"), std::string::npos)
      << report.status().ToString();
}

TEST_F(PurgeTest, APowerCutAtAnyStepLeavesTheLogPurgedOrNot) {
  int steps = 0;
  for (int crash_at = 0; crash_at < 50; ++crash_at) {
    SCOPED_TRACE("crash before step " + std::to_string(crash_at));
    fs::remove_all(dir_.log());
    payloads_.clear();
    FaultEnv disk(Env::Default());  // fresh: it knows nothing of the last round
    testing::StepEnv stepper(&disk);
    auto log = OpenFull(&stepper);
    ASSERT_NE(log, nullptr);
    AppendTo(log.get(), 150);
    const Lsn first_kept = Bases()[3];
    const int before = stepper.steps_taken();
    stepper.CrashBeforeStep(crash_at);
    Status purged = log->DropSegmentsBefore(first_kept, "note");
    steps = stepper.steps_taken() - before;
    if (purged.ok()) disk.Crash();  // past the last step: cut the power after it
    log.reset();
    ASSERT_TRUE(disk.PowerLoss().ok());

    log = OpenFull(&disk);
    ASSERT_NE(log, nullptr);
    const Lsn first = log->FirstLsn();
    EXPECT_TRUE(first == 1 || first == first_kept) << first;
    if (purged.ok()) EXPECT_EQ(first, first_kept);
    ASSERT_TRUE(log->Close().ok());
    Lsn read_first = 0;
    EXPECT_EQ(ReadFromStart(&read_first), Tail(first));
    auto report = VerifyIntegrity(dir_.log(), VerifyOptions());
    ASSERT_TRUE(report.ok()) << report.status().ToString();
    EXPECT_EQ(report->covered, 150u);
    if (purged.ok()) break;
  }
  EXPECT_GE(steps, 5) << "marker: create, rename, sync; then removals and a sync";
}

}  // namespace
}  // namespace quipu
