// integrity/spine.cc — encoding and reading the SPINE file.
#include "integrity/spine.h"

#include <optional>
#include <string>

#include "quipu/tree.h"
#include "util/coding.h"
#include "util/crc32c.h"

namespace quipu::spine {
namespace {

constexpr size_t kSlotCrcOffset = kSlotSize - 4;

// The slot's header, or nothing if it is not a valid slot (torn, never
// written, damaged). A newer version is an error: its layout may differ.
Result<std::optional<Header>> DecodeSlot(std::string_view slot, const std::string& file) {
  if (slot.substr(0, kMagic.size()) != kMagic) return std::optional<Header>();
  const uint32_t version = DecodeFixed32(slot.data() + 8);
  if (version > kVersion) {
    return Status::NotSupported(file + ": spine format version " + std::to_string(version) +
                                " is newer than this quipu understands (" +
                                std::to_string(kVersion) + ")");
  }
  const uint32_t stored = crc32c::Unmask(DecodeFixed32(slot.data() + kSlotCrcOffset));
  if (crc32c::Value(slot.data(), kSlotCrcOffset) != stored) return std::optional<Header>();
  Header h;
  h.sequence = DecodeFixed64(slot.data() + 16);
  h.synced_leaves = DecodeFixed64(slot.data() + 24);
  return std::optional<Header>(h);
}

}  // namespace

std::string EncodeSlot(const Header& header) {
  std::string s(kMagic);
  PutFixed32(&s, kVersion);
  PutFixed32(&s, 0);  // flags
  PutFixed64(&s, header.sequence);
  PutFixed64(&s, header.synced_leaves);
  s.resize(kSlotCrcOffset, '\0');  // reserved
  PutFixed32(&s, crc32c::Mask(crc32c::Value(s)));
  return s;
}

Status LowerClaim(Env* env, const std::string& dir, uint64_t leaves) {
  const std::string path = SpinePath(dir);
  auto exists = env->FileExists(path);
  if (!exists.ok() || !*exists) return exists.status();
  auto reader = env->NewRandomAccessFile(path);
  if (!reader.ok()) return reader.status();
  std::string bytes;
  QUIPU_RETURN_IF_ERROR((*reader)->Read(0, kHeaderSize, &bytes));
  auto current = DecodeHeader(bytes, path);
  if (!current.ok()) return current.status();
  if (current->synced_leaves <= leaves) return Status::OK();
  const Header next{current->sequence + 1, leaves};
  auto file = env->ReopenWritableFile(path);
  if (!file.ok()) return file.status();
  Status s = (*file)->WriteAt((next.sequence % 2) * kSlotSize, EncodeSlot(next));
  if (s.ok()) s = (*file)->Sync();
  Status c = (*file)->Close();
  return s.ok() ? c : s;
}

Result<Header> DecodeHeader(std::string_view bytes, const std::string& file) {
  if (bytes.size() < kHeaderSize) {
    return Status::Corruption(file + ": spine header is incomplete (" +
                              std::to_string(bytes.size()) + " of " + std::to_string(kHeaderSize) +
                              " bytes)");
  }
  std::optional<Header> best;
  for (uint64_t i = 0; i < 2; ++i) {
    auto slot = DecodeSlot(bytes.substr(i * kSlotSize, kSlotSize), file);
    if (!slot.ok()) return slot.status();
    if (slot->has_value() && (!best || (*slot)->sequence > best->sequence)) best = **slot;
  }
  if (!best) return Status::Corruption(file + ": neither spine header slot is valid");
  return *best;
}

uint64_t NodeOffset(int level, uint64_t index) {
  return kHeaderSize + kNodeSize * merkle::PostorderIndex(level, index);
}

uint64_t FileSizeFor(uint64_t leaves) {
  return kHeaderSize + kNodeSize * merkle::PerfectSubtreeCount(leaves);
}

// PerfectSubtreeCount grows with the leaf count (by at least one per leaf),
// so the answer is found by bisection over [0, nodes].
uint64_t LeavesWithin(uint64_t file_size) {
  if (file_size < kHeaderSize) return 0;
  const uint64_t nodes = (file_size - kHeaderSize) / kNodeSize;
  uint64_t lo = 0, hi = nodes;  // FileSizeFor(lo) fits; the answer is ≤ hi
  while (lo < hi) {
    const uint64_t mid = lo + (hi - lo + 1) / 2;
    if (merkle::PerfectSubtreeCount(mid) <= nodes) {
      lo = mid;
    } else {
      hi = mid - 1;
    }
  }
  return lo;
}

std::string SpinePath(const std::string& dir) { return dir + "/" + std::string(kSpineFileName); }

Status CreateSpine(Env* env, const std::string& dir) {
  const std::string tmp = SpinePath(dir) + ".tmp";
  auto exists = env->FileExists(tmp);
  if (!exists.ok()) return exists.status();
  if (*exists) QUIPU_RETURN_IF_ERROR(env->RemoveFile(tmp));  // left by a crash
  auto file = env->NewWritableFile(tmp);
  if (!file.ok()) return file.status();
  // Both slots valid from the start. The header of sequence k always goes to
  // slot k % 2, so the next write never overwrites the current header.
  Status s = (*file)->Append(EncodeSlot({0, 0}) + EncodeSlot({1, 0}));
  if (s.ok()) s = (*file)->Sync();
  Status closed = (*file)->Close();
  if (s.ok()) s = closed;
  if (s.ok()) s = env->RenameFile(tmp, SpinePath(dir));
  if (s.ok()) s = env->SyncDir(dir);
  return s;
}

Result<Snapshot> ReadSnapshot(const RandomAccessFile& file, const std::string& name) {
  std::string bytes;
  QUIPU_RETURN_IF_ERROR(file.Read(0, kHeaderSize, &bytes));
  auto header = DecodeHeader(bytes, name);
  if (!header.ok()) return header.status();
  auto size = file.Size();
  if (!size.ok()) return size.status();
  return Snapshot{*header, LeavesWithin(*size)};
}

Result<merkle::Hash> FileSource::SubtreeHash(int level, uint64_t index) const {
  std::string bytes;
  const uint64_t offset = NodeOffset(level, index);
  QUIPU_RETURN_IF_ERROR(file_->Read(offset, kNodeSize, &bytes));
  if (bytes.size() != kNodeSize) {
    return Status::Corruption(std::string(kSpineFileName) + ": node (level " +
                              std::to_string(level) + ", index " + std::to_string(index) +
                              ") at offset " + std::to_string(offset) + " is past the end");
  }
  return merkle::Hash::FromBytes(bytes);
}

}  // namespace quipu::spine
