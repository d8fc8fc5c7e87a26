// libFuzzer target for everything that reads segment files: InspectLog,
// CheckLog, OpenLogReader and the log engine's recovery (tolerant and
// salvage; log/engine.h: the tree over it is not what is fuzzed here).
//
// Arbitrary bytes on disk must give records or an error — never a crash, a
// hang, a huge allocation or an out-of-bounds read (the build adds ASan and
// UBSan; scripts/fuzz.sh sets the time and memory limits). Beyond "no crash"
// the target checks what the API promises, aborting with a message if not:
//   - a log CheckLog passes reads back as exactly its records, LSNs dense;
//   - after any successful Open the log is whole: it accepts an append, and
//     once closed CheckLog passes and a reader returns every record, the new
//     one last.
//
// Input layout (byte 0 holds flags, so the fuzzer can reach two-segment logs):
//   flags & 1 == 0   bytes 1.. are segment 00000000000000000001.qlog
//   flags & 1 == 1   bytes 1-2: u16 LE length of the first segment (clamped),
//                    bytes 3-4: u16 LE base LSN in the second segment's name,
//                    then the first segment (base 1), then the second.
//   flags & 2        before writing, give every frame that fits in its file
//                    the checksum it needs, so that mutated lengths and
//                    payloads reach the checks behind the CRC.
// fuzz/make_corpus.sh writes seeds in this layout.
#include <stdlib.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "log/engine.h"
#include "log/format.h"
#include "quipu/env.h"
#include "quipu/inspect.h"
#include "quipu/log.h"
#include "quipu/reader.h"
#include "util/coding.h"

namespace {

namespace fs = std::filesystem;

struct SegmentFile {
  std::string name;
  std::string bytes;
};

// Env::Default() with reads clamped to the file's size. The engine reads
// segments in 1 MiB windows; under ASan every such buffer is a fresh mmap that
// is zero-filled page by page, which made the fuzzer five times slower on
// inputs of a few hundred bytes. Clamping returns the same bytes.
class ClampedFile final : public quipu::RandomAccessFile {
 public:
  explicit ClampedFile(std::unique_ptr<quipu::RandomAccessFile> base) : base_(std::move(base)) {}
  quipu::Status Read(uint64_t offset, size_t n, std::string* out) const override {
    quipu::Result<uint64_t> size = base_->Size();
    if (size.ok()) n = static_cast<size_t>(std::min<uint64_t>(n, *size - std::min(*size, offset)));
    return base_->Read(offset, n, out);
  }
  quipu::Result<uint64_t> Size() const override { return base_->Size(); }

 private:
  std::unique_ptr<quipu::RandomAccessFile> base_;
};

class ClampedEnv final : public quipu::Env {
 public:
  using FileResult = quipu::Result<std::unique_ptr<quipu::WritableFile>>;
  FileResult NewWritableFile(const std::string& path) override {
    return base_->NewWritableFile(path);
  }
  FileResult ReopenWritableFile(const std::string& path) override {
    return base_->ReopenWritableFile(path);
  }
  quipu::Result<std::unique_ptr<quipu::RandomAccessFile>> NewRandomAccessFile(
      const std::string& path) override {
    auto file = base_->NewRandomAccessFile(path);
    if (!file.ok()) return file.status();
    return std::unique_ptr<quipu::RandomAccessFile>(new ClampedFile(std::move(*file)));
  }
  quipu::Result<std::vector<std::string>> ListDir(const std::string& dir) override {
    return base_->ListDir(dir);
  }
  quipu::Status CreateDir(const std::string& dir) override { return base_->CreateDir(dir); }
  quipu::Status SyncDir(const std::string& dir) override { return base_->SyncDir(dir); }
  quipu::Status RenameFile(const std::string& from, const std::string& to) override {
    return base_->RenameFile(from, to);
  }
  quipu::Status RemoveFile(const std::string& path) override { return base_->RemoveFile(path); }
  quipu::Result<bool> FileExists(const std::string& path) override {
    return base_->FileExists(path);
  }
  quipu::Result<std::unique_ptr<quipu::FileLock>> LockFile(const std::string& path) override {
    return base_->LockFile(path);
  }

