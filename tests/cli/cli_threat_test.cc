// The threat table of docs/integrity.md, one test per row, each on a real
// store on disk attacked the way the row says and then checked with the
// `quipu` binary. The attacks keep every CRC valid, so only the integrity
// layer (spine, segment chain, signed checkpoints, proofs) can notice.
#include <algorithm>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "cli/cli_runner.h"
#include "log/format.h"
#include "quipu/merkle.h"

namespace quipu::clitest {
namespace {

using nlohmann::json;

uint32_t Load32(const std::string& b, size_t at) {
  uint32_t v = 0;
  for (int i = 3; i >= 0; i--) v = v << 8 | static_cast<uint8_t>(b[at + i]);
  return v;
}

void Store32(std::string* b, size_t at, uint32_t v) {
  for (int i = 0; i < 4; i++) (*b)[at + i] = static_cast<char>(v >> (8 * i));
}

// One frame of a segment file, as src/log/format.h lays it out.
struct Frame {
  size_t offset;  // of the frame header
  uint32_t length_field;
  std::string payload;
  bool marker() const { return (length_field & format::kMarkerFlag) != 0; }
};

std::vector<Frame> Frames(const std::string& seg) {
  std::vector<Frame> out;
  size_t at = format::kSegmentHeaderSize;
  while (at + format::kFrameHeaderSize <= seg.size()) {
    uint32_t length_field = Load32(seg, at + 4);
    size_t len = length_field & ~format::kMarkerFlag;
    out.push_back({at, length_field, seg.substr(at + format::kFrameHeaderSize, len)});
    at += format::kFrameHeaderSize + len;
  }
  return out;
}

std::vector<std::string> Records(const std::string& seg) {
  std::vector<std::string> out;
  for (const Frame& f : Frames(seg)) {
    if (!f.marker()) out.push_back(f.payload);
  }
  return out;
}

// A whole segment file holding `records` for `base`, every CRC valid: what a
// forger with the format spec writes.
std::string ForgeSegment(Lsn base, const std::vector<std::string>& records) {
  std::string seg = format::EncodeSegmentHeader(base, LogKind::kPlain);
  for (const std::string& r : records) {
    format::AppendFrame(&seg, format::FrameCrc(static_cast<uint32_t>(r.size()), r, base), r);
  }
  return seg;
}

// The attacks of docs/integrity.md on a store written with a signing key
// (ThreatTest) and, those that need no checkpoint, on one written without
// (KeylessThreatTest): the tree alone must catch them.
class ThreatTest : public CliFixture {
 protected:
  // 40 records over 5 segments; with a key, a checkpoint at every seal and
  // at the end.
  void SetUp() override {
    CliFixture::SetUp();
    key_ = Path("key");
    RunOk({"keygen", "--out", key_});
    std::vector<std::string> ingest = {"ingest", dir_, "--segment-size", "256"};
    if (Signed()) ingest.insert(ingest.end(), {"--signing-key", key_});
    RunOk(ingest, Lines(1, 40));
    ASSERT_GE(Segments().size(), 4u);
  }

  virtual bool Signed() const { return true; }

  static std::string Lines(int first, int last) {
    std::string input;
    for (int i = first; i <= last; i++) input += "record-" + std::to_string(i) + "\n";
    return input;
  }

  std::vector<std::string> Segments() const {
    std::vector<std::string> out;
    for (const auto& e : fs::directory_iterator(dir_)) {
      if (e.path().extension() == ".qlog") out.push_back(e.path().string());
    }
    std::sort(out.begin(), out.end());
    return out;
  }

  static Lsn BaseOf(const std::string& path) {
    Lsn base = 0;
    EXPECT_TRUE(format::ParseSegmentFileName(fs::path(path).filename().string(), &base));
    return base;
  }

  // Changes one byte of record `lsn`'s payload in place and fixes its CRC.
  // Returns the segment file name.
  std::string EditRecordKeepingCrc(Lsn lsn) {
    std::vector<std::string> segs = Segments();
    auto it = std::find_if(segs.rbegin(), segs.rend(),
                           [&](const std::string& s) { return BaseOf(s) <= lsn; });
    std::string seg = ReadFile(*it);
    Lsn n = BaseOf(*it);
    for (const Frame& f : Frames(seg)) {
      if (f.marker() || n++ != lsn) continue;
      std::string payload = f.payload;
      payload[0] ^= 0x20;  // 'r' -> 'R'
      seg.replace(f.offset + format::kFrameHeaderSize, payload.size(), payload);
      Store32(&seg, f.offset, format::FrameCrc(f.length_field, payload, BaseOf(*it)));
      WriteFile(*it, seg);
      return fs::path(*it).filename().string();
    }
    ADD_FAILURE() << "no LSN " << lsn;
    return "";
  }