 private:
  quipu::Env* base_ = quipu::Env::Default();
};

quipu::Env* FuzzEnv() {
  static ClampedEnv* env = new ClampedEnv;
  return env;
}

[[noreturn]] void Fail(const std::string& what) {
  fprintf(stderr, "segment_fuzz: broken promise: %s\n", what.c_str());
  abort();
}

uint16_t U16(const uint8_t* p) { return static_cast<uint16_t>(p[0] | (p[1] << 8)); }

// Stores in each frame the CRC it needs for segment `base`, stopping at the
// first frame that runs past the end. Uses only the frame layout of format.h.
void FixFrameCrcs(std::string* segment, quipu::Lsn base) {
  namespace format = quipu::format;
  uint64_t pos = format::kSegmentHeaderSize;
  while (pos + format::kFrameHeaderSize <= segment->size()) {
    char* frame = segment->data() + pos;
    const uint32_t length_field = quipu::DecodeFixed32(frame + 4);
    const uint64_t length = length_field & ~format::kMarkerFlag;
    if (pos + format::kFrameHeaderSize + length > segment->size()) return;
    std::string_view payload(frame + format::kFrameHeaderSize, length);
    quipu::EncodeFixed32(frame, format::FrameCrc(length_field, payload, base));
    pos += format::kFrameHeaderSize + length;
  }
}

// Splits the input into the segment files it describes.
std::vector<SegmentFile> Decode(const uint8_t* data, size_t size) {
  if (size == 0) return {};
  const char* bytes = reinterpret_cast<const char*>(data);
  std::vector<std::pair<quipu::Lsn, std::string>> segments;
  if ((data[0] & 1) == 0 || size < 5) {
    segments.emplace_back(1, std::string(bytes + 1, size - 1));
  } else {
    const size_t rest = size - 5;
    const size_t first_len = std::min<size_t>(U16(data + 1), rest);
    const quipu::Lsn second = U16(data + 3);
    // Base 1 would name the same file: the second then replaces the first.
    if (second != 1) segments.emplace_back(1, std::string(bytes + 5, first_len));
    segments.emplace_back(second, std::string(bytes + 5 + first_len, rest - first_len));
  }
  std::vector<SegmentFile> files;
  for (auto& [base, segment] : segments) {
    if (data[0] & 2) FixFrameCrcs(&segment, base);
    files.push_back({quipu::format::SegmentFileName(base), std::move(segment)});
  }
  return files;
}

// A fresh directory holding exactly `files`.
void WriteLog(const std::string& dir, const std::vector<SegmentFile>& files) {
  std::error_code ec;
  fs::remove_all(dir, ec);
  fs::create_directory(dir);
  for (const SegmentFile& f : files) {
    std::ofstream out(dir + "/" + f.name, std::ios::binary | std::ios::trunc);
    out.write(f.bytes.data(), static_cast<std::streamsize>(f.bytes.size()));
    if (!out) Fail("cannot write " + f.name + " (is the temporary directory full?)");
  }
}

struct ReadOutcome {
  quipu::Status status;
  uint64_t records = 0;
  quipu::Lsn first = 0;
  quipu::Lsn last = 0;
  std::string last_payload;
};

// Reads the whole log, checking that LSNs are dense.
ReadOutcome ReadAll(const std::string& dir) {
  ReadOutcome out;
  auto reader = quipu::OpenLogReader(dir, 1, FuzzEnv());
  if (!reader.ok()) {
    out.status = reader.status();
    return out;
  }
  for (;;) {
    quipu::Result<bool> more = (*reader)->Next();
    if (!more.ok()) {
      out.status = more.status();
      return out;
    }
    if (!*more) return out;
    const quipu::Lsn lsn = (*reader)->lsn();
    if (out.records > 0 && lsn != out.last + 1) {
      Fail("reader went from LSN " + std::to_string(out.last) + " to " + std::to_string(lsn));
    }
    if (out.records == 0) out.first = lsn;
    out.last = lsn;
    out.last_payload = std::string((*reader)->payload());
    ++out.records;
  }
}

// Whatever the bytes, a log that CheckLog accepts must read back in full.
void CheckReadOnly(const std::string& dir) {
  (void)quipu::InspectLog(dir, FuzzEnv());
  quipu::Result<quipu::LogSummary> checked = quipu::CheckLog(dir, FuzzEnv());
  ReadOutcome read = ReadAll(dir);
  if (!checked.ok()) return;
  if (!read.status.ok()) Fail("CheckLog passed but the reader failed: " + read.status.ToString());
  if (read.records != checked->records || (read.records > 0 && read.last != checked->last_lsn)) {
    Fail("CheckLog counts " + std::to_string(checked->records) + " records up to LSN " +
         std::to_string(checked->last_lsn) + ", the reader " + std::to_string(read.records) +
         " up to " + std::to_string(read.last));
  }
}

// Opens (recovering), appends one record and closes; then the log must be whole.
void CheckOpen(const std::string& dir, quipu::RecoveryMode mode) {
  quipu::LogOptions options;
  options.env = FuzzEnv();
  options.recovery = mode;
  options.create_if_missing = false;
  options.durability = quipu::DurabilityPolicy::OsManaged();  // no fsync per append
  auto log = quipu::OpenLogEngine(dir, options);
  if (!log.ok()) return;
  const quipu::Lsn before = (*log)->LastLsn();
  quipu::Result<quipu::Lsn> lsn = (*log)->Append("fuzz");
  if (!lsn.ok()) Fail("append after recovery failed: " + lsn.status().ToString());
  if (*lsn != before + 1) {
    Fail("append after recovery got LSN " + std::to_string(*lsn) + " after " +
         std::to_string(before));
  }
  quipu::Status closed = (*log)->Close();
  if (!closed.ok()) Fail("close after recovery failed: " + closed.ToString());
  log->reset();

  quipu::Result<quipu::LogSummary> checked = quipu::CheckLog(dir, FuzzEnv());
  if (!checked.ok()) Fail("CheckLog after recovery: " + checked.status().ToString());
  ReadOutcome read = ReadAll(dir);
  if (!read.status.ok()) Fail("reader after recovery: " + read.status.ToString());
  if (read.last != *lsn || read.last_payload != "fuzz" || read.records != checked->records) {
    Fail("after recovery and one append (LSN " + std::to_string(*lsn) + ") the reader saw " +
         std::to_string(read.records) + " records up to LSN " + std::to_string(read.last) +
         ", CheckLog " + std::to_string(checked->records));
  }
}

// One scratch directory per process, on tmpfs when there is one: Open syncs.
// Never destroyed, so the atexit clean-up can still read it.
const std::string& ScratchLogDir() {
  static const std::string* dir = [] {
    const char* root = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : P_tmpdir;
    std::string templ = std::string(root) + "/quipu-fuzz-XXXXXX";
    if (mkdtemp(templ.data()) == nullptr) Fail("mkdtemp " + templ);
    std::string base = templ;
    atexit([] {
      std::error_code ec;
      fs::remove_all(fs::path(ScratchLogDir()).parent_path(), ec);
    });
    return new std::string(base + "/log");
  }();
  return *dir;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string& dir = ScratchLogDir();
  const std::vector<SegmentFile> files = Decode(data, size);
  WriteLog(dir, files);
  CheckReadOnly(dir);
  CheckOpen(dir, quipu::RecoveryMode::kTolerateTornTail);
  WriteLog(dir, files);
  CheckOpen(dir, quipu::RecoveryMode::kSalvage);
  return 0;
}