  // Cuts the newest `n` records off at a frame boundary: a clean-looking log.
  void CutNewestRecords(size_t n) {
    std::string last = Segments().back();
    std::vector<size_t> record_offsets;
    for (const Frame& f : Frames(ReadFile(last))) {
      if (!f.marker()) record_offsets.push_back(f.offset);
    }
    ASSERT_GE(record_offsets.size(), n);
    fs::resize_file(last, record_offsets[record_offsets.size() - n]);
  }

  RunResult Verify() {
    if (!Signed()) return Run({"verify", dir_});
    return Run({"verify", dir_, "--public-key", key_ + ".pub"});
  }

  // Expects verify to fail, its one error line containing each of `words`.
  void ExpectCaught(const std::vector<std::string>& words) {
    RunResult r = Verify();
    EXPECT_EQ(r.exit_code, 1) << r.out;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
    for (const std::string& w : words) EXPECT_NE(r.err.find(w), std::string::npos) << r.err;
  }

  std::string key_;
};

class KeylessThreatTest : public ThreatTest {
 protected:
  bool Signed() const override { return false; }
};

TEST_F(ThreatTest, CleanStoreVerifies) {
  RunResult r = Verify();
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("records       40"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("verified"), std::string::npos) << r.out;
}

TEST_F(ThreatTest, ByteEditedInPlaceWithItsCrcFixedIsCaught) {
  std::string file = EditRecordKeepingCrc(12);
  // Every frame still checks out, so the log layer sees nothing wrong...
  EXPECT_EQ(Run({"check", dir_}).exit_code, 0);
  // ...but the record no longer hashes to its leaf.
  ExpectCaught({"LSN 12", file, "offset"});
}

TEST_F(ThreatTest, SegmentRemovedIsCaught) {
  std::vector<std::string> segs = Segments();
  Lsn missing = BaseOf(segs[1]);
  fs::remove(segs[1]);
  ExpectCaught({"LSN " + std::to_string(missing)});
}

TEST_F(ThreatTest, SegmentsSwappedAreCaught) {
  std::vector<std::string> segs = Segments();
  std::string a = ReadFile(segs[1]), b = ReadFile(segs[2]);
  WriteFile(segs[1], b);
  WriteFile(segs[2], a);
  ExpectCaught({"LSN"});
}

TEST_F(ThreatTest, SegmentReorderedAndReframedWithValidCrcsIsCaught) {
  // The forger reorders a sealed segment's records and reframes them so
  // every header and frame CRC is valid: only the spine notices.
  std::vector<std::string> segs = Segments();
  std::vector<std::string> records = Records(ReadFile(segs[1]));
  ASSERT_GE(records.size(), 2u);
  std::reverse(records.begin(), records.end());
  WriteFile(segs[1], ForgeSegment(BaseOf(segs[1]), records));
  EXPECT_EQ(Run({"check", dir_}).exit_code, 0) << "the forgery is well-framed";
  ExpectCaught({"LSN " + std::to_string(BaseOf(segs[1])), fs::path(segs[1]).filename().string()});
}

TEST_F(ThreatTest, NewestRecordsTruncatedBelowACheckpointAreCaught) {
  // Cut the last two records at a frame boundary (a clean-looking log), and
  // remove the SPINE too, so only the checkpoints remember the lost records.
  CutNewestRecords(2);
  ExpectCaught({});
  fs::remove(dir_ + "/SPINE");
  ExpectCaught({"CHECKPOINTS"});
}

TEST_F(ThreatTest, SpineRewrittenFromScratchIsCaughtOnlyByTheSignedCheckpoint) {
  // The forger edits a record, fixes its CRC, deletes the spine and has
  // quipu rebuild it from the edited records (any verb that opens the tree
  // for writing does; `checkpoint` with the forger's own key is one).
  EditRecordKeepingCrc(5);
  fs::remove(dir_ + "/SPINE");
  fs::rename(dir_ + "/CHECKPOINTS", Path("CHECKPOINTS.real"));
  RunOk({"keygen", "--out", Path("forger")});
  RunOk({"checkpoint", dir_, "--key", Path("forger")});
  ASSERT_TRUE(fs::exists(dir_ + "/SPINE"));
  // Spine and records agree again: without the owner's checkpoints and key
  // nothing is wrong.
  EXPECT_EQ(Run({"verify", dir_}).exit_code, 0);
  // The real checkpoints were signed over the original records.
  fs::rename(Path("CHECKPOINTS.real"), dir_ + "/CHECKPOINTS");
  ExpectCaught({"CHECKPOINTS"});
  // Re-signing with the forger's own key is caught by the owner's public key.
  fs::remove(dir_ + "/CHECKPOINTS");
  RunOk({"checkpoint", dir_, "--key", Path("forger")});
  EXPECT_EQ(Run({"verify", dir_}).exit_code, 0) << "without the key only roots are checked";
  ExpectCaught({"signature"});
}

TEST_F(ThreatTest, CheckpointFileEditedIsCaught) {
  const std::string path = dir_ + "/CHECKPOINTS";
  const std::string original = ReadFile(path);
  std::string first = original.substr(0, original.find('\n'));
  json cp = json::parse(first);
  auto with_first_line = [&](const std::string& line) {
    WriteFile(path, line + original.substr(original.find('\n')));
  };

  // A different root: caught against the records even without the key.
  json edited = cp;
  edited["root"] = merkle::LeafHash("forged").ToHex();
  with_first_line(edited.dump());
  EXPECT_EQ(Run({"verify", dir_}).exit_code, 1);
  ExpectCaught({"CHECKPOINTS"});

  // A different time: the roots still match, only the signature catches it.
  edited = cp;
  edited["time_us"] = cp["time_us"].get<int64_t>() - 1000000;
  with_first_line(edited.dump());
  EXPECT_EQ(Run({"verify", dir_}).exit_code, 0);
  ExpectCaught({"CHECKPOINTS", "signature"});

  // A line that is no checkpoint at all.
  with_first_line("{\"tree_size\":3}");
  ExpectCaught({"CHECKPOINTS line 1"});

  WriteFile(path, original);
  EXPECT_EQ(Verify().exit_code, 0);
}

TEST_F(ThreatTest, ForgedProofsAreRejected) {
  std::string cps = dir_ + "/CHECKPOINTS";
  std::string lines = ReadFile(cps);
  ASSERT_EQ(json::parse(lines.substr(lines.rfind('\n', lines.size() - 2) + 1))["tree_size"], 40)
      << "the proofs below are checked against the last checkpoint";
  const json real = json::parse(RunOk({"prove", dir_, "9", "--json"}));
  std::string file = Path("proof.json");
  auto accepted = [&](const json& proof, std::vector<std::string> extra = {}) {
    WriteFile(file, proof.dump());
    std::vector<std::string> args = {"verify-proof", "--proof",    file, "--checkpoint", cps,
                                     "--public-key", key_ + ".pub"};
    args.insert(args.end(), extra.begin(), extra.end());
    return Run(args).exit_code == 0;
  };
  std::string data = Path("data");
  WriteFile(data, "record-9");
  ASSERT_TRUE(accepted(real, {"--leaf-data", data}));

  // A record that was never appended, with the real path.
  WriteFile(data, "record-9 (amended)");
  EXPECT_FALSE(accepted(real, {"--leaf-data", data}));
  json forged = real;
  forged["leaf_hash"] = merkle::LeafHash("record-9 (amended)").ToHex();
  EXPECT_FALSE(accepted(forged));
  // A tampered path, a moved leaf, a shortened path.
  forged = real;
  forged["path"][1] = merkle::LeafHash("x").ToHex();
  EXPECT_FALSE(accepted(forged));
  forged = real;
  forged["leaf_index"] = 9;
  EXPECT_FALSE(accepted(forged));
  forged = real;
  forged["path"].erase(forged["path"].size() - 1);
  EXPECT_FALSE(accepted(forged));
  // A consistency proof with one hash replaced.
  RunOk({"ingest", dir_}, "41\n");
  json cons = json::parse(RunOk({"consistency", dir_, "--old", "40", "--json"}));
  ASSERT_TRUE(accepted(cons));
  cons["proof"][0] = merkle::LeafHash("y").ToHex();
  EXPECT_FALSE(accepted(cons));
}

TEST_F(KeylessThreatTest, CleanStoreVerifiesEveryRecord) {
  RunResult r = Verify();
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("intact: "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("40 of 40 records against the tree"), std::string::npos) << r.out;
  EXPECT_FALSE(fs::exists(dir_ + "/CHECKPOINTS"));
}

TEST_F(KeylessThreatTest, ByteEditedInPlaceWithItsCrcFixedIsCaught) {
  std::string file = EditRecordKeepingCrc(12);
  EXPECT_EQ(Run({"check", dir_}).exit_code, 0);
  ExpectCaught({"LSN 12", file, "offset", "leaf hash"});
}

TEST_F(KeylessThreatTest, SegmentRemovedOrSwappedIsCaught) {
  std::vector<std::string> segs = Segments();
  std::string a = ReadFile(segs[1]), b = ReadFile(segs[2]);
  WriteFile(segs[1], b);
  WriteFile(segs[2], a);
  ExpectCaught({"LSN"});
  WriteFile(segs[1], a);
  WriteFile(segs[2], b);
  EXPECT_EQ(Verify().exit_code, 0);
  fs::remove(segs[1]);
  ExpectCaught({"LSN " + std::to_string(BaseOf(segs[1]))});
}

TEST_F(KeylessThreatTest, SegmentReorderedAndReframedWithValidCrcsIsCaught) {
  std::vector<std::string> segs = Segments();
  std::vector<std::string> records = Records(ReadFile(segs[1]));
  std::reverse(records.begin(), records.end());
  WriteFile(segs[1], ForgeSegment(BaseOf(segs[1]), records));
  EXPECT_EQ(Run({"check", dir_}).exit_code, 0);
  ExpectCaught({"LSN " + std::to_string(BaseOf(segs[1]))});
}

TEST_F(KeylessThreatTest, TruncationAtAFrameBoundaryIsCaught) {
  CutNewestRecords(2);
  EXPECT_EQ(Run({"check", dir_}).exit_code, 0) << "the cut log is well-framed";
  ExpectCaught({"LSN 39", "missing", "SPINE vouches for 40"});
}

TEST_F(KeylessThreatTest, SpineRemovedIsNotIntact) {
  fs::remove(dir_ + "/SPINE");
  ExpectCaught({"SPINE is missing", "40 records"});
}

TEST_F(KeylessThreatTest, SpineOfAnotherLogIsCaught) {
  const std::string other = Path("other");
  RunOk({"ingest", other, "--segment-size", "256"}, Lines(101, 140));
  fs::copy_file(other + "/SPINE", dir_ + "/SPINE", fs::copy_options::overwrite_existing);
  ExpectCaught({"LSN 1 (", "leaf hash"});
}

// Records a keyless run appends after a keyed one are in the tree too.
TEST_F(ThreatTest, RecordsAppendedWithoutAKeyAreCoveredByTheTree) {
  RunOk({"ingest", dir_, "--segment-size", "256"}, Lines(41, 50));
  RunResult r = Run({"verify", dir_});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("50 of 50 records against the tree"), std::string::npos) << r.out;
  std::string file = EditRecordKeepingCrc(45);
  ExpectCaught({"LSN 45", file});
}

// A checkpoint line whose newline was cut is still a signed statement: it
// is checked, not skipped.
TEST_F(ThreatTest, CheckpointLineWithItsNewlineCutIsStillChecked) {
  const std::string path = dir_ + "/CHECKPOINTS";
  std::string lines = ReadFile(path);
  ASSERT_EQ(lines.back(), '\n');
  WriteFile(path, lines.substr(0, lines.size() - 1));
  RunResult clean = Verify();
  EXPECT_EQ(clean.exit_code, 0) << clean.err;
  EXPECT_NE(clean.out.find("torn (no newline) but whole"), std::string::npos) << clean.out;
  // Hide the last records: only the torn last checkpoint (size 40) remembers them.
  CutNewestRecords(1);
  fs::remove(dir_ + "/SPINE");
  ExpectCaught({"CHECKPOINTS line", "covers 40"});
}

TEST_F(ThreatTest, PublicKeyWithNothingSignedFails) {
  fs::remove(dir_ + "/CHECKPOINTS");
  ExpectCaught({"no signed checkpoint"});
  EXPECT_EQ(Run({"verify", dir_}).exit_code, 0) << "without a key the tree alone is checked";
}

}  // namespace
}  // namespace quipu::clitest
